#include "server/fs/high_water_mark.h"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "server/store/rocks_meta_store.h"

namespace rbfs {
namespace {

constexpr uint64_t kBlocks = 1 << 20;  // a step of 1/64 is 16384 blocks

class HighWaterMarkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::string(tmp ? tmp : "/tmp") + "/hwm_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    OpenStore();
  }

  void OpenStore() {
    meta_.reset();
    absl::StatusOr<std::unique_ptr<RocksMetaStore>> meta =
        RocksMetaStore::Open(dir_, nullptr);
    ASSERT_TRUE(meta.ok()) << meta.status();
    meta_ = *std::move(meta);
  }

  meta::Superblock Superblock(uint64_t high_water) {
    meta::Superblock sb;
    sb.set_block_count(kBlocks);
    sb.set_high_water(high_water);
    return sb;
  }

  uint64_t DurableMark() {
    OpenStore();
    absl::StatusOr<meta::Superblock> sb = meta_->GetSuperblock();
    EXPECT_TRUE(sb.ok()) << sb.status();
    return sb.ok() ? sb->high_water() : 0;
  }

  std::string dir_;
  std::unique_ptr<MetaStore> meta_;
};

TEST_F(HighWaterMarkTest, BlocksBelowTheMarkNeedNoRaise) {
  HighWaterMark mark(meta_.get(), Superblock(100), /*shared=*/false);
  absl::StatusOr<bool> reused = mark.PrepareForData({10, 99});
  ASSERT_TRUE(reused.ok()) << reused.status();
  // Below the mark of the start, a block may hold a deleted file's bytes.
  EXPECT_TRUE(*reused);
  EXPECT_EQ(mark.mark(), 100u);
  EXPECT_TRUE(absl::IsNotFound(meta_->GetSuperblock().status()));
}

TEST_F(HighWaterMarkTest, RaisesDurablyInSteps) {
  HighWaterMark mark(meta_.get(), Superblock(100), /*shared=*/false);
  absl::StatusOr<bool> reused = mark.PrepareForData({100, 150});
  ASSERT_TRUE(reused.ok()) << reused.status();
  EXPECT_FALSE(*reused);  // never held data
  EXPECT_EQ(mark.mark(), 100u + kBlocks / 64);
  // Blocks up to the highest one handed out may have held data since, and
  // been freed: the next allocation among them counts as reuse.
  reused = mark.PrepareForData({120});
  ASSERT_TRUE(reused.ok());
  EXPECT_TRUE(*reused);
  reused = mark.PrepareForData({160});
  ASSERT_TRUE(reused.ok());
  EXPECT_FALSE(*reused);
  EXPECT_EQ(DurableMark(), 100u + kBlocks / 64);
}

TEST_F(HighWaterMarkTest, CoversAFarBlockAndStopsAtTheVolumeEnd) {
  HighWaterMark mark(meta_.get(), Superblock(1), /*shared=*/false);
  ASSERT_TRUE(mark.PrepareForData({50000}).ok());
  EXPECT_EQ(mark.mark(), 50001u);
  ASSERT_TRUE(mark.PrepareForData({kBlocks - 100}).ok());
  EXPECT_EQ(mark.mark(), kBlocks - 99);
  // The next step would pass the end of the volume.
  ASSERT_TRUE(mark.PrepareForData({kBlocks - 99}).ok());
  EXPECT_EQ(mark.mark(), kBlocks);
  EXPECT_EQ(DurableMark(), kBlocks);
}

TEST_F(HighWaterMarkTest, AnOldStoreWithoutAMarkCountsTheWholeVolume) {
  HighWaterMark mark(meta_.get(), Superblock(0), /*shared=*/false);
  EXPECT_EQ(mark.mark(), kBlocks);
  absl::StatusOr<bool> reused = mark.PrepareForData({5});
  ASSERT_TRUE(reused.ok());
  EXPECT_TRUE(*reused);
}

TEST_F(HighWaterMarkTest, SharedItCountsEveryBlockAsUsedAndWritesNothing) {
  HighWaterMark mark(meta_.get(), Superblock(1), /*shared=*/true);
  absl::StatusOr<bool> reused = mark.PrepareForData({5, 50});
  ASSERT_TRUE(reused.ok());
  EXPECT_TRUE(*reused);
  EXPECT_EQ(mark.mark(), 1u);
  EXPECT_TRUE(absl::IsNotFound(meta_->GetSuperblock().status()));
}

}  // namespace
}  // namespace rbfs
