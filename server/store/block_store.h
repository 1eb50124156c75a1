// BlockStore: a volume (sparse file or raw block device) cut into fixed-size
// blocks, addressed by block number.
//
// Block 0 holds the volume header (magic, block size, block count, volume
// id); data blocks are 1..block_count-1. The store knows nothing of files:
// it moves bytes in and out of blocks and makes them durable on Sync().
// Every call is bounds-checked, so no block number can reach outside the
// volume. Safe for concurrent use: it only issues pread/pwrite/fdatasync.
#ifndef RBFS_SERVER_STORE_BLOCK_STORE_H_
#define RBFS_SERVER_STORE_BLOCK_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/store/block_device.h"

namespace rbfs {

class BlockStore final : public BlockDevice {
 public:
  // The geometry of a new volume unless told otherwise (also the defaults
  // of the server's --block-size and --volume-size).
  static constexpr uint32_t kDefaultBlockSize = 64 * 1024;
  static constexpr uint64_t kDefaultVolumeSize = 16ull << 30;

  struct Options {
    uint32_t block_size = kDefaultBlockSize;
    // Size of a volume file created by Open(); ignored for an existing
    // volume, whose header says its geometry.
    uint64_t volume_size = kDefaultVolumeSize;
  };

  // Opens the volume at `path`, creating and formatting a sparse file of
  // options.volume_size if it does not exist or is empty. A raw block device
  // or a file without a valid header is formatted only when `may_format`.
  static absl::StatusOr<std::unique_ptr<BlockStore>> Open(
      const std::string& path, const Options& options, bool may_format);

  ~BlockStore() override;
  BlockStore(const BlockStore&) = delete;
  BlockStore& operator=(const BlockStore&) = delete;

  uint32_t block_size() const override { return block_size_; }
  uint64_t block_count() const override { return block_count_; }
  uint64_t volume_id() const { return volume_id_; }
  // True if Open() wrote a fresh header (the volume held no rbfs data).
  bool formatted() const { return formatted_; }
  // True if Open() formatted the volume and every data block now reads as
  // zeros (a new sparse file, or an old file whose blocks it punched out);
  // false for a raw device, whose old content stays where it was.
  bool zeroed() const { return zeroed_; }

  absl::Status Read(uint64_t block, uint32_t offset, char* data,
                    uint32_t length) const override;
  absl::Status Write(uint64_t block, uint32_t offset,
                     absl::string_view data) const override;
  absl::Status Sync() const override;

 private:
  BlockStore(int fd, uint32_t block_size, uint64_t block_count,
             uint64_t volume_id, bool formatted, bool zeroed)
      : fd_(fd),
        block_size_(block_size),
        block_count_(block_count),
        volume_id_(volume_id),
        formatted_(formatted),
        zeroed_(zeroed) {}

  const int fd_;
  const uint32_t block_size_;
  const uint64_t block_count_;
  const uint64_t volume_id_;
  const bool formatted_;
  const bool zeroed_;
};

// Opens the BlockStore at one path (BlockStore::Open), formatting a new
// volume with the given options.
class BlockStoreFactory : public BlockDeviceFactory {
 public:
  BlockStoreFactory(std::string path, BlockStore::Options options)
      : path_(std::move(path)), options_(options) {}

  bool Exists() const override;
  absl::StatusOr<OpenedVolume> Open(bool may_format) const override;
  std::string location() const override { return path_; }

 private:
  const std::string path_;
  const BlockStore::Options options_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_BLOCK_STORE_H_
