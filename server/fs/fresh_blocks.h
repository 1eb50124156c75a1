// FreshBlocks: blocks a write or an fallocate allocated and has not mapped
// yet; freed when it goes out of scope unless Mapped() says a committed
// batch now owns them. Internal to the Filesystem's files.
#ifndef RBFS_SERVER_FS_FRESH_BLOCKS_H_
#define RBFS_SERVER_FS_FRESH_BLOCKS_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "server/store/block_allocator.h"

namespace rbfs {

class FreshBlocks {
 public:
  explicit FreshBlocks(BlockAllocator* allocator) : allocator_(allocator) {}
  FreshBlocks(const FreshBlocks&) = delete;
  FreshBlocks& operator=(const FreshBlocks&) = delete;
  ~FreshBlocks() {
    if (blocks_.empty()) return;
    // Shared, a block only becomes free through the feed or here (see
    // block_allocator.h); otherwise through the quarantine, as always.
    if (allocator_->shared()) {
      allocator_->Unallocate(blocks_);
    } else {
      allocator_->Free(blocks_);
    }
  }

  void Adopt(std::vector<uint64_t> blocks) { blocks_ = std::move(blocks); }
  void Mapped() { blocks_.clear(); }
  const std::vector<uint64_t>& blocks() const { return blocks_; }

 private:
  BlockAllocator* const allocator_;
  std::vector<uint64_t> blocks_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_FS_FRESH_BLOCKS_H_
