#include "client/core/cache_coherence.h"

#include <cstring>
#include <utility>

#include "common/log.h"

namespace rbfs {

CacheCoherence::CacheCoherence(const Options& options, InodeTable* inodes,
                               AttrCache* attrs)
    : options_(options),
      inodes_(inodes),
      attrs_(attrs),
      known_dirs_(options.max_known_dir_names) {
  inodes_->SetObserver(this);
}

void CacheCoherence::Connect(KernelNotifier* kernel, WatchStream* stream) {
  kernel_ = kernel;
  stream_ = stream;
}

bool CacheCoherence::Note(uint64_t parent, absl::string_view name,
                          uint64_t ino) {
  absl::MutexLock lock(&mu_);
  if (!synced_) return false;
  Names& names = names_[parent];
  auto it = names.find(name);
  if (it != names.end()) {
    it->second = ino;
    return true;
  }
  if (name_count_ >= options_.max_names) return false;
  names.emplace(name, ino);
  ++name_count_;
  return true;
}

std::optional<uint64_t> CacheCoherence::Child(uint64_t parent,
                                              absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto dir = names_.find(parent);
  if (dir == names_.end()) return std::nullopt;
  auto it = dir->second.find(name);
  if (it == dir->second.end()) return std::nullopt;
  return it->second;
}

void CacheCoherence::Removed(uint64_t parent, absl::string_view name) {
  absl::MutexLock lock(&mu_);
  auto dir = names_.find(parent);
  if (dir != names_.end() && dir->second.erase(name) > 0) --name_count_;
}

void CacheCoherence::Renamed(uint64_t parent, absl::string_view name,
                             uint64_t new_parent, absl::string_view new_name,
                             bool exchange) {
  absl::MutexLock lock(&mu_);
  auto take =
      [this](uint64_t dir, absl::string_view n)
          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> std::optional<uint64_t> {
    auto d = names_.find(dir);
    if (d == names_.end()) return std::nullopt;
    auto it = d->second.find(n);
    if (it == d->second.end()) return std::nullopt;
    const uint64_t ino = it->second;
    d->second.erase(it);
    --name_count_;
    return ino;
  };
  std::optional<uint64_t> moved = take(parent, name);
  std::optional<uint64_t> replaced = take(new_parent, new_name);
  // Only what is known is put back: an unknown name stays unknown.
  if (moved) {
    names_[new_parent].emplace(new_name, *moved);
    ++name_count_;
  }
  if (exchange && replaced) {
    names_[parent].emplace(name, *replaced);
    ++name_count_;
  }
}

CacheTimeouts CacheCoherence::ForEntry(uint64_t parent, absl::string_view name,
                                       uint64_t ino) {
  if (!Note(parent, name, ino)) {
    return {options_.fallback_timeout, options_.fallback_timeout};
  }
  return {options_.entry_timeout, options_.attr_timeout};
}

CacheTimeouts CacheCoherence::ForNegativeEntry(uint64_t parent,
                                               absl::string_view name) {
  if (!Note(parent, name, 0)) {
    return {options_.fallback_timeout, options_.fallback_timeout};
  }
  return {options_.negative_timeout, options_.attr_timeout};
}

absl::Duration CacheCoherence::AttrTimeout() const {
  return synced() ? options_.attr_timeout : options_.fallback_timeout;
}

bool CacheCoherence::KeepPages() const { return synced(); }

bool CacheCoherence::synced() const {
  absl::MutexLock lock(&mu_);
  return synced_;
}

void CacheCoherence::DirCreated(uint64_t dir) {
  absl::MutexLock lock(&mu_);
  if (synced_) known_dirs_.Created(dir);
}

void CacheCoherence::Entered(uint64_t ino, uint64_t as_of) {
  if (stream_ != nullptr) stream_->Hold(ino, as_of);
}

void CacheCoherence::Left(uint64_t ino) {
  if (stream_ != nullptr) stream_->Drop(ino);
  TakeNames(ino);
  known_dirs_.Forget(ino);
  attrs_->Forget(ino);
}

std::vector<std::string> CacheCoherence::TakeNames(uint64_t dir) {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> taken;
  auto it = names_.find(dir);
  if (it == names_.end()) return taken;
  taken.reserve(it->second.size());
  for (auto& [name, ino] : it->second) taken.push_back(name);
  name_count_ -= taken.size();
  names_.erase(it);
  return taken;
}

std::vector<uint64_t> CacheCoherence::HeldInodes() { return inodes_->Inodes(); }

void CacheCoherence::OnSynced() {
  InvalidateAll();
  absl::MutexLock lock(&mu_);
  synced_ = true;
}

void CacheCoherence::OnCommitError(int err) {
  if (commit_error_.exchange(err) == 0) {
    LogError(
        "the server's commits fail (%s): writes it answered may not be "
        "durable; reported at the next close of each file written since",
        strerror(err));
  }
}

void CacheCoherence::OnLost() {
  {
    absl::MutexLock lock(&mu_);
    synced_ = false;
  }
  InvalidateAll();
}

void CacheCoherence::InvalidateAll() {
  absl::flat_hash_map<uint64_t, Names> names;
  {
    absl::MutexLock lock(&mu_);
    names.swap(names_);
    name_count_ = 0;
    known_dirs_.Clear();
  }
  attrs_->Clear();
  if (kernel_ == nullptr) return;
  for (uint64_t ino : inodes_->Inodes()) kernel_->InvalidateInode(ino, true);
  for (const auto& [dir, dir_names] : names) {
    for (const auto& [name, ino] : dir_names) {
      kernel_->InvalidateEntry(dir, name);
    }
  }
}

void CacheCoherence::OnInvalidations(const WatchReply& reply) {
  for (const Invalidation& change : reply.invalidations()) {
    const uint64_t ino = change.ino();
    attrs_->Erase(ino);
    if (change.kind() == Invalidation::ENTRY ||
        change.kind() == Invalidation::ALL) {
      known_dirs_.Forget(ino);
    }
    switch (change.kind()) {
      case Invalidation::ENTRY: {
        {
          absl::MutexLock lock(&mu_);
          auto it = names_.find(ino);
          if (it != names_.end() && it->second.erase(change.name()) > 0) {
            --name_count_;
          }
        }
        if (kernel_ != nullptr) {
          kernel_->InvalidateEntry(ino, change.name());
          // The kernel drops the directory's attributes with a name it
          // caches, but not when it caches no such name; its cached
          // listing (cache_readdir) lives in the directory's pages.
          kernel_->InvalidateInode(ino, true);
        }
        break;
      }
      case Invalidation::ATTR:
        if (kernel_ != nullptr) kernel_->InvalidateInode(ino, false);
        break;
      case Invalidation::DATA:
        if (kernel_ != nullptr) kernel_->InvalidateInode(ino, true);
        break;
      default: {
        std::vector<std::string> names = TakeNames(ino);
        if (kernel_ == nullptr) break;
        kernel_->InvalidateInode(ino, true);
        for (const std::string& name : names) {
          kernel_->InvalidateEntry(ino, name);
        }
        break;
      }
    }
  }
}

}  // namespace rbfs
