#include "server/auth/access_policy.h"

#include <fcntl.h>

#include <cerrno>

#include "absl/status/status.h"
#include "common/log.h"

namespace rbfs {

absl::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kLookup:
      return "Lookup";
    case Operation::kGetAttr:
      return "GetAttr";
    case Operation::kSetAttr:
      return "SetAttr";
    case Operation::kMkNod:
      return "MkNod";
    case Operation::kMkDir:
      return "MkDir";
    case Operation::kUnlink:
      return "Unlink";
    case Operation::kRmDir:
      return "RmDir";
    case Operation::kRename:
      return "Rename";
    case Operation::kLink:
      return "Link";
    case Operation::kSymlink:
      return "Symlink";
    case Operation::kReadLink:
      return "ReadLink";
    case Operation::kReadDir:
      return "ReadDir";
    case Operation::kStatFs:
      return "StatFs";
    case Operation::kFsync:
      return "Fsync";
    case Operation::kOpen:
      return "Open";
    case Operation::kRelease:
      return "Release";
    case Operation::kRead:
      return "Read";
    case Operation::kWrite:
      return "Write";
    case Operation::kGetXattr:
      return "GetXattr";
    case Operation::kListXattr:
      return "ListXattr";
    case Operation::kSetXattr:
      return "SetXattr";
    case Operation::kRemoveXattr:
      return "RemoveXattr";
    case Operation::kLock:
      return "Lock";
    case Operation::kFallocate:
      return "Fallocate";
    case Operation::kSeek:
      return "Seek";
    case Operation::kCopyRange:
      return "CopyRange";
    case Operation::kKeepAlive:
      return "KeepAlive";
    case Operation::kStatus:
      return "Status";
    case Operation::kWatch:
      return "Watch";
    case Operation::kExchange:
      return "Exchange";
  }
  return "unknown";
}

bool AccessPolicy::Changes(const AccessRequest& request) {
  switch (request.op) {
    case Operation::kSetAttr:
    case Operation::kMkNod:
    case Operation::kMkDir:
    case Operation::kUnlink:
    case Operation::kRmDir:
    case Operation::kRename:
    case Operation::kLink:
    case Operation::kSymlink:
    case Operation::kWrite:
    case Operation::kSetXattr:
    case Operation::kRemoveXattr:
    case Operation::kFallocate:
    case Operation::kCopyRange:
      return true;
    case Operation::kOpen:
      return (request.open_flags & O_ACCMODE) != O_RDONLY ||
             (request.open_flags & O_TRUNC) != 0;
    // Fsync makes durable what was already written; Release and KeepAlive
    // change only the server's record of open handles and sessions, Status
    // reads it; Lock
    // only its record of locks (a read-only export still arbitrates
    // readers' locks, as a read-only NFS export does); Watch
    // only listens; an Exchange stream's requests are each decided on
    // their own.
    case Operation::kLookup:
    case Operation::kGetAttr:
    case Operation::kReadLink:
    case Operation::kReadDir:
    case Operation::kStatFs:
    case Operation::kFsync:
    case Operation::kRelease:
    case Operation::kRead:
    case Operation::kGetXattr:
    case Operation::kListXattr:
    case Operation::kLock:
    case Operation::kSeek:
    case Operation::kKeepAlive:
    case Operation::kStatus:
    case Operation::kWatch:
    case Operation::kExchange:
      return false;
  }
  return true;
}

AccessDecision AccessPolicy::Decide(const CallCredentials& credentials,
                                    const AccessRequest& request) const {
  if (options_.authenticator != nullptr) {
    absl::Status admitted =
        options_.authenticator->Check(credentials.Authorization());
    if (!admitted.ok()) {
      LogRefusal(request.op, credentials, admitted.message());
      return AccessDecision::RefuseCaller(std::string(admitted.message()));
    }
  }
  if (options_.read_only && Changes(request)) {
    return AccessDecision::AnswerErrno(EROFS);
  }
  if (options_.squash_root &&
      (request.new_uid == 0u || request.new_gid == 0u)) {
    return AccessDecision::AnswerErrno(EPERM);
  }
  return AccessDecision::Run(OwnerOf(request.caller));
}

PosixIds AccessPolicy::OwnerOf(PosixIds caller) const {
  PosixIds owner = caller;
  if (options_.squash_root) {
    if (owner.uid == 0) owner.uid = options_.squash_root->uid;
    if (owner.gid == 0) owner.gid = options_.squash_root->gid;
  }
  return owner;
}

void AccessPolicy::LogRefusal(Operation op, const CallCredentials& credentials,
                              absl::string_view reason) const {
  const std::optional<uint64_t> unlogged = refusal_log_.Admit();
  if (!unlogged) return;
  LogWarning("refused %s from %s: %s (%d more refused calls not logged)",
             OperationName(op), credentials.Peer(), reason, *unlogged);
}

}  // namespace rbfs
