// FaultBlockDevice: a BlockDevice for tests that misbehaves on command.
//
// It wraps the real volume and consults a VolumeFaults switchboard that the
// test keeps (it outlives the filesystem that owns the device):
// - errors: chosen reads, writes or syncs fail with a chosen errno, to prove
//   that failures reach the caller and leave the metadata intact;
// - power cut: every block written since the last successful Sync has its
//   content at that sync remembered; Die() stops all further I/O from
//   reaching the volume, and PowerCut() puts the remembered content back
//   into the volume file (except for a random share of blocks, which the
//   OS might have written back on its own), the state a real power cut
//   leaves behind.
#ifndef RBFS_SERVER_TESTING_FAULT_BLOCK_DEVICE_H_
#define RBFS_SERVER_TESTING_FAULT_BLOCK_DEVICE_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/store/block_device.h"

namespace rbfs {

class VolumeFaults {
 public:
  // From now on, reads / writes / syncs fail with `err` (0: they work).
  // `from_block` limits read and write faults to blocks at or above it.
  void FailReads(int err, uint64_t from_block = 0);
  void FailWrites(int err, uint64_t from_block = 0);
  void FailSyncs(int err);

  // The power goes off: no write or sync reaches the volume from now on.
  void Die();
  // After the device is destroyed: restores, in the volume file at
  // `volume_path`, the last synced content of every block written since,
  // keeping each block's new content instead with probability `keep`.
  // Returns the number of blocks restored.
  absl::StatusOr<uint64_t> PowerCut(const std::string& volume_path,
                                    std::mt19937_64* rng, double keep);

  uint64_t writes() const;
  uint64_t syncs() const;

 private:
  friend class FaultBlockDevice;

  mutable absl::Mutex mu_;
  int read_err_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t read_from_ ABSL_GUARDED_BY(mu_) = 0;
  int write_err_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t write_from_ ABSL_GUARDED_BY(mu_) = 0;
  int sync_err_ ABSL_GUARDED_BY(mu_) = 0;
  bool dead_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t writes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t syncs_ ABSL_GUARDED_BY(mu_) = 0;
  // Block -> its content at the last sync, for blocks written since.
  absl::flat_hash_map<uint64_t, std::string> unsynced_ ABSL_GUARDED_BY(mu_);
};

class FaultBlockDevice : public BlockDevice {
 public:
  FaultBlockDevice(std::unique_ptr<BlockDevice> inner,
                   std::shared_ptr<VolumeFaults> faults)
      : inner_(std::move(inner)), faults_(std::move(faults)) {}

  uint32_t block_size() const override { return inner_->block_size(); }
  uint64_t block_count() const override { return inner_->block_count(); }
  absl::Status Read(uint64_t block, uint32_t offset, char* data,
                    uint32_t length) const override;
  // Writes are serialised (the pre-image of a block is taken under the
  // switchboard's lock); tests do not measure speed.
  absl::Status Write(uint64_t block, uint32_t offset,
                     absl::string_view data) const override;
  absl::Status Sync() const override;

 private:
  const std::unique_ptr<BlockDevice> inner_;
  const std::shared_ptr<VolumeFaults> faults_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_TESTING_FAULT_BLOCK_DEVICE_H_
