#include "server/store/committer.h"

#include <cerrno>
#include <memory>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/errno_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

using ::testing::InSequence;
using ::testing::Return;

class MockBlockDevice : public BlockDevice {
 public:
  MOCK_METHOD(uint32_t, block_size, (), (const, override));
  MOCK_METHOD(uint64_t, block_count, (), (const, override));
  MOCK_METHOD(absl::Status, Read,
              (uint64_t block, uint32_t offset, char* data, uint32_t length),
              (const, override));
  MOCK_METHOD(absl::Status, Write,
              (uint64_t block, uint32_t offset, absl::string_view data),
              (const, override));
  MOCK_METHOD(absl::Status, Sync, (), (const, override));
};

// Only Sync matters to the committer.
class MockMetaStore : public MetaStore {
 public:
  MOCK_METHOD(absl::StatusOr<meta::Superblock>, GetSuperblock, (),
              (const, override));
  MOCK_METHOD(absl::StatusOr<meta::InodeRecord>, GetInode, (uint64_t ino),
              (const, override));
  MOCK_METHOD(absl::StatusOr<meta::DirentRecord>, GetDirent,
              (uint64_t parent, absl::string_view name), (const, override));
  MOCK_METHOD(absl::StatusOr<meta::CallRecord>, GetCall,
              (uint64_t session, uint64_t seq), (const, override));
  MOCK_METHOD(absl::StatusOr<uint64_t>, GetBlock,
              (uint64_t ino, uint64_t index), (const, override));
  MOCK_METHOD(absl::Status, ForEachInode,
              (const std::function<bool(uint64_t)>& fn), (const, override));
  MOCK_METHOD(absl::Status, ForEachOrphan,
              (const std::function<bool(uint64_t, absl::string_view)>& fn),
              (const, override));
  MOCK_METHOD(absl::Status, ForEachBlock,
              ((const std::function<bool(uint64_t, uint64_t, uint64_t)>& fn)),
              (const, override));
  MOCK_METHOD(absl::Status, ForEachBlockOf,
              (uint64_t ino, uint64_t first,
               (const std::function<bool(uint64_t, uint64_t)>& fn)),
              (const, override));
  MOCK_METHOD(absl::Status, ForEachDirent,
              (uint64_t parent, uint64_t first,
               const std::function<bool(const meta::DirentRecord&)>& fn),
              (const, override));
  MOCK_METHOD(absl::Status, ForEachCall,
              ((const std::function<bool(uint64_t, uint64_t)>& fn)),
              (const, override));
  MOCK_METHOD(absl::Status, ForEachCallOf,
              (uint64_t session, const std::function<bool(uint64_t)>& fn),
              (const, override));
  MOCK_METHOD(absl::StatusOr<std::string>, GetXattr,
              (uint64_t ino, absl::string_view name), (const, override));
  MOCK_METHOD(
      absl::Status, ForEachXattrOf,
      (uint64_t ino,
       (const std::function<bool(absl::string_view, absl::string_view)>& fn)),
      (const, override));
  MOCK_METHOD(absl::Status, ForEachXattr,
              ((const std::function<bool(uint64_t, absl::string_view,
                                         absl::string_view)>& fn)),
              (const, override));
  MOCK_METHOD(
      absl::Status, Scan,
      (absl::string_view prefix, absl::string_view start,
       (const std::function<bool(absl::string_view, absl::string_view)>& fn)),
      (const, override));
  MOCK_METHOD(absl::StatusOr<std::vector<uint64_t>>, GetBlocks,
              (uint64_t ino, uint64_t first, uint64_t count),
              (const, override));
  MOCK_METHOD(absl::StatusOr<uint64_t>, ReserveInodes,
              (uint64_t floor, uint64_t count), (override));
  MOCK_METHOD(std::unique_ptr<MetaBatch>, NewBatch, (), (override));
  MOCK_METHOD(absl::Status, Commit, (MetaBatch * batch), (override));
  MOCK_METHOD(absl::Status, Sync, (), (override));
};

constexpr uint64_t kBlocks = 129;  // 128 data blocks

class CommitterTest : public ::testing::Test {
 protected:
  // Allocates `n` blocks and frees them again: they wait in quarantine.
  void FreeSome(uint64_t n) {
    absl::StatusOr<std::vector<uint64_t>> got = allocator_.Allocate(n);
    ASSERT_TRUE(got.ok()) << got.status();
    allocator_.Free(*got);
    ASSERT_TRUE(allocator_.has_quarantined());
  }

  MockBlockDevice blocks_;
  MockMetaStore meta_;
  BlockAllocator allocator_{kBlocks};
};

TEST_F(CommitterTest, SyncsDataThenMetadataThenReleasesFreedBlocks) {
  FreeSome(3);
  {
    InSequence order;
    EXPECT_CALL(blocks_, Sync()).WillOnce(Return(absl::OkStatus()));
    EXPECT_CALL(meta_, Sync()).WillOnce(Return(absl::OkStatus()));
  }
  Committer committer(&blocks_, &meta_, &allocator_, absl::Hours(1));
  ASSERT_TRUE(committer.Sync().ok());
  EXPECT_FALSE(allocator_.has_quarantined());
  EXPECT_EQ(allocator_.free_blocks(), kBlocks - 1);
  EXPECT_TRUE(committer.failure().ok());
  // The final commit at destruction.
  EXPECT_CALL(blocks_, Sync()).WillOnce(Return(absl::OkStatus()));
  EXPECT_CALL(meta_, Sync()).WillOnce(Return(absl::OkStatus()));
}

TEST_F(CommitterTest, AFailedCommitIsFinal) {
  FreeSome(2);
  const absl::Status lost = ErrnoError(EIO, "write-back error");
  // The volume fails once; had the committer asked again, the kernel, which
  // forgets a reported write-back error, would have said all is well.
  EXPECT_CALL(blocks_, Sync())
      .WillOnce(Return(lost))
      .WillRepeatedly(Return(absl::OkStatus()));
  EXPECT_CALL(meta_, Sync()).Times(0);
  Committer committer(&blocks_, &meta_, &allocator_, absl::Hours(1));
  EXPECT_EQ(committer.Sync(), lost);
  EXPECT_EQ(committer.failure(), lost);
  committer.MarkDirty();
  EXPECT_EQ(committer.Sync(), lost);
  EXPECT_EQ(committer.Sync(), lost);
  // Blocks freed by metadata that never became durable stay unusable.
  EXPECT_TRUE(allocator_.has_quarantined());
  EXPECT_EQ(allocator_.free_blocks(), kBlocks - 1 - 2);
}

TEST_F(CommitterTest, AFailedMetadataSyncIsFinalToo) {
  const absl::Status lost = ErrnoError(EIO, "WAL sync failed");
  EXPECT_CALL(blocks_, Sync()).WillOnce(Return(absl::OkStatus()));
  EXPECT_CALL(meta_, Sync()).WillOnce(Return(lost));
  Committer committer(&blocks_, &meta_, &allocator_, absl::Hours(1));
  EXPECT_EQ(committer.Sync(), lost);
  EXPECT_EQ(committer.Sync(), lost);
  EXPECT_EQ(committer.failure(), lost);
}

TEST_F(CommitterTest, DirtyWorkIsCommittedInTheBackground) {
  absl::Notification committed;
  EXPECT_CALL(blocks_, Sync()).WillRepeatedly(Return(absl::OkStatus()));
  EXPECT_CALL(meta_, Sync()).WillRepeatedly([&] {
    if (!committed.HasBeenNotified()) committed.Notify();
    return absl::OkStatus();
  });
  FreeSome(1);
  Committer committer(&blocks_, &meta_, &allocator_, absl::Milliseconds(1));
  committer.MarkDirty();
  ASSERT_TRUE(committed.WaitForNotificationWithTimeout(absl::Seconds(30)));
  // The commit releases the freed block just after the metadata sync.
  ASSERT_TRUE(committer.Sync().ok());
  EXPECT_FALSE(allocator_.has_quarantined());
}

TEST_F(CommitterTest, DestructionCommitsWhatIsLeft) {
  FreeSome(1);
  EXPECT_CALL(blocks_, Sync()).WillOnce(Return(absl::OkStatus()));
  EXPECT_CALL(meta_, Sync()).WillOnce(Return(absl::OkStatus()));
  { Committer committer(&blocks_, &meta_, &allocator_, absl::Hours(1)); }
  EXPECT_FALSE(allocator_.has_quarantined());
}

}  // namespace
}  // namespace rbfs
