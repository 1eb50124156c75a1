#include "server/store/etcd_serving_lock.h"

#include <atomic>
#include <cerrno>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/errno_status.h"
#include "gtest/gtest.h"
#include "server/store/etcd_meta_store.h"
#include "testing/etcd_server.h"

namespace rbfs {
namespace {

class EtcdServingLockTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(testing::SharedEtcdServer(), nullptr); }

  EtcdServingLock::Options LockOptions(const std::string& holder) const {
    EtcdServingLock::Options options;
    options.etcd.endpoints = {testing::SharedEtcdServer()->endpoint()};
    options.etcd.prefix =
        "/rbfs-lock-test/" +
        std::string(
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    options.ttl = absl::Seconds(2);
    options.holder = holder;
    return options;
  }
};

const auto kNeverWaits = [](absl::Duration) {
  ADD_FAILURE() << "waited for a free lock";
  return false;
};

TEST_F(EtcdServingLockTest, AStandbyTakesOverWhenTheHolderStops) {
  absl::StatusOr<std::unique_ptr<EtcdServingLock>> a =
      EtcdServingLock::Acquire(LockOptions("a"), kNeverWaits, nullptr);
  ASSERT_TRUE(a.ok()) << a.status();
  absl::Notification standing_by;
  absl::Notification a_stopped;
  std::atomic<int> waits{0};
  absl::StatusOr<std::unique_ptr<EtcdServingLock>> b;
  std::thread standby([&] {
    b = EtcdServingLock::Acquire(
        LockOptions("b"),
        [&](absl::Duration d) {
          if (++waits == 1) standing_by.Notify();
          a_stopped.WaitForNotificationWithTimeout(d);
          return true;
        },
        nullptr);
  });
  standing_by.WaitForNotification();
  const int64_t a_revision = (*a)->revision();
  a->reset();
  a_stopped.Notify();
  standby.join();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_GT((*b)->revision(), a_revision);
  EXPECT_GE(waits.load(), 1);
}

TEST_F(EtcdServingLockTest, AStandbyThatIsToldToStopGivesUp) {
  absl::StatusOr<std::unique_ptr<EtcdServingLock>> a =
      EtcdServingLock::Acquire(LockOptions("a"), kNeverWaits, nullptr);
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<std::unique_ptr<EtcdServingLock>> b = EtcdServingLock::Acquire(
      LockOptions("b"), [](absl::Duration) { return false; }, nullptr);
  EXPECT_TRUE(absl::IsCancelled(b.status())) << b.status();
}

TEST_F(EtcdServingLockTest, AStoreOfAServerThatLostTheLockCommitsNothing) {
  EtcdServingLock::Options options = LockOptions("a");
  absl::StatusOr<std::unique_ptr<EtcdServingLock>> a =
      EtcdServingLock::Acquire(options, kNeverWaits, nullptr);
  ASSERT_TRUE(a.ok()) << a.status();
  EtcdOptions a_store_options = options.etcd;
  a_store_options.fence_revision = (*a)->revision();
  absl::StatusOr<std::unique_ptr<EtcdMetaStore>> a_store =
      EtcdMetaStore::Open(a_store_options, nullptr);
  ASSERT_TRUE(a_store.ok());
  auto put_inode = [](MetaStore& store, uint64_t ino) {
    std::unique_ptr<MetaBatch> batch = store.NewBatch();
    batch->PutInode(ino, meta::InodeRecord());
    return store.Commit(batch.get());
  };
  ASSERT_TRUE(put_inode(**a_store, 2).ok());
  ASSERT_TRUE((*a_store)->ReserveInodes(10, 10).ok());

  // b takes the volume over (a's lease ended: here by a clean stop).
  a->reset();
  absl::StatusOr<std::unique_ptr<EtcdServingLock>> b =
      EtcdServingLock::Acquire(LockOptions("b"), kNeverWaits, nullptr);
  ASSERT_TRUE(b.ok()) << b.status();
  absl::Status late = put_inode(**a_store, 3);
  EXPECT_EQ(StatusToErrno(late), EIO) << late;
  EXPECT_NE(late.message().find("its lease ended"), std::string::npos) << late;
  EXPECT_EQ(StatusToErrno((*a_store)->ReserveInodes(10, 10).status()), EIO);
  EXPECT_TRUE(absl::IsNotFound((*a_store)->GetInode(3).status()));

  EtcdOptions b_store_options = options.etcd;
  b_store_options.fence_revision = (*b)->revision();
  absl::StatusOr<std::unique_ptr<EtcdMetaStore>> b_store =
      EtcdMetaStore::Open(b_store_options, nullptr);
  ASSERT_TRUE(b_store.ok());
  EXPECT_TRUE(put_inode(**b_store, 3).ok());
}

// Its own etcd, which it stops.
TEST(EtcdServingLockOutageTest, AHolderCutOffFromEtcdIsToldItLostTheLock) {
  absl::StatusOr<std::unique_ptr<testing::EtcdServer>> etcd =
      testing::EtcdServer::Start();
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  EtcdServingLock::Options options;
  options.etcd.endpoints = {(*etcd)->endpoint()};
  options.etcd.op_timeout = absl::Seconds(1);
  options.ttl = absl::Seconds(2);
  absl::Notification lost;
  absl::StatusOr<std::unique_ptr<EtcdServingLock>> lock =
      EtcdServingLock::Acquire(options, kNeverWaits, [&] { lost.Notify(); });
  ASSERT_TRUE(lock.ok()) << lock.status();
  ASSERT_TRUE((*etcd)->Stop().ok());
  EXPECT_TRUE(lost.WaitForNotificationWithTimeout(absl::Seconds(60)));
}

}  // namespace
}  // namespace rbfs
