#include "client/core/inode_table.h"

#include <cerrno>

#include "common/errno_status.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

Attr MakeAttr(uint64_t ino, uint64_t generation, uint64_t size) {
  Attr attr;
  attr.mutable_id()->set_ino(ino);
  attr.mutable_id()->set_generation(generation);
  attr.set_size(size);
  return attr;
}

TEST(InodeTableTest, RootIsAlwaysKnown) {
  InodeTable table;
  table.Forget(1, 100);
  absl::StatusOr<InodeId> root = table.Id(1);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->generation(), 1u);
}

TEST(InodeTableTest, UnknownInodeIsStale) {
  InodeTable table;
  EXPECT_EQ(StatusToErrno(table.Id(42).status()), ESTALE);
}

TEST(InodeTableTest, EntryLivesUntilLastForgetAndClose) {
  InodeTable table;
  table.Remember(MakeAttr(7, 3, 10));
  table.Remember(MakeAttr(7, 3, 10));
  table.Opened(7);
  table.Forget(7, 2);
  ASSERT_TRUE(table.Id(7).ok()) << "an open file must stay known";
  table.Released(7);
  EXPECT_FALSE(table.Id(7).ok());
}

TEST(InodeTableTest, ForgottenInodeStaysUntilTheLastClose) {
  InodeTable table;
  table.Remember(MakeAttr(9, 1, 0));
  table.Opened(9);
  table.Opened(9);
  table.Forget(9, 1);
  table.Released(9);
  EXPECT_TRUE(table.Id(9).ok());
  table.Released(9);
  EXPECT_FALSE(table.Id(9).ok());
  table.Released(9);
  EXPECT_EQ(table.size(), 1u);
}

TEST(InodeTableTest, NewGenerationAfterServerRestartIsAdopted) {
  InodeTable table;
  table.Remember(MakeAttr(5, 1, 0));
  table.Refresh(MakeAttr(5, 2, 0));
  EXPECT_EQ(table.Id(5)->generation(), 2u);
}

TEST(InodeTableTest, SizeOnlyGrowsOnWriteButFollowsTheServer) {
  InodeTable table;
  table.Remember(MakeAttr(3, 1, 100));
  table.RaiseSize(3, 50);
  EXPECT_EQ(table.Size(3), 100u);
  table.RaiseSize(3, 4096);
  EXPECT_EQ(table.Size(3), 4096u);
  table.Refresh(MakeAttr(3, 1, 0));
  EXPECT_EQ(table.Size(3), 0u);
}

// What a commit failure is reported for: written since the last fsync, told
// once, and gone with the entry.
TEST(InodeTableTest, AWriteIsPendingUntilSyncedOrTaken) {
  InodeTable table;
  table.Remember(MakeAttr(3, 1, 0));
  EXPECT_FALSE(table.TakeWritten(3));
  table.RaiseSize(3, 10);
  table.Synced(3);
  EXPECT_FALSE(table.TakeWritten(3));
  table.RaiseSize(3, 20);
  EXPECT_TRUE(table.TakeWritten(3));
  EXPECT_FALSE(table.TakeWritten(3));
  table.RaiseSize(3, 30);
  table.Forget(3, 1);
  EXPECT_FALSE(table.TakeWritten(3));
}

}  // namespace
}  // namespace rbfs
