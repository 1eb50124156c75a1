// Filesystem's advisory locks: FileLocks arbitrates, the Filesystem checks
// the file and the grace period.
#include <cerrno>

#include "common/errno_status.h"
#include "server/fs/filesystem.h"

namespace rbfs {

absl::StatusOr<std::optional<HeldLock>> Filesystem::Lock(InodeRef id,
                                                         const LockArgs& args,
                                                         bool test,
                                                         bool reclaim) {
  if (args.start > args.end) return ErrnoError(EINVAL, "lock range ends first");
  absl::StatusOr<meta::InodeRecord> r = Load(id);
  if (!r.ok()) return r.status();
  if (test) return file_locks_.Test(id.ino, args);
  if (!reclaim && args.type != LockType::kUnlock &&
      clock_->Now() < grace_end_) {
    return ErrnoError(EAGAIN, "locks of the previous run may be reclaimed");
  }
  if (absl::Status s = file_locks_.Set(id.ino, args); !s.ok()) return s;
  return std::nullopt;
}

}  // namespace rbfs
