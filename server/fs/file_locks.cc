#include "server/fs/file_locks.h"

#include <cerrno>

#include "common/errno_status.h"

namespace rbfs {

std::optional<HeldLock> FileLocks::Test(uint64_t ino,
                                        const LockArgs& args) const {
  absl::MutexLock lock(&mu_);
  auto it = sets_.find(Key{ino, args.kind});
  if (it == sets_.end()) return std::nullopt;
  return it->second.Conflict(args.owner, args.type, args.start, args.end);
}

absl::Status FileLocks::Set(uint64_t ino, const LockArgs& args) {
  absl::MutexLock lock(&mu_);
  const Key key{ino, args.kind};
  auto it = sets_.find(key);
  if (it == sets_.end()) {
    if (args.type == LockType::kUnlock) return absl::OkStatus();
    it = sets_.emplace(key, LockSet()).first;
  }
  if (it->second.Conflict(args.owner, args.type, args.start, args.end)) {
    return ErrnoError(EAGAIN, "a conflicting lock is held");
  }
  it->second.Apply(args.owner, args.type, args.start, args.end, args.pid);
  if (it->second.empty()) sets_.erase(it);
  return absl::OkStatus();
}

void FileLocks::DropFile(uint64_t ino) {
  absl::MutexLock lock(&mu_);
  sets_.erase(Key{ino, LockKind::kPosix});
  sets_.erase(Key{ino, LockKind::kFlock});
}

size_t FileLocks::DropSession(uint64_t session) {
  absl::MutexLock lock(&mu_);
  size_t files = 0;
  for (auto it = sets_.begin(); it != sets_.end();) {
    if (it->second.RemoveIf([session](const HeldLock& held) {
          return held.owner.session == session;
        })) {
      ++files;
    }
    if (it->second.empty()) {
      sets_.erase(it++);
    } else {
      ++it;
    }
  }
  return files;
}

}  // namespace rbfs
