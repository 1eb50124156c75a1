// VolumeHeader: the first bytes of block 0 of every rbfs volume, whatever
// holds it (a file, a raw device, an RBD image): magic, block size, block
// count, volume id. The one definition of the on-volume format and of its
// validity rules, shared by the BlockDevice implementations.
#ifndef RBFS_SERVER_STORE_VOLUME_HEADER_H_
#define RBFS_SERVER_STORE_VOLUME_HEADER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rbfs {

struct VolumeGeometry {
  uint32_t block_size = 0;
  uint64_t block_count = 0;
  uint64_t volume_id = 0;
};

// The header's size on the volume (the rest of block 0 is unused).
inline constexpr size_t kVolumeHeaderBytes = 32;

// Block sizes a volume may have: powers of two in [4 KiB, 4 MiB].
absl::Status ValidateBlockSize(uint32_t block_size);

// The geometry `bytes` (block 0's start) records, nullopt when they hold no
// rbfs header; EINVAL when the header is there but does not fit a volume of
// `volume_bytes` (`where` names it in the message).
absl::StatusOr<std::optional<VolumeGeometry>> ParseVolumeHeader(
    absl::string_view bytes, uint64_t volume_bytes, absl::string_view where);

// The geometry of a new volume of `volume_bytes` in blocks of `block_size`,
// with a random id; EINVAL when it would hold fewer than 2 blocks.
absl::StatusOr<VolumeGeometry> NewVolumeGeometry(uint32_t block_size,
                                                 uint64_t volume_bytes,
                                                 absl::string_view where);

// The kVolumeHeaderBytes bytes that record `geometry`.
std::string EncodeVolumeHeader(const VolumeGeometry& geometry);

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_VOLUME_HEADER_H_
