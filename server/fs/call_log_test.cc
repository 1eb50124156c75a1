#include "server/fs/call_log.h"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/store/rocks_meta_store.h"

namespace rbfs {
namespace {

class CallLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string dir =
        std::string(tmp ? tmp : "/tmp") + "/call_log_" +
        ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir);
    absl::StatusOr<std::unique_ptr<RocksMetaStore>> meta =
        RocksMetaStore::Open(dir, nullptr);
    ASSERT_TRUE(meta.ok()) << meta.status();
    meta_ = *std::move(meta);
    log_ = std::make_unique<CallLog>(meta_.get());
  }

  // Runs `call` as a filesystem operation does: claims it, records its
  // success (answering inode `ino`) in the operation's batch, ends it.
  void Run(const CallRef& call, uint64_t ino) {
    absl::StatusOr<std::optional<meta::CallRecord>> done = log_->Begin(call);
    ASSERT_TRUE(done.ok()) << done.status();
    ASSERT_FALSE(done->has_value());
    std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
    meta::InodeRecord inode;
    inode.set_generation(ino * 10);
    CallLog::Record(batch.get(), call, ino, inode);
    ASSERT_TRUE(meta_->Commit(batch.get()).ok());
    log_->End(call);
  }

  // Whether `call` is answered from a record (and releases the claim of a
  // Begin that found none).
  bool Answered(const CallRef& call) {
    absl::StatusOr<std::optional<meta::CallRecord>> done = log_->Begin(call);
    EXPECT_TRUE(done.ok()) << done.status();
    if (!done.ok()) return false;
    if (!done->has_value()) log_->End(call);
    return done->has_value();
  }

  std::unique_ptr<RocksMetaStore> meta_;
  std::unique_ptr<CallLog> log_;
};

TEST_F(CallLogTest, ARepeatOfASucceededCallGetsItsRecord) {
  const CallRef call{7, 1};
  Run(call, 42);
  absl::StatusOr<std::optional<meta::CallRecord>> again = log_->Begin(call);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ((*again)->ino(), 42u);
  EXPECT_EQ((*again)->inode().generation(), 420u);
  // A record claims nothing: another repeat does not wait.
  EXPECT_TRUE(Answered(call));
  EXPECT_FALSE(Answered(CallRef{7, 2}));
  EXPECT_FALSE(Answered(CallRef{8, 1}));
}

TEST_F(CallLogTest, AFailedCallLeavesNoRecordAndRunsAgain) {
  const CallRef call{7, 1};
  absl::StatusOr<std::optional<meta::CallRecord>> done = log_->Begin(call);
  ASSERT_TRUE(done.ok());
  ASSERT_FALSE(done->has_value());
  log_->End(call);  // failed: nothing committed
  Run(call, 5);
  EXPECT_TRUE(Answered(call));
}

TEST_F(CallLogTest, UnnumberedCallsAreNotRecorded) {
  std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
  CallLog::Record(batch.get(), CallRef{7, 0}, 1, meta::InodeRecord());
  CallLog::Record(batch.get(), CallRef{0, 3}, 1, meta::InodeRecord());
  ASSERT_TRUE(meta_->Commit(batch.get()).ok());
  int records = 0;
  ASSERT_TRUE(meta_
                  ->ForEachCall([&](uint64_t, uint64_t) {
                    ++records;
                    return true;
                  })
                  .ok());
  EXPECT_EQ(records, 0);
}

TEST_F(CallLogTest, ARepeatWaitsForTheRunningAttempt) {
  const CallRef call{7, 1};
  absl::StatusOr<std::optional<meta::CallRecord>> first = log_->Begin(call);
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->has_value());
  absl::Notification repeat_done;
  absl::StatusOr<std::optional<meta::CallRecord>> repeat;
  std::thread repeater([&] {
    repeat = log_->Begin(call);
    repeat_done.Notify();
  });
  std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
  CallLog::Record(batch.get(), call, 42, meta::InodeRecord());
  ASSERT_TRUE(meta_->Commit(batch.get()).ok());
  // Until the first attempt ends, the repeat has no answer.
  EXPECT_FALSE(repeat_done.HasBeenNotified());
  log_->End(call);
  repeater.join();
  ASSERT_TRUE(repeat.ok());
  ASSERT_TRUE(repeat->has_value());
  EXPECT_EQ((*repeat)->ino(), 42u);
}

TEST_F(CallLogTest, ForgetBelowDropsOnlyAnsweredCalls) {
  for (uint64_t seq = 1; seq <= 3; ++seq) Run(CallRef{7, seq}, seq);
  Run(CallRef{8, 1}, 9);
  ASSERT_TRUE(log_->ForgetBelow(7, 3).ok());
  EXPECT_FALSE(Answered(CallRef{7, 1}));
  EXPECT_FALSE(Answered(CallRef{7, 2}));
  EXPECT_TRUE(Answered(CallRef{7, 3}));
  EXPECT_TRUE(Answered(CallRef{8, 1}));
}

TEST_F(CallLogTest, ForgettingSessions) {
  for (uint64_t session = 1; session <= 4; ++session) {
    Run(CallRef{session, 1}, session);
    Run(CallRef{session, 2}, session);
  }
  ASSERT_TRUE(log_->ForgetSession(1).ok());
  EXPECT_FALSE(Answered(CallRef{1, 1}));
  EXPECT_FALSE(Answered(CallRef{1, 2}));
  ASSERT_TRUE(
      log_->ForgetSessionsExcept([](uint64_t session) { return session == 3; })
          .ok());
  EXPECT_FALSE(Answered(CallRef{2, 2}));
  EXPECT_TRUE(Answered(CallRef{3, 1}));
  EXPECT_TRUE(Answered(CallRef{3, 2}));
  EXPECT_FALSE(Answered(CallRef{4, 1}));
}

}  // namespace
}  // namespace rbfs
