#include "server/store/volume_header.h"

#include <cerrno>

#include "common/errno_status.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

TEST(VolumeHeaderTest, AHeaderReadsBackAsWritten) {
  absl::StatusOr<VolumeGeometry> made =
      NewVolumeGeometry(65536, uint64_t{1} << 30, "v");
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->block_count, 16384u);
  const std::string header = EncodeVolumeHeader(*made);
  EXPECT_EQ(header.size(), kVolumeHeaderBytes);
  absl::StatusOr<std::optional<VolumeGeometry>> read =
      ParseVolumeHeader(header, uint64_t{1} << 30, "v");
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->block_size, 65536u);
  EXPECT_EQ((*read)->block_count, 16384u);
  EXPECT_EQ((*read)->volume_id, made->volume_id);
}

TEST(VolumeHeaderTest, NoMagicIsNoHeaderAndABadOneIsCorrupt) {
  absl::StatusOr<std::optional<VolumeGeometry>> none =
      ParseVolumeHeader(std::string(32, '\0'), 1 << 20, "v");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_FALSE(ParseVolumeHeader("short", 1 << 20, "v")->has_value());
  // A header claiming more blocks than the volume holds.
  const std::string header = EncodeVolumeHeader(VolumeGeometry{4096, 1000, 7});
  EXPECT_EQ(StatusToErrno(ParseVolumeHeader(header, 4096 * 999, "v").status()),
            EINVAL);
  EXPECT_EQ(StatusToErrno(NewVolumeGeometry(5000, 1 << 20, "v").status()),
            EINVAL);
  EXPECT_EQ(StatusToErrno(NewVolumeGeometry(4096, 4096, "v").status()), EINVAL);
}

}  // namespace
}  // namespace rbfs
