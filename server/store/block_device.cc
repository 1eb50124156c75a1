#include "server/store/block_device.h"

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace rbfs {

absl::Status BlockDevice::CheckRange(uint64_t block, uint32_t offset,
                                     uint64_t length) const {
  if (block == 0 || block >= block_count() || offset > block_size() ||
      length > block_size() - offset) {
    return ErrnoError(EIO,
                      absl::StrCat("block range out of volume: block ", block,
                                   " offset ", offset, " length ", length));
  }
  return absl::OkStatus();
}

absl::Status BlockDevice::ReadMany(absl::Span<const ReadPiece> pieces) const {
  absl::Status first;
  for (const ReadPiece& p : pieces) {
    first.Update(Read(p.block, p.offset, p.data, p.length));
  }
  return first;
}

absl::Status BlockDevice::WriteMany(absl::Span<const WritePiece> pieces) const {
  absl::Status first;
  for (const WritePiece& p : pieces) {
    first.Update(Write(p.block, p.offset, p.data));
  }
  return first;
}

}  // namespace rbfs
