#include "server/store/volume_header.h"

#include <cerrno>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace rbfs {
namespace {

constexpr char kMagic[8] = {'R', 'B', 'F', 'S', 'V', 'O', 'L', '1'};
constexpr uint32_t kMinBlockSize = 4096;
constexpr uint32_t kMaxBlockSize = 4u << 20;

// The header as laid out in block 0; fields little-endian, as on x86.
struct RawHeader {
  char magic[8];
  uint32_t block_size;
  uint32_t reserved;
  uint64_t block_count;
  uint64_t volume_id;
};
static_assert(sizeof(RawHeader) == kVolumeHeaderBytes);

}  // namespace

absl::Status ValidateBlockSize(uint32_t block_size) {
  if (block_size < kMinBlockSize || block_size > kMaxBlockSize ||
      (block_size & (block_size - 1)) != 0) {
    return ErrnoError(
        EINVAL, absl::StrCat("block size ", block_size,
                             " must be a power of two in [4 KiB, 4 MiB]"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<VolumeGeometry>> ParseVolumeHeader(
    absl::string_view bytes, uint64_t volume_bytes, absl::string_view where) {
  RawHeader header;
  if (bytes.size() < sizeof(header)) return std::nullopt;
  std::memcpy(&header, bytes.data(), sizeof(header));
  if (std::memcmp(header.magic, kMagic, sizeof(kMagic)) != 0) {
    return std::nullopt;
  }
  if (!ValidateBlockSize(header.block_size).ok() || header.block_count < 2 ||
      header.block_count > volume_bytes / header.block_size) {
    return ErrnoError(EINVAL,
                      absl::StrCat("volume header of ", where, " is corrupt"));
  }
  return VolumeGeometry{header.block_size, header.block_count,
                        header.volume_id};
}

absl::StatusOr<VolumeGeometry> NewVolumeGeometry(uint32_t block_size,
                                                 uint64_t volume_bytes,
                                                 absl::string_view where) {
  if (absl::Status s = ValidateBlockSize(block_size); !s.ok()) return s;
  VolumeGeometry geometry;
  geometry.block_size = block_size;
  geometry.block_count = volume_bytes / block_size;
  if (geometry.block_count < 2) {
    return ErrnoError(
        EINVAL, absl::StrCat("volume ", where, " holds fewer than 2 blocks"));
  }
  geometry.volume_id = std::random_device()() |
                       (static_cast<uint64_t>(std::random_device()()) << 32);
  return geometry;
}

std::string EncodeVolumeHeader(const VolumeGeometry& geometry) {
  RawHeader header;
  std::memset(&header, 0, sizeof(header));
  std::memcpy(header.magic, kMagic, sizeof(kMagic));
  header.block_size = geometry.block_size;
  header.block_count = geometry.block_count;
  header.volume_id = geometry.volume_id;
  return std::string(reinterpret_cast<const char*>(&header), sizeof(header));
}

}  // namespace rbfs
