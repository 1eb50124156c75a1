// MountCore's advisory locks: one Lock call per request, the session's
// record of what was granted (for unlock at close and reclaim after a
// server restart), and F_SETLKW's wait.
#include <fcntl.h>

#include <algorithm>
#include <cerrno>

#include "absl/time/clock.h"
#include "client/core/mount_core.h"
#include "common/errno_status.h"
#include "common/log.h"

namespace rbfs {

absl::StatusOr<LockReply> MountCore::LockCall(const InodeId& id,
                                              const LockSpec& spec, bool test) {
  LockRequest request;
  *request.mutable_id() = id;
  request.set_session(session_->id());
  request.set_owner(spec.owner);
  request.set_flock(spec.flock);
  request.set_type(spec.type);
  request.set_start(spec.flock ? 0 : spec.start);
  request.set_end(spec.flock ? kLockToEnd : spec.end);
  request.set_pid(spec.pid);
  request.set_test(test);
  LockReply reply;
  // Setting a lock to what it is is harmless, so a repeat after a lost
  // reply is too.
  absl::Status status = rpc_->Call(&Rbfs::StubInterface::Lock, request, &reply,
                                   Idempotency::kIdempotent);
  if (!status.ok()) return status;
  if (!test) session_->LockGranted(request);
  return reply;
}

absl::StatusOr<LockReply> MountCore::TestLock(uint64_t ino,
                                              const LockSpec& spec) {
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  if (!id.ok()) return id.status();
  return LockCall(*id, spec, /*test=*/true);
}

absl::Status MountCore::SetLock(uint64_t ino, const LockSpec& spec, bool wait,
                                absl::FunctionRef<bool()> interrupted) {
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  if (!id.ok()) return id.status();
  absl::Duration backoff = kLockRetryFirst;
  for (;;) {
    absl::StatusOr<LockReply> reply = LockCall(*id, spec, /*test=*/false);
    if (!wait || reply.ok() || StatusToErrno(reply.status()) != EAGAIN) {
      return reply.status();
    }
    // The holder may be on another mount: nothing here learns when it
    // lets go, so the wait asks again (as NFSv4 clients do).
    if (interrupted()) return ErrnoError(EINTR, "lock wait interrupted");
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, kLockRetryMax);
  }
}

void MountCore::UnlockAll(uint64_t ino, bool flock, uint64_t owner) {
  if (!session_->HoldsLocks(ino, flock, owner)) return;
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  if (!id.ok()) return;
  LockSpec spec;
  spec.flock = flock;
  spec.owner = owner;
  spec.type = F_UNLCK;
  spec.start = 0;
  spec.end = kLockToEnd;
  absl::StatusOr<LockReply> reply = LockCall(*id, spec, /*test=*/false);
  if (!reply.ok()) {
    // The server lets go of them when this mount's session ends.
    LogWarning("unlock at close of inode %d: %s", ino,
               reply.status().ToString());
  }
}

}  // namespace rbfs
