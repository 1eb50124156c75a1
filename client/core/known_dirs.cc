#include "client/core/known_dirs.h"

namespace rbfs {

void KnownDirs::Created(uint64_t dir) {
  absl::MutexLock lock(&mu_);
  dirs_[dir].clear();
}

void KnownDirs::Added(uint64_t dir, absl::string_view name) {
  absl::MutexLock lock(&mu_);
  auto it = dirs_.find(dir);
  if (it == dirs_.end()) return;
  if (it->second.size() >= max_names_) {
    dirs_.erase(it);
    return;
  }
  it->second.emplace(name);
}

void KnownDirs::Removed(uint64_t dir, absl::string_view name) {
  absl::MutexLock lock(&mu_);
  auto it = dirs_.find(dir);
  if (it != dirs_.end()) it->second.erase(name);
}

bool KnownDirs::Absent(uint64_t dir, absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto it = dirs_.find(dir);
  return it != dirs_.end() && !it->second.contains(name);
}

void KnownDirs::Forget(uint64_t dir) {
  absl::MutexLock lock(&mu_);
  dirs_.erase(dir);
}

void KnownDirs::Clear() {
  absl::MutexLock lock(&mu_);
  dirs_.clear();
}

size_t KnownDirs::size() const {
  absl::MutexLock lock(&mu_);
  return dirs_.size();
}

}  // namespace rbfs
