#include "server/store/block_device.h"

namespace rbfs {

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
