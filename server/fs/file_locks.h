// FileLocks: the advisory locks every mount holds on the server's files,
// POSIX byte-range (fcntl) and flock, each kind a LockSet per file (the two
// never conflict, as on Linux).
//
// Owners are (session, the kernel's lock owner on that mount), so locks of
// different mounts conflict and the same process's locks on one mount do
// not. Locks live in memory: a session whose lease runs out loses them
// (DropSession), and a restart loses all of them; during the grace period
// after a start only reclaims of locks held before it are granted (see
// Filesystem::Lock). Thread-safe: mu_ guards the sets.
#ifndef RBFS_SERVER_FS_FILE_LOCKS_H_
#define RBFS_SERVER_FS_FILE_LOCKS_H_

#include <cstdint>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/lock_set.h"

namespace rbfs {

enum class LockKind { kPosix, kFlock };

struct LockArgs {
  LockKind kind = LockKind::kPosix;
  LockOwner owner;
  LockType type = LockType::kRead;
  uint64_t start = 0;
  uint64_t end = kLockToEnd;
  uint32_t pid = 0;
};

class FileLocks {
 public:
  FileLocks() = default;
  FileLocks(const FileLocks&) = delete;
  FileLocks& operator=(const FileLocks&) = delete;

  // F_GETLK: the first lock of another owner `args` would conflict with.
  std::optional<HeldLock> Test(uint64_t ino, const LockArgs& args) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // F_SETLK: takes, changes or drops the lock; EAGAIN (nothing changed)
  // while a conflicting lock is held.
  absl::Status Set(uint64_t ino, const LockArgs& args) ABSL_LOCKS_EXCLUDED(mu_);
  // Drops every lock on `ino` (the file is gone).
  void DropFile(uint64_t ino) ABSL_LOCKS_EXCLUDED(mu_);
  // Drops every lock of `session`; returns how many files it held some on.
  size_t DropSession(uint64_t session) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using Key = std::pair<uint64_t, LockKind>;

  mutable absl::Mutex mu_;
  // Files with locks; an emptied set is erased.
  absl::flat_hash_map<Key, LockSet> sets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rbfs

#endif  // RBFS_SERVER_FS_FILE_LOCKS_H_
