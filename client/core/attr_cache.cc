#include "client/core/attr_cache.h"

#include <tuple>

namespace rbfs {
namespace {

bool Older(const Timespec& a, const Timespec& b) {
  return std::make_tuple(a.sec(), a.nsec()) <
         std::make_tuple(b.sec(), b.nsec());
}

}  // namespace

uint64_t AttrCache::Ticket() const {
  absl::MutexLock lock(&mu_);
  return erasures_;
}

void AttrCache::Put(const Attr& attr, absl::Time now, uint64_t ticket) {
  if (ttl_ <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  if (ticket < cleared_) return;
  if (kept_.size() > kMaxEntries) {
    kept_.clear();
    cleared_ = ++erasures_;
    return;
  }
  const uint64_t without_xattrs =
      attr.has_xattrs() ? 0 : attr.id().generation();
  auto [it, inserted] =
      kept_.try_emplace(attr.id().ino(), Kept{attr, now, 0, without_xattrs});
  if (inserted) return;
  Kept& kept = it->second;
  if (!kept.attr.has_value()) {
    if (ticket < kept.erased) return;
  } else if (kept.attr->id().generation() == attr.id().generation() &&
             Older(attr.ctime(), kept.attr->ctime())) {
    // Same generation (else the inode was replaced) and an older change.
    return;
  }
  kept = Kept{attr, now, 0, without_xattrs};
}

std::optional<Attr> AttrCache::Take(uint64_t ino, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (kept_.size() > kSweepAbove) {
    absl::erase_if(kept_, [&](const auto& entry) {
      return now - entry.second.arrived > ttl_;
    });
  }
  auto it = kept_.find(ino);
  if (it == kept_.end() || !it->second.attr.has_value()) return std::nullopt;
  Kept kept = std::move(it->second);
  kept_.erase(it);
  if (now - kept.arrived > ttl_) return std::nullopt;
  return std::move(kept.attr);
}

std::optional<Attr> AttrCache::Get(uint64_t ino) const {
  absl::MutexLock lock(&mu_);
  auto it = kept_.find(ino);
  if (it == kept_.end()) return std::nullopt;
  return it->second.attr;
}

void AttrCache::TombstoneLocked(Kept& kept) {
  kept.attr.reset();
  kept.erased = ++erasures_;
}

void AttrCache::Erase(uint64_t ino) {
  absl::MutexLock lock(&mu_);
  Kept& kept = kept_[ino];
  TombstoneLocked(kept);
  kept.without_xattrs = 0;
}

void AttrCache::EraseWritten(uint64_t ino) {
  absl::MutexLock lock(&mu_);
  TombstoneLocked(kept_[ino]);
}

bool AttrCache::KnownWithoutXattrs(uint64_t ino, uint64_t generation) const {
  absl::MutexLock lock(&mu_);
  auto it = kept_.find(ino);
  return it != kept_.end() && generation != 0 &&
         it->second.without_xattrs == generation;
}

void AttrCache::Forget(uint64_t ino) {
  absl::MutexLock lock(&mu_);
  kept_.erase(ino);
}

void AttrCache::EraseIfAtimeMoves(uint64_t ino) {
  absl::MutexLock lock(&mu_);
  auto it = kept_.find(ino);
  if (it == kept_.end() || !it->second.attr.has_value()) return;
  const Attr& attr = *it->second.attr;
  if (Older(attr.mtime(), attr.atime()) && Older(attr.ctime(), attr.atime())) {
    return;
  }
  TombstoneLocked(it->second);
}

void AttrCache::Clear() {
  absl::MutexLock lock(&mu_);
  kept_.clear();
  cleared_ = ++erasures_;
}

size_t AttrCache::size() const {
  absl::MutexLock lock(&mu_);
  return kept_.size();
}

}  // namespace rbfs
