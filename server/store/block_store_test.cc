#include "server/store/block_store.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "common/errno_status.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::remove(path.c_str());
  return path;
}

TEST(BlockStoreTest, CreatesSparseVolumeAndReopensWithItsGeometry) {
  const std::string path = TempPath("sparse.vol");
  BlockStore::Options options;
  options.block_size = 8192;
  options.volume_size = 1 << 30;
  uint64_t id;
  {
    absl::StatusOr<std::unique_ptr<BlockStore>> store =
        BlockStore::Open(path, options, true);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->block_size(), 8192u);
    EXPECT_EQ((*store)->block_count(), (1u << 30) / 8192);
    id = (*store)->volume_id();
    ASSERT_TRUE((*store)->Write(7, 100, "hello").ok());
  }
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1 << 30);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "volume should be sparse";

  options.block_size = 4096;  // ignored: the header wins
  absl::StatusOr<std::unique_ptr<BlockStore>> store =
      BlockStore::Open(path, options, false);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->block_size(), 8192u);
  EXPECT_EQ((*store)->volume_id(), id);
  char buf[5];
  ASSERT_TRUE((*store)->Read(7, 100, buf, 5).ok());
  EXPECT_EQ(std::string(buf, 5), "hello");
  char zeros[16];
  ASSERT_TRUE((*store)->Read(9, 0, zeros, 16).ok());
  EXPECT_EQ(std::string(zeros, 16), std::string(16, '\0'));
}

TEST(BlockStoreTest, RefusesRangesOutsideTheVolume) {
  BlockStore::Options options;
  options.block_size = 4096;
  options.volume_size = 10 * 4096;
  absl::StatusOr<std::unique_ptr<BlockStore>> store =
      BlockStore::Open(TempPath("bounds.vol"), options, true);
  ASSERT_TRUE(store.ok());
  char buf[8];
  EXPECT_FALSE((*store)->Read(0, 0, buf, 8).ok()) << "header block";
  EXPECT_FALSE((*store)->Read(10, 0, buf, 8).ok());
  EXPECT_FALSE((*store)->Write(9, 4090, "too long").ok());
  EXPECT_TRUE((*store)->Write(9, 4088, "fits now").ok());
  EXPECT_TRUE((*store)->Sync().ok());
}

TEST(BlockStoreTest, RejectsBadBlockSizesAndForeignFiles) {
  BlockStore::Options options;
  options.block_size = 5000;
  EXPECT_EQ(StatusToErrno(
                BlockStore::Open(TempPath("bad.vol"), options, true).status()),
            EINVAL);
  const std::string foreign = TempPath("foreign.vol");
  FILE* f = std::fopen(foreign.c_str(), "w");
  std::fputs("somebody else's data, not an rbfs volume", f);
  std::fclose(f);
  options.block_size = 4096;
  EXPECT_EQ(StatusToErrno(BlockStore::Open(foreign, options, false).status()),
            EINVAL);
}

TEST(BlockStoreFactoryTest, ReportsWhatTheOpenFound) {
  const std::string path = TempPath("factory.vol");
  BlockStore::Options options;
  options.block_size = 4096;
  options.volume_size = 16 * 4096;
  BlockStoreFactory factory(path, options);
  EXPECT_EQ(factory.location(), path);
  EXPECT_FALSE(factory.Exists());
  uint64_t id;
  {
    absl::StatusOr<OpenedVolume> created = factory.Open(/*may_format=*/false);
    ASSERT_TRUE(created.ok()) << created.status();
    EXPECT_TRUE(created->formatted);
    EXPECT_TRUE(created->zeroed);
    EXPECT_EQ(created->device->block_size(), 4096u);
    EXPECT_EQ(created->device->block_count(), 16u);
    id = created->volume_id;
    ASSERT_TRUE(created->device->Write(3, 0, "kept").ok());
  }
  EXPECT_TRUE(factory.Exists());
  absl::StatusOr<OpenedVolume> reopened = factory.Open(/*may_format=*/true);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_FALSE(reopened->formatted);
  EXPECT_FALSE(reopened->zeroed);
  EXPECT_EQ(reopened->volume_id, id);
  char buf[4];
  ASSERT_TRUE(reopened->device->Read(3, 0, buf, 4).ok());
  EXPECT_EQ(std::string(buf, 4), "kept");
}

}  // namespace
}  // namespace rbfs
