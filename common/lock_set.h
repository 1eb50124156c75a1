// LockSet: the advisory locks of one file, POSIX byte-range (fcntl) or
// whole-file (flock), held by owners, as Linux arbitrates them.
//
// Owners are opaque 128-bit names (the server uses a mount's session and
// the kernel's lock owner). Locks of one owner never conflict with each
// other: a new lock replaces whatever the owner held over its range (a
// write lock over part of a read lock splits it), and the owner's adjacent
// or overlapping locks of one type merge, so an unlock of any part works.
// Locks of different owners conflict when they overlap and one of them is
// a write lock. A flock is a lock over the whole range. The server keeps
// one LockSet per file and kind; the mount keeps the same for what it
// holds, to re-assert it after a server restart. Not thread-safe.
#ifndef RBFS_COMMON_LOCK_SET_H_
#define RBFS_COMMON_LOCK_SET_H_

#include <cstdint>
#include <optional>
#include <vector>

namespace rbfs {

struct LockOwner {
  uint64_t session = 0;
  uint64_t owner = 0;
  bool operator==(const LockOwner& other) const {
    return session == other.session && owner == other.owner;
  }
  bool operator!=(const LockOwner& other) const { return !(*this == other); }
};

enum class LockType { kRead, kWrite, kUnlock };

// Bytes [start, end], end inclusive; kLockToEnd covers any file's end.
inline constexpr uint64_t kLockToEnd = UINT64_MAX;

struct HeldLock {
  LockOwner owner;
  LockType type = LockType::kRead;
  uint64_t start = 0;
  uint64_t end = kLockToEnd;
  // The locking process, as F_GETLK reports it to others.
  uint32_t pid = 0;
};

// The wire's lock types are fcntl's (F_RDLCK, F_WRLCK, F_UNLCK); none for
// another number.
std::optional<LockType> LockTypeOfFcntl(uint32_t type);
uint32_t FcntlTypeOf(LockType type);

class LockSet {
 public:
  // The first lock of another owner that `type` over [start, end] would
  // conflict with; none for kUnlock.
  std::optional<HeldLock> Conflict(const LockOwner& owner, LockType type,
                                   uint64_t start, uint64_t end) const;

  // Sets `owner`'s lock over [start, end] to `type` (kUnlock removes it),
  // regardless of conflicts: callers check Conflict() first.
  void Apply(const LockOwner& owner, LockType type, uint64_t start,
             uint64_t end, uint32_t pid);

  // Removes every lock `drop` accepts; returns whether any went.
  template <typename Predicate>
  bool RemoveIf(Predicate drop) {
    const size_t before = locks_.size();
    std::vector<HeldLock> kept;
    for (HeldLock& lock : locks_) {
      if (!drop(lock)) kept.push_back(lock);
    }
    locks_.swap(kept);
    return locks_.size() != before;
  }

  bool empty() const { return locks_.empty(); }
  // Every lock, ordered by start.
  const std::vector<HeldLock>& locks() const { return locks_; }

 private:
  // Sorted by start; one owner's locks never overlap.
  std::vector<HeldLock> locks_;
};

}  // namespace rbfs

#endif  // RBFS_COMMON_LOCK_SET_H_
