#include "server/store/local_stores.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/errno_status.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

std::string TempDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(LocalStoresTest, LaysOutTheDataDirectory) {
  EXPECT_EQ(LocalVolumePath("/d", ""), "/d/volume");
  EXPECT_EQ(LocalVolumePath("/d", "/dev/vdb"), "/dev/vdb");
  EXPECT_EQ(LocalMetaPath("/d"), "/d/meta");
}

TEST(LocalStoresTest, CreatesTheDataDirectoryAndNamesBothStoresInIt) {
  const std::string dir = TempDir("local_default") + "/nested";
  LocalStoreOptions options;
  options.data_dir = dir;
  options.block_size = 4096;
  options.volume_size = 8 * 4096;
  absl::StatusOr<Stores> stores = MakeLocalStores(options);
  ASSERT_TRUE(stores.ok()) << stores.status();
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  EXPECT_EQ(stores->volume->location(), dir + "/volume");
  EXPECT_EQ(stores->meta->location(), dir + "/meta");
  EXPECT_FALSE(stores->volume->Exists());
  EXPECT_EQ(stores->meta->Exists().value_or(true), false);

  absl::StatusOr<OpenedVolume> volume = stores->volume->Open(false);
  ASSERT_TRUE(volume.ok()) << volume.status();
  EXPECT_EQ(volume->device->block_size(), 4096u);
  EXPECT_EQ(volume->device->block_count(), 8u);
  absl::StatusOr<std::unique_ptr<MetaStore>> meta = stores->meta->Open(nullptr);
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_TRUE(stores->volume->Exists());
  EXPECT_EQ(stores->meta->Exists().value_or(false), true);
}

TEST(LocalStoresTest, VolumePathOverridesTheDefault) {
  const std::string dir = TempDir("local_override");
  LocalStoreOptions options;
  options.data_dir = dir + "/data";
  options.volume_path = dir + "/elsewhere.vol";
  absl::StatusOr<Stores> stores = MakeLocalStores(options);
  ASSERT_TRUE(stores.ok()) << stores.status();
  EXPECT_EQ(stores->volume->location(), dir + "/elsewhere.vol");
  EXPECT_EQ(stores->meta->location(), dir + "/data/meta");
}

TEST(LocalStoresTest, ReportsADataDirectoryThatCannotBeCreated) {
  const std::string dir = TempDir("local_blocked");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/file") << "not a directory";
  LocalStoreOptions options;
  options.data_dir = dir + "/file/data";
  absl::StatusOr<Stores> stores = MakeLocalStores(options);
  EXPECT_EQ(StatusToErrno(stores.status()), ENOTDIR);
  EXPECT_NE(stores.status().message().find("cannot create data directory"),
            std::string::npos)
      << stores.status();
}

}  // namespace
}  // namespace rbfs
