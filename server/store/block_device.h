// BlockDevice: what the filesystem needs of its volume: geometry, block
// reads and writes, and a sync that makes completed writes durable.
//
// BlockStore (the volume file or device) is the one real implementation;
// the seam exists so that tests can put a fault layer underneath the
// filesystem (server/fault_block_device.h). Calls are bounds-checked by the
// implementation and safe for concurrent use. A virtual call costs nothing
// next to the pread/pwrite behind it.
#ifndef RBFS_SERVER_STORE_BLOCK_DEVICE_H_
#define RBFS_SERVER_STORE_BLOCK_DEVICE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

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
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_BLOCK_DEVICE_H_
