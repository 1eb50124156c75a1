#include "server/store/block_allocator.h"

#include <cerrno>
#include <set>

#include "common/errno_status.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

TEST(BlockAllocatorTest, HandsOutEveryDataBlockOnceAndNeverTheHeader) {
  BlockAllocator alloc(200);  // blocks 1..199, crossing word boundaries
  EXPECT_EQ(alloc.free_blocks(), 199u);
  std::set<uint64_t> seen;
  for (int i = 0; i < 199; ++i) {
    absl::StatusOr<std::vector<uint64_t>> got = alloc.Allocate(1);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), 1u);
    EXPECT_GE((*got)[0], 1u);
    EXPECT_LT((*got)[0], 200u);
    EXPECT_TRUE(seen.insert((*got)[0]).second) << (*got)[0];
  }
  EXPECT_EQ(alloc.free_blocks(), 0u);
  EXPECT_EQ(StatusToErrno(alloc.Allocate(1).status()), ENOSPC);
}

TEST(BlockAllocatorTest, SearchStartsWhereToldAndWrapsAround) {
  BlockAllocator alloc(200);
  alloc.StartSearchAt(128);
  absl::StatusOr<std::vector<uint64_t>> got = alloc.Allocate(80);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->front(), 128u);
  EXPECT_EQ((*got)[71], 199u);
  EXPECT_EQ((*got)[72], 1u) << "wraps past the header block";
  alloc.StartSearchAt(200);  // out of range: from the start
  got = alloc.Allocate(1);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->front(), 9u);
}

TEST(BlockAllocatorTest, AllOrNothingOnShortage) {
  BlockAllocator alloc(11);
  ASSERT_TRUE(alloc.Allocate(7).ok());
  absl::StatusOr<std::vector<uint64_t>> too_many = alloc.Allocate(4);
  EXPECT_EQ(StatusToErrno(too_many.status()), ENOSPC);
  EXPECT_EQ(alloc.free_blocks(), 3u);
  absl::StatusOr<std::vector<uint64_t>> rest = alloc.Allocate(3);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->size(), 3u);
}

TEST(BlockAllocatorTest, FreedBlocksWaitForTheCommit) {
  BlockAllocator alloc(5);
  absl::StatusOr<std::vector<uint64_t>> all = alloc.Allocate(4);
  ASSERT_TRUE(all.ok());
  alloc.Free({(*all)[1]});
  EXPECT_TRUE(alloc.has_quarantined());
  EXPECT_EQ(alloc.free_blocks(), 0u);
  EXPECT_EQ(alloc.reclaimable_blocks(), 1u);
  EXPECT_FALSE(alloc.Allocate(1).ok());

  alloc.BeginCommit();
  alloc.Free({(*all)[2]});  // freed during the commit: not covered by it
  alloc.ReleaseFreed();
  EXPECT_EQ(alloc.free_blocks(), 1u);
  absl::StatusOr<std::vector<uint64_t>> again = alloc.Allocate(1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0], (*all)[1]);
  EXPECT_TRUE(alloc.has_quarantined());
}

TEST(BlockAllocatorTest, MarkUsedRejectsDuplicatesAndOutOfRange) {
  BlockAllocator alloc(100);
  EXPECT_TRUE(alloc.MarkUsed(5));
  EXPECT_FALSE(alloc.MarkUsed(5));
  EXPECT_FALSE(alloc.MarkUsed(0));
  EXPECT_FALSE(alloc.MarkUsed(100));
  EXPECT_EQ(alloc.free_blocks(), 98u);
  for (int i = 0; i < 98; ++i) {
    absl::StatusOr<std::vector<uint64_t>> got = alloc.Allocate(1);
    ASSERT_TRUE(got.ok());
    EXPECT_NE((*got)[0], 5u);
  }
}

}  // namespace
}  // namespace rbfs

namespace rbfs {
namespace {

TEST(BlockAllocatorTest, FillsALargeVolumeInMultiBlockRuns) {
  BlockAllocator alloc(65536);
  uint64_t got_total = 0;
  std::set<uint64_t> seen;
  for (;;) {
    absl::StatusOr<std::vector<uint64_t>> got = alloc.Allocate(16);
    if (!got.ok()) break;
    for (uint64_t b : *got) ASSERT_TRUE(seen.insert(b).second) << b;
    got_total += got->size();
  }
  EXPECT_EQ(got_total, 65520u);  // every whole run of 16 of the 65535 blocks
  EXPECT_EQ(alloc.free_blocks(), 15u);
}

TEST(BlockAllocatorTest, SharedItAllocatesOnlyFromTheGroupsItHolds) {
  constexpr uint64_t kBlocks = 3 * 4096 + 100;  // a short last group
  ASSERT_EQ(BlockAllocator::GroupBlocks(kBlocks), 4096u);
  BlockAllocator alloc(kBlocks, /*shared=*/true);
  EXPECT_EQ(StatusToErrno(alloc.Allocate(1).status()), ENOSPC);
  // Another server's blocks in group 0, reported by the feed.
  for (uint64_t b = 1; b < 1000; ++b) ASSERT_TRUE(alloc.MarkUsed(b));
  // The freest unheld groups first: 1 and 2 are empty, 0 has 3097 blocks
  // free, the short group 3 only 100.
  EXPECT_EQ(alloc.GroupsToClaim(), (std::vector<uint64_t>{1, 2, 0, 3}));
  alloc.AllowGroup(1);
  EXPECT_EQ(alloc.GroupsToClaim(), (std::vector<uint64_t>{2, 0, 3}));
  absl::StatusOr<std::vector<uint64_t>> got = alloc.Allocate(4096);
  ASSERT_TRUE(got.ok()) << got.status();
  for (uint64_t b : *got) {
    EXPECT_GE(b, 4096u);
    EXPECT_LT(b, 8192u);
  }
  EXPECT_EQ(StatusToErrno(alloc.Allocate(1).status()), ENOSPC);
  // A freed mapping comes back through the feed only; a block no commit
  // mapped comes back at once.
  alloc.Free({(*got)[0]});
  EXPECT_EQ(StatusToErrno(alloc.Allocate(1).status()), ENOSPC);
  EXPECT_TRUE(alloc.MarkFree((*got)[0]));
  EXPECT_FALSE(alloc.MarkFree((*got)[0]));
  absl::StatusOr<std::vector<uint64_t>> again = alloc.Allocate(1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->front(), (*got)[0]);
  alloc.Unallocate(*again);
  EXPECT_TRUE(alloc.Allocate(1).ok());
}

}  // namespace
}  // namespace rbfs
