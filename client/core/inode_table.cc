#include "client/core/inode_table.h"

#include <algorithm>
#include <cerrno>

#include "common/errno_status.h"

namespace rbfs {
namespace {

constexpr uint64_t kRootIno = 1;

}  // namespace

InodeTable::InodeTable() {
  absl::MutexLock lock(&mu_);
  // The kernel never looks the root up, so it is pinned with one reference.
  entries_[kRootIno] = Entry{1, 1, 0, 0};
}

void InodeTable::Remember(const Attr& attr, uint64_t as_of) {
  absl::MutexLock lock(&mu_);
  auto [it, entered] = entries_.try_emplace(attr.id().ino());
  if (entered && observer_ != nullptr) {
    observer_->Entered(attr.id().ino(), as_of);
  }
  Entry& entry = it->second;
  entry.generation = attr.id().generation();
  entry.size = attr.size();
  ++entry.lookups;
}

void InodeTable::Refresh(const Attr& attr) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(attr.id().ino());
  if (it == entries_.end()) return;
  it->second.generation = attr.id().generation();
  it->second.size = attr.size();
}

void InodeTable::Forget(uint64_t ino, uint64_t nlookup) {
  if (ino == kRootIno) return;
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(ino);
  if (it == entries_.end()) return;
  it->second.lookups -= std::min(it->second.lookups, nlookup);
  EraseIfUnused(ino);
}

absl::StatusOr<InodeId> InodeTable::Id(uint64_t ino) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(ino);
  if (it == entries_.end()) return ErrnoError(ESTALE);
  InodeId id;
  id.set_ino(ino);
  id.set_generation(it->second.generation);
  return id;
}

void InodeTable::Opened(uint64_t ino) {
  absl::MutexLock lock(&mu_);
  auto [it, entered] = entries_.try_emplace(ino);
  if (entered && observer_ != nullptr) observer_->Entered(ino, 0);
  ++it->second.opens;
}

void InodeTable::Released(uint64_t ino) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(ino);
  if (it == entries_.end() || it->second.opens == 0) return;
  --it->second.opens;
  EraseIfUnused(ino);
}

void InodeTable::RaiseSize(uint64_t ino, uint64_t end) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(ino);
  if (it == entries_.end()) return;
  it->second.size = std::max(it->second.size, end);
  it->second.written = true;
}

bool InodeTable::TakeWritten(uint64_t ino) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(ino);
  if (it == entries_.end() || !it->second.written) return false;
  it->second.written = false;
  return true;
}

void InodeTable::Synced(uint64_t ino) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(ino);
  if (it != entries_.end()) it->second.written = false;
}

std::optional<uint64_t> InodeTable::Size(uint64_t ino) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(ino);
  if (it == entries_.end()) return std::nullopt;
  return it->second.size;
}

size_t InodeTable::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

std::vector<uint64_t> InodeTable::Inodes() const {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> inodes;
  inodes.reserve(entries_.size());
  for (const auto& [ino, entry] : entries_) inodes.push_back(ino);
  return inodes;
}

void InodeTable::EraseIfUnused(uint64_t ino) {
  auto it = entries_.find(ino);
  if (it != entries_.end() && it->second.lookups == 0 &&
      it->second.opens == 0) {
    entries_.erase(it);
    if (observer_ != nullptr) observer_->Left(ino);
  }
}

}  // namespace rbfs
