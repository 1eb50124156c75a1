#include "server/store/etcd_shared_volume.h"

#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/errno_status.h"
#include "gtest/gtest.h"
#include "server/store/etcd_meta_store.h"
#include "server/store/etcd_serving_lock.h"
#include "server/store/meta_keys.h"
#include "testing/etcd_server.h"

namespace rbfs {
namespace {

const auto kNeverWaits = [](absl::Duration) {
  ADD_FAILURE() << "waited for a free lock";
  return false;
};

// One member of a shared volume: its membership, store and shared volume.
struct Member {
  std::unique_ptr<EtcdServingLock> membership;
  std::unique_ptr<EtcdMetaStore> store;
  std::unique_ptr<EtcdSharedVolume> volume;
};

// What a feed reported, in order.
class Reports {
 public:
  void Block(uint64_t block, bool mapped) {
    absl::MutexLock lock(&mu_);
    blocks_.emplace_back(block, mapped);
  }
  void Change(const StoreChange& change) {
    absl::MutexLock lock(&mu_);
    changes_.push_back(change);
  }
  // Waits until `count` block reports arrived (or a minute passed).
  std::vector<std::pair<uint64_t, bool>> Blocks(size_t count) {
    absl::MutexLock lock(&mu_);
    auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return blocks_.size() >= count;
    };
    mu_.AwaitWithTimeout(absl::Condition(&arrived), absl::Minutes(1));
    return blocks_;
  }
  // Waits for a change of `key` and returns the first.
  StoreChange ChangeOf(const std::string& key) {
    absl::MutexLock lock(&mu_);
    auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const StoreChange& c : changes_) {
        if (c.key == key) return true;
      }
      return false;
    };
    mu_.AwaitWithTimeout(absl::Condition(&arrived), absl::Minutes(1));
    for (const StoreChange& c : changes_) {
      if (c.key == key) return c;
    }
    ADD_FAILURE() << "no change of the key reported";
    return {};
  }

 private:
  absl::Mutex mu_;
  std::vector<std::pair<uint64_t, bool>> blocks_ ABSL_GUARDED_BY(mu_);
  std::vector<StoreChange> changes_ ABSL_GUARDED_BY(mu_);
};

class EtcdSharedVolumeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(testing::SharedEtcdServer(), nullptr); }

  EtcdServingLock::Options LockOptions(const std::string& holder,
                                       bool shared) const {
    EtcdServingLock::Options options;
    options.etcd.endpoints = {testing::SharedEtcdServer()->endpoint()};
    options.etcd.prefix =
        "/rbfs-shared-test/" +
        std::string(
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    options.ttl = absl::Seconds(2);
    options.holder = holder;
    options.shared = shared;
    return options;
  }

  Member Join(const std::string& name) {
    Member m;
    EtcdServingLock::Options options = LockOptions(name, true);
    absl::StatusOr<std::unique_ptr<EtcdServingLock>> joined =
        EtcdServingLock::Acquire(options, kNeverWaits, nullptr);
    EXPECT_TRUE(joined.ok()) << joined.status();
    if (!joined.ok()) return m;
    m.membership = *std::move(joined);
    EtcdOptions etcd = options.etcd;
    etcd.fence_key = m.membership->key();
    etcd.fence_revision = m.membership->revision();
    etcd.own_commits = std::make_shared<CommitRevisions>();
    absl::StatusOr<std::unique_ptr<EtcdMetaStore>> store =
        EtcdMetaStore::Open(etcd, nullptr);
    EXPECT_TRUE(store.ok()) << store.status();
    if (store.ok()) m.store = *std::move(store);
    EtcdSharedVolume::Options volume;
    volume.etcd = etcd;
    volume.lease = m.membership->lease();
    absl::StatusOr<std::unique_ptr<EtcdSharedVolume>> opened =
        EtcdSharedVolume::Open(volume);
    EXPECT_TRUE(opened.ok()) << opened.status();
    if (opened.ok()) m.volume = *std::move(opened);
    return m;
  }
};

absl::Status MapBlock(MetaStore& store, uint64_t ino, uint64_t index,
                      uint64_t block) {
  std::unique_ptr<MetaBatch> batch = store.NewBatch();
  if (block == 0) {
    batch->DeleteBlock(ino, index);
  } else {
    batch->PutBlock(ino, index, block);
  }
  return store.Commit(batch.get());
}

TEST_F(EtcdSharedVolumeTest,
       TwoMembersNeverHoldOneGroupAndAStoppedOnesAreFree) {
  Member a = Join("a");
  Member b = Join("b");
  ASSERT_NE(a.volume, nullptr);
  ASSERT_NE(b.volume, nullptr);
  ASSERT_TRUE(a.volume->Follow([](uint64_t, bool) {}).ok());
  ASSERT_TRUE(b.volume->Follow([](uint64_t, bool) {}).ok());
  absl::StatusOr<uint64_t> got = a.volume->ClaimGroup({0, 1});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 0u);
  got = b.volume->ClaimGroup({0, 1});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 1u);
  EXPECT_TRUE(absl::IsNotFound(b.volume->ClaimGroup({0, 1}).status()));
  EXPECT_TRUE(absl::IsNotFound(a.volume->ClaimGroup({1}).status()));

  const std::string a_member = a.volume->member();
  absl::StatusOr<bool> serves = b.volume->Serves(a_member);
  ASSERT_TRUE(serves.ok());
  EXPECT_TRUE(*serves);
  // a stops: its lease is revoked, and with it its membership and groups.
  a.volume.reset();
  a.store.reset();
  a.membership.reset();
  serves = b.volume->Serves(a_member);
  ASSERT_TRUE(serves.ok());
  EXPECT_FALSE(*serves);
  got = b.volume->ClaimGroup({0});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 0u);
}

TEST_F(EtcdSharedVolumeTest, TheFeedReportsTheMapsThenEveryChangeOfThem) {
  Member a = Join("a");
  Member b = Join("b");
  ASSERT_NE(a.volume, nullptr);
  ASSERT_NE(b.volume, nullptr);
  ASSERT_TRUE(MapBlock(*a.store, 5, 0, 100).ok());
  Reports reports;
  ASSERT_TRUE(b.volume
                  ->Follow([&](uint64_t block, bool mapped) {
                    reports.Block(block, mapped);
                  })
                  .ok());
  b.volume->SetChangeListener(
      [&](const StoreChange& change) { reports.Change(change); });
  // Before Follow returned: the snapshot.
  EXPECT_EQ(reports.Blocks(1),
            (std::vector<std::pair<uint64_t, bool>>{{100, true}}));
  // After: a's changes and b's own, in commit order; a remap reports both
  // blocks.
  ASSERT_TRUE(MapBlock(*a.store, 5, 1, 101).ok());
  ASSERT_TRUE(MapBlock(*b.store, 5, 0, 0).ok());
  ASSERT_TRUE(MapBlock(*a.store, 5, 1, 102).ok());
  EXPECT_EQ(
      reports.Blocks(5),
      (std::vector<std::pair<uint64_t, bool>>{
          {100, true}, {101, true}, {100, false}, {101, false}, {102, true}}));

  // Other changes go to the listener, own ones marked so.
  std::unique_ptr<MetaBatch> batch = a.store->NewBatch();
  meta::InodeRecord inode;
  inode.set_size(7);
  batch->PutInode(9, inode);
  ASSERT_TRUE(a.store->Commit(batch.get()).ok());
  batch = b.store->NewBatch();
  batch->PutInode(10, inode);
  ASSERT_TRUE(b.store->Commit(batch.get()).ok());
  const StoreChange by_a = reports.ChangeOf(meta_keys::InodeKey(9));
  EXPECT_FALSE(by_a.deleted);
  EXPECT_FALSE(by_a.own);
  meta::InodeRecord parsed;
  ASSERT_TRUE(parsed.ParseFromString(by_a.value));
  EXPECT_EQ(parsed.size(), 7u);
  EXPECT_TRUE(reports.ChangeOf(meta_keys::InodeKey(10)).own);
  b.volume->SetChangeListener(nullptr);
}

TEST_F(EtcdSharedVolumeTest, SharedAndSoleServingNeverMix) {
  absl::StatusOr<std::unique_ptr<EtcdServingLock>> sole =
      EtcdServingLock::Acquire(LockOptions("sole", false), kNeverWaits,
                               nullptr);
  ASSERT_TRUE(sole.ok()) << sole.status();
  absl::StatusOr<std::unique_ptr<EtcdServingLock>> member =
      EtcdServingLock::Acquire(LockOptions("member", true), kNeverWaits,
                               nullptr);
  EXPECT_TRUE(absl::IsFailedPrecondition(member.status())) << member.status();
  EXPECT_NE(member.status().message().find("sole"), std::string::npos)
      << member.status();
  sole->reset();

  member = EtcdServingLock::Acquire(LockOptions("member", true), kNeverWaits,
                                    nullptr);
  ASSERT_TRUE(member.ok()) << member.status();
  sole = EtcdServingLock::Acquire(LockOptions("sole", false), kNeverWaits,
                                  nullptr);
  EXPECT_TRUE(absl::IsFailedPrecondition(sole.status())) << sole.status();
}

}  // namespace
}  // namespace rbfs
