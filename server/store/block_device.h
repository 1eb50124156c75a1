// BlockDevice: what the filesystem needs of its volume: geometry, block
// reads and writes, and a sync that makes completed writes durable.
// BlockDeviceFactory: where a volume lives and how to open (or format) it,
// with the facts of that open the filesystem's format logic needs.
//
// BlockStore (the volume file or device, block_store.h) is the one real
// implementation today; the seam is where other backends plug in, and
// where tests put a fault layer underneath the filesystem
// (server/testing/fault_block_device.h). Calls are bounds-checked by the
// implementation and safe for concurrent use. A virtual call costs nothing
// next to the pread/pwrite behind it.
#ifndef RBFS_SERVER_STORE_BLOCK_DEVICE_H_
#define RBFS_SERVER_STORE_BLOCK_DEVICE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace rbfs {

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;

  virtual uint32_t block_size() const = 0;
  // Total blocks including the header block 0.
  virtual uint64_t block_count() const = 0;

  // Reads `length` bytes at `offset` within `block`.
  virtual absl::Status Read(uint64_t block, uint32_t offset, char* data,
                            uint32_t length) const = 0;
  // Writes `data` at `offset` within `block`.
  virtual absl::Status Write(uint64_t block, uint32_t offset,
                             absl::string_view data) const = 0;
  // Makes every completed Write durable.
  virtual absl::Status Sync() const = 0;

  // Several reads or writes of distinct ranges at once, as one request's
  // blocks are: a backend whose every call is a network round trip (RBD)
  // puts them all in flight together. The default does them one by one;
  // the first failure is returned, after every piece was tried.
  struct ReadPiece {
    uint64_t block;
    uint32_t offset;
    char* data;
    uint32_t length;
  };
  struct WritePiece {
    uint64_t block;
    uint32_t offset;
    absl::string_view data;
  };
  virtual absl::Status ReadMany(absl::Span<const ReadPiece> pieces) const;
  virtual absl::Status WriteMany(absl::Span<const WritePiece> pieces) const;

 protected:
  // EIO unless [offset, offset + length) lies within data block `block`
  // (1..block_count-1): the bound every implementation checks first.
  absl::Status CheckRange(uint64_t block, uint32_t offset,
                          uint64_t length) const;
};

// Puts a layer (a fault injector in tests) over an opened volume.
using VolumeWrapper =
    std::function<std::unique_ptr<BlockDevice>(std::unique_ptr<BlockDevice>)>;

// A volume as BlockDeviceFactory::Open found it.
struct OpenedVolume {
  std::unique_ptr<BlockDevice> device;
  // Chosen when the volume was formatted; the superblock of the metadata
  // store that owns the volume records it.
  uint64_t volume_id = 0;
  // True if this open formatted the volume (it held no rbfs data).
  bool formatted = false;
  // True if this open formatted the volume and every data block now reads
  // as zeros; false when old content may show (a reused raw device).
  bool zeroed = false;
};

class BlockDeviceFactory {
 public:
  virtual ~BlockDeviceFactory() = default;

  // Whether something (formatted or not) is at the volume's location.
  virtual bool Exists() const = 0;
  // Opens the volume, creating and formatting it if it is missing or
  // empty. One that holds data but no rbfs header is formatted only when
  // `may_format`.
  virtual absl::StatusOr<OpenedVolume> Open(bool may_format) const = 0;
  // For messages: where the volume is.
  virtual std::string location() const = 0;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_BLOCK_DEVICE_H_
