// Wire conversion: rbfs.proto messages <-> the Filesystem's types.
//
// Stateless functions, one per direction and shape: inode and call names
// from the wire, attributes and listings onto it, and a Filesystem result
// into a reply's `err` field. Replies carry failures as the exact errno
// (errno_status.h); a function that answers a reply returns grpc OK, since
// gRPC status codes are reserved for transport trouble and refused callers.
// Times are nanoseconds inside and Timespec on the wire; wire times past
// what int64 nanoseconds hold saturate, as a client may send any seconds.
#ifndef RBFS_SERVER_RPC_WIRE_CONVERSION_H_
#define RBFS_SERVER_RPC_WIRE_CONVERSION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/errno_status.h"
#include "grpcpp/grpcpp.h"
#include "protos/rbfs.pb.h"
#include "server/fs/filesystem.h"

namespace rbfs {

inline InodeRef RefOf(const InodeId& id) {
  return InodeRef{id.ino(), id.generation()};
}

inline CallRef CallOf(const CallId& call) {
  return CallRef{call.session(), call.seq()};
}

// `t` in nanoseconds since the epoch, saturating (about years 1678 to 2262).
int64_t ToNs(const Timespec& t);
// Nanoseconds as a Timespec whose nsec is always in [0, 1e9).
void SetTime(Timespec* t, int64_t ns);

// `e` as wire attributes; `blocks` counts 512-byte units of `block_size`
// blocks.
void FillAttr(const Entry& e, uint32_t block_size, Attr* attr);

// The Filesystem's arguments for `req`, its times converted by ToNs.
SetAttrArgs SetAttrArgsOf(const SetAttrRequest& req);

// `listing` into `reply`; attributes only when `with_attrs` (the items'
// records are moved out).
void FillReadDir(DirListing listing, bool with_attrs, uint32_t block_size,
                 ReadDirReply* reply);

// ListXattr's names, each ended by a NUL, as listxattr(2) gives them.
void FillXattrNames(const std::vector<std::string>& names, XattrReply* reply);

// A lock request's arguments; EINVAL for an unknown type.
absl::StatusOr<LockArgs> LockArgsOf(const LockRequest& req);
// F_GETLK's answer: the conflicting lock, or type F_UNLCK when none.
void FillConflict(const std::optional<HeldLock>& held, LockReply* reply);

void FillStatFs(const FsStats& stats, StatFsReply* reply);

void FillKeepAlive(const KeepAliveResult& result, KeepAliveReply* reply);

// A failed call's errno into `reply->err`, or the entry's attributes.
template <typename Reply>
grpc::Status Answer(const absl::StatusOr<Entry>& e, uint32_t block_size,
                    Reply* reply) {
  if (!e.ok()) {
    reply->set_err(StatusToErrno(e.status()));
  } else {
    FillAttr(*e, block_size, reply->mutable_attr());
  }
  return grpc::Status::OK;
}

// `s`'s errno (0 for OK) into `reply->err`.
template <typename Reply>
grpc::Status Answer(const absl::Status& s, Reply* reply) {
  reply->set_err(StatusToErrno(s));
  return grpc::Status::OK;
}

}  // namespace rbfs

#endif  // RBFS_SERVER_RPC_WIRE_CONVERSION_H_
