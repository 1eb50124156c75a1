#include "client/fuse/read_ahead.h"

#include "gtest/gtest.h"

namespace rbfs {
namespace {

constexpr char kMountinfo[] =
    "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "95 22 0:52 / /mnt/a rw,nosuid,nodev,relatime shared:50 - fuse.rbfs "
    "127.0.0.1:7420 rw,user_id=0,group_id=0\n"
    "96 22 0:53 / /mnt/with\\040space rw,relatime shared:51 - fuse.rbfs "
    "x rw\n"
    "97 95 0:54 / /mnt/a rw,relatime shared:52 - fuse.rbfs y rw\n";

TEST(MountDeviceTest, FindsTheNewestMountAtThePath) {
  absl::StatusOr<std::string> device = MountDevice(kMountinfo, "/mnt/a");
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_EQ(*device, "0:54") << "mounted over the first one";
}

TEST(MountDeviceTest, ReadsEscapedPaths) {
  absl::StatusOr<std::string> device =
      MountDevice(kMountinfo, "/mnt/with space");
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_EQ(*device, "0:53");
}

TEST(MountDeviceTest, AnAbsentMountIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(MountDevice(kMountinfo, "/mnt").status()));
  EXPECT_TRUE(absl::IsNotFound(MountDevice(kMountinfo, "/mnt/a/").status()));
  EXPECT_TRUE(absl::IsNotFound(MountDevice("", "/").status()));
  EXPECT_TRUE(absl::IsNotFound(MountDevice("garbage\n\n", "/").status()));
}

}  // namespace
}  // namespace rbfs
