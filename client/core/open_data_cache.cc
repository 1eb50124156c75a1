#include "client/core/open_data_cache.h"

#include <utility>

namespace rbfs {
namespace {

bool SameTime(const Timespec& a, const Timespec& b) {
  return a.sec() == b.sec() && a.nsec() == b.nsec();
}

}  // namespace

bool SameVersion(const Attr& a, const Attr& b) {
  return a.id().ino() == b.id().ino() &&
         a.id().generation() == b.id().generation() && a.size() == b.size() &&
         SameTime(a.mtime(), b.mtime()) && SameTime(a.ctime(), b.ctime());
}

bool OpenDataCache::Wanted(uint64_t ino,
                           const std::optional<Attr>& known) const {
  absl::MutexLock lock(&mu_);
  if (bytes_ >= max_bytes_) return false;
  if (!known.has_value()) return true;
  auto it = read_whole_.find(ino);
  return it == read_whole_.end() || !SameVersion(it->second, *known);
}

void OpenDataCache::Keep(uint64_t handle, const Attr& attr, std::string data) {
  auto contents = std::make_shared<Contents>();
  contents->attr = attr;
  contents->data = std::move(data);
  absl::MutexLock lock(&mu_);
  auto it = by_handle_.find(handle);
  const size_t replaced = it == by_handle_.end() ? 0 : it->second->data.size();
  if (bytes_ - replaced + contents->data.size() > max_bytes_) return;
  bytes_ = bytes_ - replaced + contents->data.size();
  by_handle_[handle] = std::move(contents);
}

std::shared_ptr<const OpenDataCache::Contents> OpenDataCache::Find(
    uint64_t handle) const {
  absl::MutexLock lock(&mu_);
  auto it = by_handle_.find(handle);
  return it == by_handle_.end() ? nullptr : it->second;
}

void OpenDataCache::Drop(uint64_t handle) {
  absl::MutexLock lock(&mu_);
  auto it = by_handle_.find(handle);
  if (it == by_handle_.end()) return;
  bytes_ -= it->second->data.size();
  by_handle_.erase(it);
}

void OpenDataCache::ReadWhole(uint64_t ino, const Attr& attr) {
  absl::MutexLock lock(&mu_);
  if (read_whole_.size() >= kMaxReadWhole && !read_whole_.contains(ino)) {
    read_whole_.clear();
  }
  read_whole_[ino] = attr;
}

void OpenDataCache::Forget(uint64_t ino) {
  absl::MutexLock lock(&mu_);
  read_whole_.erase(ino);
}

size_t OpenDataCache::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace rbfs
