#include "common/lock_set.h"

#include <fcntl.h>

#include <algorithm>

namespace rbfs {
namespace {

bool Overlap(const HeldLock& lock, uint64_t start, uint64_t end) {
  return lock.start <= end && start <= lock.end;
}

}  // namespace

std::optional<LockType> LockTypeOfFcntl(uint32_t type) {
  switch (type) {
    case F_RDLCK:
      return LockType::kRead;
    case F_WRLCK:
      return LockType::kWrite;
    case F_UNLCK:
      return LockType::kUnlock;
    default:
      return std::nullopt;
  }
}

uint32_t FcntlTypeOf(LockType type) {
  switch (type) {
    case LockType::kRead:
      return F_RDLCK;
    case LockType::kWrite:
      return F_WRLCK;
    case LockType::kUnlock:
      break;
  }
  return F_UNLCK;
}

std::optional<HeldLock> LockSet::Conflict(const LockOwner& owner, LockType type,
                                          uint64_t start, uint64_t end) const {
  if (type == LockType::kUnlock) return std::nullopt;
  for (const HeldLock& lock : locks_) {
    if (lock.owner == owner || !Overlap(lock, start, end)) continue;
    if (type == LockType::kWrite || lock.type == LockType::kWrite) return lock;
  }
  return std::nullopt;
}

void LockSet::Apply(const LockOwner& owner, LockType type, uint64_t start,
                    uint64_t end, uint32_t pid) {
  std::vector<HeldLock> next;
  next.reserve(locks_.size() + 2);
  HeldLock added{owner, type, start, end, pid};
  for (const HeldLock& lock : locks_) {
    if (lock.owner != owner) {
      next.push_back(lock);
      continue;
    }
    // The owner's lock of the same type that overlaps or touches the new
    // range merges into it.
    const bool touches = (end == kLockToEnd || lock.start <= end + 1) &&
                         (lock.end == kLockToEnd || start <= lock.end + 1);
    if (type != LockType::kUnlock && lock.type == type && touches) {
      added.start = std::min(added.start, lock.start);
      added.end = std::max(added.end, lock.end);
      continue;
    }
    if (!Overlap(lock, start, end)) {
      next.push_back(lock);
      continue;
    }
    // What of the old lock lies outside the new range stays.
    if (lock.start < start) {
      HeldLock left = lock;
      left.end = start - 1;
      next.push_back(left);
    }
    if (lock.end > end) {
      HeldLock right = lock;
      right.start = end + 1;
      next.push_back(right);
    }
  }
  if (type != LockType::kUnlock) next.push_back(added);
  std::sort(next.begin(), next.end(), [](const HeldLock& a, const HeldLock& b) {
    return a.start < b.start;
  });
  locks_.swap(next);
}

}  // namespace rbfs
