#include "server/store/block_allocator.h"

#include <cerrno>

#include "common/errno_status.h"

namespace rbfs {

BlockAllocator::BlockAllocator(uint64_t block_count)
    : block_count_(block_count),
      used_((block_count + 63) / 64, 0),
      free_count_(block_count - 1) {
  used_[0] |= 1;  // the header block
}

bool BlockAllocator::MarkUsed(uint64_t block) {
  absl::MutexLock lock(&mu_);
  if (block == 0 || block >= block_count_) return false;
  uint64_t bit = uint64_t{1} << (block % 64);
  if (used_[block / 64] & bit) return false;
  used_[block / 64] |= bit;
  --free_count_;
  return true;
}

void BlockAllocator::StartSearchAt(uint64_t block) {
  absl::MutexLock lock(&mu_);
  cursor_ = block > 0 && block < block_count_ ? block : 1;
}

absl::StatusOr<std::vector<uint64_t>> BlockAllocator::Allocate(uint64_t count) {
  absl::MutexLock lock(&mu_);
  if (count > free_count_) return ErrnoError(ENOSPC, "volume is full");
  std::vector<uint64_t> blocks;
  blocks.reserve(count);
  const uint64_t words = used_.size();
  uint64_t word = cursor_ / 64;
  while (blocks.size() < count) {
    uint64_t bits = used_[word];
    while (bits != ~uint64_t{0} && blocks.size() < count) {
      int bit = __builtin_ctzll(~bits);
      uint64_t block = word * 64 + bit;
      if (block >= block_count_) break;  // tail bits of the last word
      bits |= uint64_t{1} << bit;
      blocks.push_back(block);
    }
    used_[word] = bits;
    if (blocks.size() < count) word = (word + 1) % words;
  }
  free_count_ -= count;
  cursor_ = blocks.back() + 1 < block_count_ ? blocks.back() + 1 : 1;
  return blocks;
}

void BlockAllocator::Free(const std::vector<uint64_t>& blocks) {
  absl::MutexLock lock(&mu_);
  quarantine_.insert(quarantine_.end(), blocks.begin(), blocks.end());
}

void BlockAllocator::BeginCommit() {
  absl::MutexLock lock(&mu_);
  committing_.insert(committing_.end(), quarantine_.begin(), quarantine_.end());
  quarantine_.clear();
}

void BlockAllocator::ReleaseFreed() {
  absl::MutexLock lock(&mu_);
  for (uint64_t block : committing_) {
    used_[block / 64] &= ~(uint64_t{1} << (block % 64));
  }
  free_count_ += committing_.size();
  committing_.clear();
}

uint64_t BlockAllocator::free_blocks() const {
  absl::MutexLock lock(&mu_);
  return free_count_;
}

uint64_t BlockAllocator::reclaimable_blocks() const {
  absl::MutexLock lock(&mu_);
  return free_count_ + quarantine_.size() + committing_.size();
}

bool BlockAllocator::has_quarantined() const {
  absl::MutexLock lock(&mu_);
  return !quarantine_.empty() || !committing_.empty();
}

}  // namespace rbfs
