// RbfsService: the gRPC face of a Filesystem.
//
// Translates wire messages to Filesystem calls and back; every failure is
// answered in the reply's `err` field with the exact errno, so gRPC status
// codes stay reserved for transport trouble and for refusing a caller
// (UNAUTHENTICATED). Access rules (token, read-only export, root squash) are
// applied here, before the Filesystem sees a request. The message
// conversions live in wire_conversion.h; gRPC runs Read through the
// zero-copy reply of read_reply.h.
#ifndef RBFS_SERVER_RPC_RBFS_SERVICE_H_
#define RBFS_SERVER_RPC_RBFS_SERVICE_H_

#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/wire_limits.h"
#include "protos/rbfs.grpc.pb.h"
#include "server/auth/token_authenticator.h"
#include "server/fs/filesystem.h"

namespace rbfs {

struct AccessOptions {
  // When set, every call must carry its token; not owned.
  const TokenAuthenticator* authenticator = nullptr;
  // Every call that would change the volume is answered EROFS.
  bool read_only = false;
  // When set, uid 0 and gid 0 of callers become these ids for new objects,
  // and nobody may hand an object to uid or gid 0 (NFS's root_squash).
  std::optional<Owner> squash_root;
};

class RbfsService final : public Rbfs::Service {
 public:
  static constexpr int kMaxMessageBytes = rbfs::kMaxMessageBytes;

  // Registers read_reply.h's ReadForWire, around Read, as the handler gRPC
  // runs for Read.
  explicit RbfsService(Filesystem* fs, AccessOptions access = {});

  grpc::Status Lookup(grpc::ServerContext*, const LookupRequest* req,
                      EntryReply* reply) override;
  grpc::Status GetAttr(grpc::ServerContext*, const GetAttrRequest* req,
                       AttrReply* reply) override;
  grpc::Status SetAttr(grpc::ServerContext*, const SetAttrRequest* req,
                       AttrReply* reply) override;
  grpc::Status MkNod(grpc::ServerContext*, const MkNodRequest* req,
                     EntryReply* reply) override;
  grpc::Status MkDir(grpc::ServerContext*, const MkDirRequest* req,
                     EntryReply* reply) override;
  grpc::Status Unlink(grpc::ServerContext*, const UnlinkRequest* req,
                      ErrReply* reply) override;
  grpc::Status RmDir(grpc::ServerContext*, const RmDirRequest* req,
                     ErrReply* reply) override;
  grpc::Status Rename(grpc::ServerContext*, const RenameRequest* req,
                      ErrReply* reply) override;
  grpc::Status Link(grpc::ServerContext*, const LinkRequest* req,
                    EntryReply* reply) override;
  grpc::Status Symlink(grpc::ServerContext*, const SymlinkRequest* req,
                       EntryReply* reply) override;
  grpc::Status ReadLink(grpc::ServerContext*, const ReadLinkRequest* req,
                        ReadLinkReply* reply) override;
  grpc::Status ReadDir(grpc::ServerContext*, const ReadDirRequest* req,
                       ReadDirReply* reply) override;
  grpc::Status StatFs(grpc::ServerContext*, const StatFsRequest* req,
                      StatFsReply* reply) override;
  grpc::Status Fsync(grpc::ServerContext*, const FsyncRequest* req,
                     ErrReply* reply) override;
  grpc::Status Open(grpc::ServerContext*, const OpenRequest* req,
                    AttrReply* reply) override;
  grpc::Status Release(grpc::ServerContext*, const ReleaseRequest* req,
                       ErrReply* reply) override;
  // Called directly by in-process users; gRPC calls it through ReadForWire.
  grpc::Status Read(grpc::ServerContext*, const ReadRequest* req,
                    ReadReply* reply) override;
  grpc::Status Write(grpc::ServerContext*, const WriteRequest* req,
                     WriteReply* reply) override;
  grpc::Status KeepAlive(grpc::ServerContext*, const KeepAliveRequest* req,
                         KeepAliveReply* reply) override;

 private:
  enum class Effect { kReads, kWrites };

  // Whether the caller may run `method`: nullopt when it may; otherwise the
  // answer to give (UNAUTHENTICATED, or OK with `reply->err()` = EROFS).
  template <typename Reply>
  std::optional<grpc::Status> Refuse(grpc::ServerContext* ctx,
                                     const char* method, Effect effect,
                                     Reply* reply);
  // Logs a refused caller, at most once a second, counting the rest.
  void LogRefusal(const char* method, const std::string& peer,
                  absl::string_view reason);
  Owner OwnerOf(const Caller& caller) const;

  Filesystem* const fs_;
  const AccessOptions access_;

  absl::Mutex refusal_mu_;
  absl::Time last_refusal_log_ ABSL_GUARDED_BY(refusal_mu_) =
      absl::InfinitePast();
  uint64_t unlogged_refusals_ ABSL_GUARDED_BY(refusal_mu_) = 0;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_RPC_RBFS_SERVICE_H_
