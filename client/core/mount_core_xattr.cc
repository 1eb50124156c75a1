// MountCore's extended attributes: the four calls, numbered where a repeat
// would answer differently (a set with XATTR_CREATE, a remove), and the
// local answer for inodes known to have none.
#include <cerrno>
#include <string>

#include "client/core/mount_core.h"
#include "common/errno_status.h"
#include "common/xattr_name.h"

namespace rbfs {

bool MountCore::KnownWithoutXattrs(uint64_t ino, const InodeId& id) {
  const bool none =
      coherence_.synced() && attrs_.KnownWithoutXattrs(ino, id.generation());
  (none ? answers_.xattr_hits : answers_.xattr_misses).Add();
  return none;
}

absl::StatusOr<std::string> MountCore::GetXattr(uint64_t ino,
                                                absl::string_view name) {
  if (absl::Status s = ValidateXattrName(name); !s.ok()) return s;
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  if (!id.ok()) return id.status();
  if (KnownWithoutXattrs(ino, *id)) return ErrnoError(ENODATA);
  GetXattrRequest request;
  *request.mutable_id() = *std::move(id);
  request.set_name(std::string(name));
  XattrReply reply;
  absl::Status status = rpc_->Call(&Rbfs::StubInterface::GetXattr, request,
                                   &reply, Idempotency::kIdempotent);
  if (!status.ok()) return status;
  return std::move(*reply.mutable_value());
}

absl::StatusOr<std::string> MountCore::ListXattr(uint64_t ino) {
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  if (!id.ok()) return id.status();
  if (KnownWithoutXattrs(ino, *id)) return std::string();
  ListXattrRequest request;
  *request.mutable_id() = *std::move(id);
  XattrReply reply;
  absl::Status status = rpc_->Call(&Rbfs::StubInterface::ListXattr, request,
                                   &reply, Idempotency::kIdempotent);
  if (!status.ok()) return status;
  return std::move(*reply.mutable_value());
}

template <typename Request>
absl::Status MountCore::ChangeXattr(
    grpc::Status (Rbfs::StubInterface::*method)(grpc::ClientContext*,
                                                const Request&, AttrReply*),
    uint64_t ino, Request& request) {
  session_->BeginCall(request.mutable_call());
  absl::StatusOr<Attr> after = AttrChangingCall(method, ino, request);
  session_->EndCall(request.call());
  return after.status();
}

absl::Status MountCore::SetXattr(uint64_t ino, absl::string_view name,
                                 absl::string_view value, uint32_t flags) {
  if (absl::Status s = ValidateXattrName(name); !s.ok()) return s;
  SetXattrRequest request;
  request.set_name(std::string(name));
  request.set_value(std::string(value));
  request.set_flags(flags);
  return ChangeXattr(&Rbfs::StubInterface::SetXattr, ino, request);
}

absl::Status MountCore::RemoveXattr(uint64_t ino, absl::string_view name) {
  if (absl::Status s = ValidateXattrName(name); !s.ok()) return s;
  RemoveXattrRequest request;
  request.set_name(std::string(name));
  return ChangeXattr(&Rbfs::StubInterface::RemoveXattr, ino, request);
}

}  // namespace rbfs
