#include "client/core/dir_attr_cache.h"

#include <tuple>

namespace rbfs {
namespace {

bool Older(const Timespec& a, const Timespec& b) {
  return std::make_tuple(a.sec(), a.nsec()) <
         std::make_tuple(b.sec(), b.nsec());
}

}  // namespace

void DirAttrCache::Put(const Attr& attr, absl::Time now) {
  if (ttl_ <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  if (kept_.size() > kSweepAbove) {
    absl::erase_if(kept_, [&](const auto& entry) {
      return now - entry.second.arrived > ttl_;
    });
  }
  auto [it, inserted] = kept_.try_emplace(attr.id().ino(), Kept{attr, now});
  if (inserted) return;
  const Attr& old = it->second.attr;
  // Same inode number but another generation: the directory was replaced.
  if (old.id().generation() == attr.id().generation() &&
      Older(attr.ctime(), old.ctime())) {
    return;
  }
  it->second = Kept{attr, now};
}

std::optional<Attr> DirAttrCache::Take(uint64_t ino, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = kept_.find(ino);
  if (it == kept_.end()) return std::nullopt;
  Kept kept = std::move(it->second);
  kept_.erase(it);
  if (now - kept.arrived > ttl_) return std::nullopt;
  return std::move(kept.attr);
}

void DirAttrCache::Erase(uint64_t ino) {
  absl::MutexLock lock(&mu_);
  kept_.erase(ino);
}

size_t DirAttrCache::size() const {
  absl::MutexLock lock(&mu_);
  return kept_.size();
}

}  // namespace rbfs
