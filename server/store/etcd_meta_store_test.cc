#include "server/store/etcd_meta_store.h"

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "common/errno_status.h"
#include "gtest/gtest.h"
#include "testing/etcd_server.h"

namespace rbfs {
namespace {

class EtcdMetaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(testing::SharedEtcdServer(), nullptr); }

  // Options for a prefix of this test's own.
  EtcdOptions Options(const std::string& volume = "") const {
    EtcdOptions options;
    options.endpoints = {testing::SharedEtcdServer()->endpoint()};
    options.prefix =
        "/rbfs-test/" +
        std::string(
            ::testing::UnitTest::GetInstance()->current_test_info()->name()) +
        volume;
    return options;
  }

  std::unique_ptr<EtcdMetaStore> OpenStore(
      const EtcdOptions& options,
      std::function<absl::Status()> before_flush = nullptr) {
    absl::StatusOr<std::unique_ptr<EtcdMetaStore>> store =
        EtcdMetaStore::Open(options, std::move(before_flush));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  static std::vector<uint64_t> BlocksOf(const MetaStore& store, uint64_t ino) {
    std::vector<uint64_t> indexes;
    EXPECT_TRUE(store
                    .ForEachBlockOf(ino, 0,
                                    [&](uint64_t index, uint64_t) {
                                      indexes.push_back(index);
                                      return true;
                                    })
                    .ok());
    return indexes;
  }
};

TEST_F(EtcdMetaStoreTest, BatchesApplyWholeAndTheLastChangeOfARecordWins) {
  std::unique_ptr<EtcdMetaStore> store = OpenStore(Options());
  ASSERT_NE(store, nullptr);
  std::unique_ptr<MetaBatch> batch = store->NewBatch();
  meta::InodeRecord inode;
  inode.set_size(42);
  batch->PutInode(7, inode);
  batch->PutInode(8, inode);
  batch->DeleteInode(8);
  batch->DeleteInode(9);
  batch->PutInode(9, inode);
  meta::DirentRecord d;
  d.set_ino(7);
  d.set_cookie(3);
  batch->PutDirent(1, "seven", d);
  batch->PutBlock(7, 0, 99);
  batch->PutBlock(7, 5, 100);
  batch->PutOrphan(7, "");
  meta::CallRecord call;
  call.set_ino(7);
  batch->PutCall(3, 1, call);
  batch->PutCall(3, 2, call);
  batch->DeleteCall(3, 2);
  batch->PutXattr(7, "user.a", std::string("v\0w", 3));
  ASSERT_TRUE(store->Commit(batch.get()).ok());
  ASSERT_TRUE(store->Sync().ok());

  EXPECT_EQ(store->GetInode(7)->size(), 42u);
  EXPECT_TRUE(absl::IsNotFound(store->GetInode(8).status()));
  EXPECT_EQ(store->GetInode(9)->size(), 42u);
  EXPECT_EQ(store->GetDirent(1, "seven")->ino(), 7u);
  EXPECT_EQ(*store->GetBlock(7, 0), 99u);
  EXPECT_EQ(*store->GetBlock(7, 1), 0u) << "a hole";
  EXPECT_EQ(store->GetCall(3, 1)->ino(), 7u);
  EXPECT_TRUE(absl::IsNotFound(store->GetCall(3, 2).status()));
  EXPECT_EQ(*store->GetXattr(7, "user.a"), std::string("v\0w", 3));
  std::vector<std::string> names;
  ASSERT_TRUE(store
                  ->ForEachDirent(1, 0,
                                  [&](const meta::DirentRecord& e) {
                                    names.push_back(e.name());
                                    return true;
                                  })
                  .ok());
  EXPECT_EQ(names, std::vector<std::string>{"seven"});
  std::vector<uint64_t> orphans;
  ASSERT_TRUE(store
                  ->ForEachOrphan([&](uint64_t ino, absl::string_view) {
                    orphans.push_back(ino);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(orphans, std::vector<uint64_t>{7});
}

TEST_F(EtcdMetaStoreTest, DeletingRunsOfBlocksRemovesExactlyThoseBlocks) {
  std::unique_ptr<EtcdMetaStore> store = OpenStore(Options());
  ASSERT_NE(store, nullptr);
  std::unique_ptr<MetaBatch> batch = store->NewBatch();
  for (uint64_t i = 0; i < 10; ++i) batch->PutBlock(5, i, 100 + i);
  for (uint64_t i = 0; i < 3; ++i) batch->PutBlock(6, i, 200 + i);
  batch->PutBlock(4, 9, 300);
  ASSERT_TRUE(store->Commit(batch.get()).ok());

  batch = store->NewBatch();
  // A run (2-5), a single block (7), and a run that ends where another
  // inode's blocks begin (ino 4's last, ino 5's first, both deleted).
  for (uint64_t i = 2; i <= 5; ++i) batch->DeleteBlock(5, i);
  batch->DeleteBlock(5, 7);
  batch->DeleteBlock(4, 9);
  batch->DeleteBlock(5, 0);
  // A block re-mapped inside a deleted stretch splits it.
  batch->DeleteBlock(6, 0);
  batch->PutBlock(6, 1, 999);
  batch->DeleteBlock(6, 2);
  ASSERT_TRUE(store->Commit(batch.get()).ok());

  EXPECT_EQ(BlocksOf(*store, 5), (std::vector<uint64_t>{1, 6, 8, 9}));
  // A request's range, holes as 0; nothing of the next inode.
  EXPECT_EQ(*store->GetBlocks(5, 5, 7),
            (std::vector<uint64_t>{0, 106, 0, 108, 109, 0, 0}));
  EXPECT_EQ(*store->GetBlocks(4, 9, 3), (std::vector<uint64_t>{0, 0, 0}));
  EXPECT_EQ(BlocksOf(*store, 6), (std::vector<uint64_t>{1}));
  EXPECT_EQ(*store->GetBlock(6, 1), 999u);
  EXPECT_TRUE(BlocksOf(*store, 4).empty());
}

TEST_F(EtcdMetaStoreTest, ListingsPageThroughMoreKeysThanAPageInOrder) {
  EtcdOptions options = Options();
  options.page_keys = 3;
  std::unique_ptr<EtcdMetaStore> store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  std::unique_ptr<MetaBatch> batch = store->NewBatch();
  meta::InodeRecord inode;
  std::vector<uint64_t> want;
  for (uint64_t ino = 250; ino < 261; ++ino) {
    batch->PutInode(ino, inode);
    want.push_back(ino);
  }
  ASSERT_TRUE(store->Commit(batch.get()).ok());
  std::vector<uint64_t> seen;
  ASSERT_TRUE(store
                  ->ForEachInode([&](uint64_t ino) {
                    seen.push_back(ino);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(seen, want);
  seen.clear();
  ASSERT_TRUE(store
                  ->ForEachInode([&](uint64_t ino) {
                    seen.push_back(ino);
                    return seen.size() < 5;
                  })
                  .ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{250, 251, 252, 253, 254}));
}

TEST_F(EtcdMetaStoreTest, PrefixesKeepVolumesApart) {
  // "/v" is a prefix of "/vw" as a string; the store's "/" keeps them apart.
  std::unique_ptr<EtcdMetaStore> v = OpenStore(Options("/v"));
  std::unique_ptr<EtcdMetaStore> vw = OpenStore(Options("/vw"));
  ASSERT_NE(v, nullptr);
  ASSERT_NE(vw, nullptr);
  std::unique_ptr<MetaBatch> batch = vw->NewBatch();
  meta::InodeRecord inode;
  batch->PutInode(3, inode);
  batch->PutXattr(3, "user.x", "1");
  ASSERT_TRUE(vw->Commit(batch.get()).ok());
  EXPECT_TRUE(absl::IsNotFound(v->GetInode(3).status()));
  int seen = 0;
  ASSERT_TRUE(
      v->ForEachXattr([&](uint64_t, absl::string_view, absl::string_view) {
         return ++seen > 0;
       }).ok());
  EXPECT_EQ(seen, 0);
  EXPECT_TRUE(vw->GetInode(3).ok());
}

TEST_F(EtcdMetaStoreTest, ExistsOnceASuperblockIsCommitted) {
  EtcdMetaStoreFactory factory(Options());
  absl::StatusOr<bool> exists = factory.Exists();
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_FALSE(*exists);
  absl::StatusOr<std::unique_ptr<MetaStore>> store = factory.Open(nullptr);
  ASSERT_TRUE(store.ok()) << store.status();
  std::unique_ptr<MetaBatch> batch = (*store)->NewBatch();
  meta::Superblock sb;
  sb.set_block_size(4096);
  batch->PutSuperblock(sb);
  ASSERT_TRUE((*store)->Commit(batch.get()).ok());
  EXPECT_EQ(factory.Exists().value_or(false), true);
  EXPECT_EQ((*store)->GetSuperblock()->block_size(), 4096u);
}

TEST_F(EtcdMetaStoreTest, ABatchThatMapsBlocksSyncsTheVolumeFirst) {
  int syncs = 0;
  absl::Status sync_result;
  std::unique_ptr<EtcdMetaStore> store = OpenStore(Options(), [&] {
    ++syncs;
    return sync_result;
  });
  ASSERT_NE(store, nullptr);
  std::unique_ptr<MetaBatch> batch = store->NewBatch();
  meta::InodeRecord inode;
  batch->PutInode(2, inode);
  batch->DeleteBlock(2, 0);
  ASSERT_TRUE(store->Commit(batch.get()).ok());
  EXPECT_EQ(syncs, 0) << "nothing mapped, nothing to order";

  batch = store->NewBatch();
  batch->PutBlock(2, 0, 17);
  ASSERT_TRUE(store->Commit(batch.get()).ok());
  EXPECT_EQ(syncs, 1);

  // A volume that cannot sync: the mapping must not commit.
  sync_result = ErrnoError(EIO, "volume sync failed");
  batch = store->NewBatch();
  batch->PutBlock(2, 1, 18);
  inode.set_size(8192);
  batch->PutInode(2, inode);
  EXPECT_EQ(StatusToErrno(store->Commit(batch.get())), EIO);
  EXPECT_EQ(syncs, 2);
  EXPECT_EQ(*store->GetBlock(2, 1), 0u);
  EXPECT_EQ(store->GetInode(2)->size(), 0u);
}

TEST_F(EtcdMetaStoreTest, EndpointsItCannotUseAreRefused) {
  const std::vector<std::vector<std::string>> bad = {
      {},
      {" "},
      {"https://127.0.0.1:2379"},
      {"etcd-a:2379", "etcd-b:2379"},
      {"127.0.0.1:2379", "300.0.0.1:2379"},
  };
  for (const std::vector<std::string>& endpoints : bad) {
    EtcdOptions options = Options();
    options.endpoints = endpoints;
    EXPECT_TRUE(
        absl::IsInvalidArgument(EtcdMetaStore::Open(options, nullptr).status()))
        << endpoints.size();
  }
  EtcdOptions two = Options();
  // The first answers nothing (nothing listens on port 1).
  two.endpoints = {"127.0.0.1:1",
                   "http://" + testing::SharedEtcdServer()->endpoint()};
  std::unique_ptr<EtcdMetaStore> store = OpenStore(two);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(absl::IsNotFound(store->GetInode(1).status()))
      << "the member that answers is used";
}

meta::InodeRecord InodeOfSize(uint64_t size) {
  meta::InodeRecord inode;
  inode.set_size(size);
  return inode;
}

absl::Status PutInode(MetaStore& store, uint64_t ino, uint64_t size) {
  std::unique_ptr<MetaBatch> batch = store.NewBatch();
  batch->PutInode(ino, InodeOfSize(size));
  return store.Commit(batch.get());
}

// Two servers on one prefix: a and b.
TEST_F(EtcdMetaStoreTest, ACommitWhoseReadsChangedMeanwhileAppliesNothing) {
  std::unique_ptr<EtcdMetaStore> a = OpenStore(Options());
  std::unique_ptr<EtcdMetaStore> b = OpenStore(Options());
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(PutInode(*b, 5, 1).ok());
  {
    MetaReadScope reads(a.get());
    ASSERT_EQ(a->GetInode(5)->size(), 1u);
    ASSERT_TRUE(PutInode(*b, 5, 2).ok());
    std::unique_ptr<MetaBatch> batch = a->NewBatch();
    batch->PutInode(5, InodeOfSize(3));
    batch->PutOrphan(5, "");
    EXPECT_TRUE(absl::IsAborted(a->Commit(batch.get())));
  }
  EXPECT_EQ(a->GetInode(5)->size(), 2u) << "b's change stands";
  bool orphan = false;
  ASSERT_TRUE(a->ForEachOrphan([&](uint64_t, absl::string_view) {
                 return orphan = true;
               }).ok());
  EXPECT_FALSE(orphan) << "nothing of the aborted batch was applied";
  // Run again, it reads b's change and commits.
  {
    MetaReadScope reads(a.get());
    ASSERT_EQ(a->GetInode(5)->size(), 2u);
    EXPECT_TRUE(PutInode(*a, 5, 3).ok());
  }
  EXPECT_EQ(b->GetInode(5)->size(), 3u);
}

TEST_F(EtcdMetaStoreTest, ANameBothSawAbsentIsCreatedOnce) {
  std::unique_ptr<EtcdMetaStore> a = OpenStore(Options());
  std::unique_ptr<EtcdMetaStore> b = OpenStore(Options());
  ASSERT_TRUE(a && b);
  MetaReadScope a_reads(a.get());
  MetaReadScope b_reads(b.get());
  ASSERT_TRUE(absl::IsNotFound(a->GetDirent(1, "x").status()));
  ASSERT_TRUE(absl::IsNotFound(b->GetDirent(1, "x").status()));
  meta::DirentRecord d;
  d.set_ino(10);
  std::unique_ptr<MetaBatch> batch = a->NewBatch();
  batch->PutDirent(1, "x", d);
  ASSERT_TRUE(a->Commit(batch.get()).ok());
  d.set_ino(11);
  batch = b->NewBatch();
  batch->PutDirent(1, "x", d);
  EXPECT_TRUE(absl::IsAborted(b->Commit(batch.get())));
  EXPECT_EQ(b->GetDirent(1, "x")->ino(), 10u);
}

TEST_F(EtcdMetaStoreTest, OnlyReadsInsideAScopeSinceTheLastCommitGuard) {
  std::unique_ptr<EtcdMetaStore> a = OpenStore(Options());
  std::unique_ptr<EtcdMetaStore> b = OpenStore(Options());
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(PutInode(*a, 6, 1).ok());
  // Outside a scope: the last writer wins.
  ASSERT_TRUE(a->GetInode(6).ok());
  ASSERT_TRUE(PutInode(*b, 6, 2).ok());
  EXPECT_TRUE(PutInode(*a, 6, 3).ok());
  // A read before the operation's previous commit guards only that one.
  MetaReadScope reads(a.get());
  ASSERT_TRUE(a->GetInode(6).ok());
  EXPECT_TRUE(PutInode(*a, 7, 1).ok());
  ASSERT_TRUE(PutInode(*b, 6, 4).ok());
  EXPECT_TRUE(PutInode(*a, 8, 1).ok());
}

TEST_F(EtcdMetaStoreTest, ReservedInodeNumbersNeverOverlap) {
  std::unique_ptr<EtcdMetaStore> a = OpenStore(Options());
  std::unique_ptr<EtcdMetaStore> b = OpenStore(Options());
  ASSERT_TRUE(a && b);
  constexpr int kThreads = 4;
  constexpr int kEach = 25;
  constexpr uint64_t kCount = 10;
  std::vector<std::vector<uint64_t>> firsts(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      EtcdMetaStore* store = t % 2 ? a.get() : b.get();
      for (int i = 0; i < kEach; ++i) {
        absl::StatusOr<uint64_t> first = store->ReserveInodes(100, kCount);
        ASSERT_TRUE(first.ok()) << first.status();
        firsts[t].push_back(*first);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<uint64_t> all;
  for (const auto& f : firsts) all.insert(all.end(), f.begin(), f.end());
  ASSERT_EQ(all.size(), size_t{kThreads * kEach});
  std::sort(all.begin(), all.end());
  EXPECT_GE(all.front(), 100u);
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_GE(all[i], all[i - 1] + kCount) << "ranges overlap at " << all[i];
  }
  // A floor above the counter moves it.
  EXPECT_EQ(*a->ReserveInodes(1 << 20, kCount), uint64_t{1} << 20);
  EXPECT_EQ(*b->ReserveInodes(0, kCount), (uint64_t{1} << 20) + kCount);
}

// Its own etcd, which it stops.
TEST(EtcdMetaStoreOutageTest, AnEtcdGoneIsEioAfterTheDeadlineNotAHang) {
  absl::StatusOr<std::unique_ptr<testing::EtcdServer>> etcd =
      testing::EtcdServer::Start();
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  EtcdOptions options;
  options.endpoints = {(*etcd)->endpoint()};
  options.op_timeout = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<EtcdMetaStore>> store =
      EtcdMetaStore::Open(options, nullptr);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE(absl::IsNotFound((*store)->GetInode(1).status()));
  ASSERT_TRUE((*etcd)->Stop().ok());

  const absl::Time began = absl::Now();
  EXPECT_EQ(StatusToErrno((*store)->GetInode(1).status()), EIO);
  std::unique_ptr<MetaBatch> batch = (*store)->NewBatch();
  batch->PutOrphan(1, "");
  EXPECT_EQ(StatusToErrno((*store)->Commit(batch.get())), EIO);
  EXPECT_EQ(
      StatusToErrno((*store)->ForEachInode([](uint64_t) { return true; })),
      EIO);
  // Three calls of a 1 s deadline each; far less than a hang.
  EXPECT_LT(absl::Now() - began, absl::Seconds(30));
}

}  // namespace
}  // namespace rbfs
