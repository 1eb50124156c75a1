#include "server/fs/high_water_mark.h"

#include <algorithm>

namespace rbfs {

HighWaterMark::HighWaterMark(MetaStore* meta,
                             const meta::Superblock& superblock, bool shared)
    : meta_(meta),
      superblock_(superblock),
      shared_(shared),
      mark_(superblock.high_water() == 0 ? superblock.block_count()
                                         : superblock.high_water()),
      maybe_used_below_(mark_.load()) {}

absl::StatusOr<bool> HighWaterMark::PrepareForData(
    const std::vector<uint64_t>& blocks) {
  if (blocks.empty()) return false;
  if (shared_) return true;
  bool reused = false;
  uint64_t top = 0;
  uint64_t used_below = maybe_used_below_.load();
  for (uint64_t b : blocks) {
    reused |= b < used_below;
    top = std::max(top, b);
  }
  while (top >= used_below &&
         !maybe_used_below_.compare_exchange_weak(used_below, top + 1)) {
  }
  if (absl::Status s = Cover(top); !s.ok()) return s;
  return reused;
}

absl::Status HighWaterMark::Cover(uint64_t block) {
  if (block < mark_.load()) return absl::OkStatus();
  absl::MutexLock lock(&raise_mu_);
  const uint64_t mark = mark_.load();
  if (block < mark) return absl::OkStatus();
  const uint64_t count = superblock_.block_count();
  const uint64_t step = std::max<uint64_t>(count / 64, 1024);
  meta::Superblock sb = superblock_;
  sb.set_high_water(std::min(count, std::max(block + 1, mark + step)));
  std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
  batch->PutSuperblock(sb);
  if (absl::Status s = meta_->Commit(batch.get()); !s.ok()) return s;
  // Durable before the data: a power cut must not leave data above a mark
  // that says there is none.
  if (absl::Status s = meta_->Sync(); !s.ok()) return s;
  mark_.store(sb.high_water());
  return absl::OkStatus();
}

}  // namespace rbfs
