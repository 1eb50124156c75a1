// HighWaterMark: the volume's durable high-water mark (Superblock.high_water
// in meta.proto) and the bound below which blocks may hold old data.
//
// No block at or above the durable mark holds file data, so those read as
// zeros and need no sync before the metadata that maps them. Before data
// goes into a block at or above the mark, the mark is raised and synced
// (in steps of 1/64 of the volume, at least 1024 blocks, so this is rare).
// Separately, blocks below `maybe_used_below` may still hold a deleted
// file's bytes: data written into them must be durable before the map that
// exposes them. That bound starts at the mark and grows to one past the
// highest block allocated since. Thread-safe: the mark is raised under a
// mutex and read without it.
//
// Shared (several servers serve the volume, shared_volume.h) the mark is
// left as it is: each server raising it from its own view could lower
// another's, so every block counts as one that may hold old data.
#ifndef RBFS_SERVER_FS_HIGH_WATER_MARK_H_
#define RBFS_SERVER_FS_HIGH_WATER_MARK_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/store/meta.pb.h"
#include "server/store/meta_store.h"

namespace rbfs {

class HighWaterMark {
 public:
  // `superblock` is the durable one at start; a mark of 0 (a store older
  // than the mark) counts as the whole volume.
  HighWaterMark(MetaStore* meta, const meta::Superblock& superblock,
                bool shared);

  HighWaterMark(const HighWaterMark&) = delete;
  HighWaterMark& operator=(const HighWaterMark&) = delete;

  // Prepares freshly allocated `blocks` for their first data: makes the
  // durable mark cover them. Returns whether any of them may hold old data,
  // in which case the caller syncs the data before mapping the blocks.
  absl::StatusOr<bool> PrepareForData(const std::vector<uint64_t>& blocks);

  // The durable mark: no block at or above it holds data.
  uint64_t mark() const { return mark_.load(); }

 private:
  // Raises the durable mark above `block` unless it is already.
  absl::Status Cover(uint64_t block);

  MetaStore* const meta_;
  const meta::Superblock superblock_;
  const bool shared_;
  std::atomic<uint64_t> mark_;
  absl::Mutex raise_mu_;  // serialises raising mark_
  std::atomic<uint64_t> maybe_used_below_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_FS_HIGH_WATER_MARK_H_
