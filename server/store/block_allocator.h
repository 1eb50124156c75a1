// BlockAllocator: which data blocks of the volume are free.
//
// The block maps in the MetaStore are the only durable record of ownership;
// the allocator is rebuilt from them at start (MarkUsed), so it can never
// disagree with them after a crash. A freed block is quarantined until the
// metadata change that freed it is durable (Release after a commit), so a
// crash can never hand a block that a still-live file owns to another file.
//
// Shared (a volume served by several servers, shared_volume.h): the volume
// is split into allocation groups and Allocate hands out blocks only from
// the groups this server holds (AllowGroup). Every server's bitmap follows
// the whole volume's block maps through the store's change feed (MarkUsed,
// MarkFree), its own changes included, so Free does nothing: a freed block
// becomes free when the feed reports its unmapping, which is after the
// commit (durable in etcd at its answer). Blocks allocated but never mapped
// go back at once (Unallocate).
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
  // The size of an allocation group of a volume of `block_count` blocks:
  // at least 4096 blocks and at most 1/1024 of the volume, rounded up to
  // whole bitmap words, so a server claims a group rarely and a volume has
  // enough groups to share.
  static uint64_t GroupBlocks(uint64_t block_count);

  // Manages blocks [1, block_count); block 0 is the volume header.
  explicit BlockAllocator(uint64_t block_count, bool shared = false);

  // Records an owned block while loading (or, shared, a block the feed
  // says is mapped); false if it was already owned or is out of range (the
  // caller reports the inconsistency).
  bool MarkUsed(uint64_t block);
  // Shared: a block the feed says is no longer mapped; false if it was free
  // already or is out of range.
  bool MarkFree(uint64_t block);
  // Blocks Allocate handed out that no commit mapped: free again at once.
  void Unallocate(const std::vector<uint64_t>& blocks);

  // Shared: lets Allocate hand out the blocks of `group` (held by this
  // server now).
  void AllowGroup(uint64_t group);
  // Shared: the groups not allowed yet, the freest first (those to claim).
  std::vector<uint64_t> GroupsToClaim() const;
  bool shared() const { return shared_; }

  // Makes the next search for free blocks start at `block`, rounded down
  // to its group of 64 (from 1 if out of range). The server starts at the
  // high-water mark, so that a restarted server fills never-used blocks, which
  // need no sync, before it reuses.
  void StartSearchAt(uint64_t block);

  // All `count` blocks or none: ENOSPC leaves nothing allocated (shared:
  // when the allowed groups hold fewer free blocks).
  absl::StatusOr<std::vector<uint64_t>> Allocate(uint64_t count);

  // Puts mapped blocks whose unmapping was just committed in quarantine;
  // they become allocatable at ReleaseFreed(). Shared: nothing (above).
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
  // Free blocks in the allowed groups (all groups unless shared).
  uint64_t AllowedFreeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WordAllowedLocked(uint64_t word) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t block_count_;
  const bool shared_;
  // Bitmap words per allocation group.
  const uint64_t group_words_;
  mutable absl::Mutex mu_;
  // Shared: one flag per group, whether this server may allocate in it.
  std::vector<bool> allowed_ ABSL_GUARDED_BY(mu_);
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
