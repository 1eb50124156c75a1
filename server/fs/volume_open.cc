// Filesystem's lifecycle: opening (or formatting) the volume and its
// metadata store, rebuilding the allocator and counters from the durable
// records, and the final commit at shutdown.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/log.h"
#include "server/fs/filesystem.h"

namespace rbfs {

Filesystem::Filesystem(std::unique_ptr<BlockDevice> blocks,
                       std::unique_ptr<MetaStore> meta,
                       std::unique_ptr<BlockAllocator> allocator,
                       std::shared_ptr<SharedVolume> shared,
                       meta::Superblock sb, uint64_t next_ino,
                       uint64_t inode_count, absl::Duration commit_interval,
                       absl::Duration lease, const Clock* clock,
                       absl::Time grace_end)
    : blocks_(std::move(blocks)),
      meta_(std::move(meta)),
      allocator_(std::move(allocator)),
      shared_(std::move(shared)),
      committer_(std::make_unique<Committer>(
          blocks_.get(), meta_.get(), allocator_.get(), commit_interval)),
      superblock_(std::move(sb)),
      high_water_(meta_.get(), superblock_, shared_ != nullptr),
      next_ino_(next_ino),
      reserved_end_(next_ino),
      inode_count_(inode_count),
      sessions_(lease),
      calls_(meta_.get()),
      clock_(clock),
      grace_end_(grace_end),
      sweeper_([this] { SweepLoop(); }) {}

Filesystem::~Filesystem() {
  {
    absl::MutexLock lock(&sweep_mu_);
    stopping_ = true;
  }
  sweeper_.join();
  committer_.reset();  // final commit before the stores close
  // The feed writes into the allocator.
  if (shared_ != nullptr) shared_->Stop();
}

absl::StatusOr<meta::Superblock> Filesystem::StartEpoch(
    MetaStore* meta, const BlockDevice& device, uint64_t volume_id, bool zeroed,
    bool shared, const std::string& volume_path, const std::string& meta_path,
    const Clock* clock) {
  constexpr int kAttempts = 10;
  for (int attempt = 0;; ++attempt) {
    MetaReadScope reads(meta);
    absl::StatusOr<meta::Superblock> sb = meta->GetSuperblock();
    std::unique_ptr<MetaBatch> batch = meta->NewBatch();
    if (absl::IsNotFound(sb.status())) {
      sb = meta::Superblock();
      sb->set_block_size(device.block_size());
      sb->set_block_count(device.block_count());
      sb->set_volume_id(volume_id);
      sb->set_epoch(1);
      sb->set_max_inodes(
          std::max<uint64_t>(device.block_count() * 4, uint64_t{1} << 20));
      // A volume whose old content stayed (a raw device) has no block that
      // is known to hold nothing.
      sb->set_high_water(zeroed ? 1 : device.block_count());
      meta::InodeRecord root;
      const int64_t now = absl::ToUnixNanos(clock->Now());
      root.set_generation(kRootGeneration);
      root.set_mode(S_IFDIR | 0755);
      root.set_nlink(2);
      root.set_atime_ns(now);
      root.set_mtime_ns(now);
      root.set_ctime_ns(now);
      root.set_parent(kRootIno);
      root.set_next_cookie(3);
      batch->PutInode(kRootIno, root);
    } else if (!sb.ok()) {
      return sb.status();
    } else if (sb->volume_id() != volume_id ||
               sb->block_size() != device.block_size()) {
      return ErrnoError(EINVAL, absl::StrCat("volume ", volume_path,
                                             " does not belong to the "
                                             "metadata store in ",
                                             meta_path));
    }
    // Shared, nobody raises the mark (high_water_mark.h): it says once
    // that any block may hold data, which stays true.
    if (shared) sb->set_high_water(sb->block_count());
    sb->set_epoch(sb->epoch() + 1);
    batch->PutSuperblock(*sb);
    absl::Status s = meta->Commit(batch.get());
    // Another server started (or raised the mark) meanwhile: read again.
    if (absl::IsAborted(s) && attempt + 1 < kAttempts) continue;
    if (!s.ok()) return s;
    if (s = meta->Sync(); !s.ok()) return s;
    return sb;
  }
}

absl::StatusOr<std::unique_ptr<Filesystem>> Filesystem::Open(
    const Options& options) {
  const Clock* const clock =
      options.clock != nullptr ? options.clock : Clock::Real();
  const Stores& stores = options.stores;
  if (stores.volume == nullptr || stores.meta == nullptr) {
    return ErrnoError(EINVAL, "no volume or metadata store to open");
  }
  const std::string meta_path = stores.meta->location();
  absl::StatusOr<bool> meta_exists = stores.meta->Exists();
  if (!meta_exists.ok()) return meta_exists.status();
  const bool fresh = !*meta_exists;
  const std::string volume_path = stores.volume->location();
  if (!fresh && !stores.volume->Exists()) {
    return ErrnoError(ENOENT, absl::StrCat("volume ", volume_path,
                                           " is missing but metadata exists "
                                           "in ",
                                           meta_path));
  }
  absl::StatusOr<OpenedVolume> volume =
      stores.volume->Open(/*may_format=*/fresh);
  if (!volume.ok()) return volume.status();
  if (fresh && !volume->formatted) {
    // Its data belongs to the metadata store that formatted it; adopting
    // the volume here would hand those blocks out a second time.
    return ErrnoError(
        EEXIST, absl::StrCat("volume ", volume_path,
                             " does not belong to the new "
                             "metadata store in ",
                             meta_path, "; it is already an rbfs volume"));
  }
  const uint64_t volume_id = volume->volume_id;
  const bool zeroed = volume->zeroed;
  std::unique_ptr<BlockDevice> device = std::move(volume->device);
  if (options.wrap_volume) device = options.wrap_volume(std::move(device));
  BlockDevice* block_device = device.get();
  absl::StatusOr<std::unique_ptr<MetaStore>> meta =
      stores.meta->Open([block_device] { return block_device->Sync(); });
  if (!meta.ok()) return meta.status();

  absl::StatusOr<meta::Superblock> sb =
      StartEpoch(meta->get(), *device, volume_id, zeroed,
                 options.shared != nullptr, volume_path, meta_path, clock);
  if (!sb.ok()) return sb.status();

  // Rebuild the allocator and counters from the durable records.
  const std::shared_ptr<SharedVolume>& shared = options.shared;
  auto allocator =
      std::make_unique<BlockAllocator>(sb->block_count(), shared != nullptr);
  uint64_t max_ino = kRootIno;
  uint64_t inodes = 0;
  absl::Status scan = (*meta)->ForEachInode([&](uint64_t ino) {
    max_ino = std::max(max_ino, ino);
    ++inodes;
    return true;
  });
  if (!scan.ok()) return scan;
  uint64_t bad_blocks = 0;
  uint64_t used_blocks = 0;
  if (shared != nullptr) {
    // The feed's snapshot, then its changes, keep the bitmap; a block
    // mapped twice is the checker's to find, as others may map meanwhile.
    BlockAllocator* const bitmap = allocator.get();
    scan = shared->Follow([bitmap](uint64_t block, bool mapped) {
      if (mapped) {
        bitmap->MarkUsed(block);
      } else {
        bitmap->MarkFree(block);
      }
    });
    used_blocks = allocator->data_blocks() - allocator->free_blocks();
  } else {
    scan = (*meta)->ForEachBlock([&](uint64_t, uint64_t, uint64_t block) {
      ++used_blocks;
      if (!allocator->MarkUsed(block)) ++bad_blocks;
      return true;
    });
  }
  if (!scan.ok()) return scan;
  if (bad_blocks > 0) {
    return ErrnoError(EIO, absl::StrCat(bad_blocks,
                                        " block map entries are out of range "
                                        "or owned twice; run --check"));
  }

  allocator->StartSearchAt(sb->high_water() == 0 ? 1 : sb->high_water());
  // Blocks written but never mapped (a crash between the data and its
  // batch) are free already: free space is derived from the block maps.
  LogInfo("volume %s, metadata in %s: %d of %d data blocks in use", volume_path,
          meta_path, used_blocks, allocator->data_blocks());
  // A new volume has no mounts from a previous run to wait for.
  const absl::Time grace_end =
      fresh ? absl::InfinitePast() : clock->Now() + options.lease_timeout;
  return std::unique_ptr<Filesystem>(
      new Filesystem(std::move(device), std::move(*meta), std::move(allocator),
                     shared, *sb, max_ino + 1, inodes, options.commit_interval,
                     options.lease_timeout, clock, grace_end));
}

absl::Status Filesystem::SyncAll() { return committer_->Sync(); }

}  // namespace rbfs
