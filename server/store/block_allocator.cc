#include "server/store/block_allocator.h"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "common/errno_status.h"

namespace rbfs {

uint64_t BlockAllocator::GroupBlocks(uint64_t block_count) {
  const uint64_t blocks = std::max<uint64_t>(4096, (block_count + 1023) / 1024);
  return (blocks + 63) / 64 * 64;
}

BlockAllocator::BlockAllocator(uint64_t block_count, bool shared)
    : block_count_(block_count),
      shared_(shared),
      group_words_(GroupBlocks(block_count) / 64),
      allowed_(shared ? (block_count + GroupBlocks(block_count) - 1) /
                            GroupBlocks(block_count)
                      : 0,
               false),
      used_((block_count + 63) / 64, 0),
      free_count_(block_count - 1) {
  used_[0] |= 1;  // the header block
}

bool BlockAllocator::MarkFree(uint64_t block) {
  absl::MutexLock lock(&mu_);
  if (block == 0 || block >= block_count_) return false;
  uint64_t bit = uint64_t{1} << (block % 64);
  if (!(used_[block / 64] & bit)) return false;
  used_[block / 64] &= ~bit;
  ++free_count_;
  return true;
}

void BlockAllocator::Unallocate(const std::vector<uint64_t>& blocks) {
  absl::MutexLock lock(&mu_);
  for (uint64_t block : blocks) {
    used_[block / 64] &= ~(uint64_t{1} << (block % 64));
  }
  free_count_ += blocks.size();
}

void BlockAllocator::AllowGroup(uint64_t group) {
  absl::MutexLock lock(&mu_);
  if (group < allowed_.size()) allowed_[group] = true;
}

std::vector<uint64_t> BlockAllocator::GroupsToClaim() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<uint64_t, uint64_t>> by_free;  // (used, group)
  for (uint64_t group = 0; group < allowed_.size(); ++group) {
    if (allowed_[group]) continue;
    const uint64_t first = group * group_words_;
    const uint64_t end = std::min<uint64_t>(first + group_words_, used_.size());
    uint64_t used = 0;
    for (uint64_t word = first; word < end; ++word) {
      used += __builtin_popcountll(used_[word]);
    }
    // The tail of the last group past the volume counts as used.
    used += (first + group_words_) * 64 -
            std::min<uint64_t>((first + group_words_) * 64, block_count_);
    if (used < group_words_ * 64) by_free.emplace_back(used, group);
  }
  std::sort(by_free.begin(), by_free.end());
  std::vector<uint64_t> groups;
  groups.reserve(by_free.size());
  for (const auto& [used, group] : by_free) groups.push_back(group);
  return groups;
}

bool BlockAllocator::WordAllowedLocked(uint64_t word) const {
  return !shared_ || allowed_[word / group_words_];
}

uint64_t BlockAllocator::AllowedFreeLocked() const {
  if (!shared_) return free_count_;
  uint64_t free = 0;
  for (uint64_t word = 0; word < used_.size(); ++word) {
    if (!WordAllowedLocked(word)) continue;
    uint64_t bits = used_[word];
    if (word == used_.size() - 1 && block_count_ % 64 != 0) {
      bits |= ~uint64_t{0} << (block_count_ % 64);  // past the volume
    }
    free += 64 - __builtin_popcountll(bits);
  }
  return free;
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
  if (shared_ && count > AllowedFreeLocked()) {
    return ErrnoError(ENOSPC, "this server's allocation groups are full");
  }
  std::vector<uint64_t> blocks;
  blocks.reserve(count);
  const uint64_t words = used_.size();
  uint64_t word = cursor_ / 64;
  while (blocks.size() < count) {
    if (!WordAllowedLocked(word)) {
      word = (word + 1) % words;
      continue;
    }
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
  if (shared_) return;
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
