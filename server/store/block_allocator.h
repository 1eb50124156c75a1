// BlockAllocator: which data blocks of the volume are free.
//
// The block maps in the MetaStore are the only durable record of ownership;
// the allocator is rebuilt from them at start (MarkUsed), so it can never
// disagree with them after a crash. A freed block is quarantined until the
// metadata change that freed it is durable (Release after a commit), so a
// crash can never hand a block that a still-live file owns to another file.
// Thread-safe.
#ifndef RBFS_SERVER_STORE_BLOCK_ALLOCATOR_H_
#define RBFS_SERVER_STORE_BLOCK_ALLOCATOR_H_

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace rbfs {

class BlockAllocator {
 public:
  // Manages blocks [1, block_count); block 0 is the volume header.
  explicit BlockAllocator(uint64_t block_count);

  // Records an owned block while loading; false if it was already owned
  // or is out of range (the caller reports the inconsistency).
  bool MarkUsed(uint64_t block);

  // Makes the next search for free blocks start at `block`, rounded down
  // to its group of 64 (from 1 if out of range). The server starts at the
  // high-water mark, so that a restarted server fills never-used blocks, which
  // need no sync, before it reuses.
  void StartSearchAt(uint64_t block);

  // All `count` blocks or none: ENOSPC leaves nothing allocated.
  absl::StatusOr<std::vector<uint64_t>> Allocate(uint64_t count);

  // Puts blocks in quarantine; they become allocatable at ReleaseFreed().
  void Free(const std::vector<uint64_t>& blocks);

  // Starts a commit: quarantined blocks freed so far will be released by the
  // matching ReleaseFreed() once the commit is durable.
  void BeginCommit();
  void ReleaseFreed();

  uint64_t data_blocks() const { return block_count_ - 1; }
  uint64_t free_blocks() const;
  // Free plus quarantined: what statfs reports as available soon.
  uint64_t reclaimable_blocks() const;
  bool has_quarantined() const;

 private:
  const uint64_t block_count_;
  mutable absl::Mutex mu_;
  // One bit per block; set = owned or quarantined.
  std::vector<uint64_t> used_ ABSL_GUARDED_BY(mu_);
  uint64_t free_count_ ABSL_GUARDED_BY(mu_);
  // Where the next search for a free block starts (next-fit keeps files
  // written sequentially mostly contiguous).
  uint64_t cursor_ ABSL_GUARDED_BY(mu_) = 1;
  // Freed since the last BeginCommit, and freed before it but not yet durable.
  std::vector<uint64_t> quarantine_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> committing_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_BLOCK_ALLOCATOR_H_
