// Two Filesystems on one namespace in etcd (issue 18): what two servers
// sharing a volume's metadata rely on. Their operations on the same
// directories and names race for real, from a thread per filesystem, and
// the store's optimistic concurrency (a commit whose reads changed applies
// nothing and the operation runs again) must keep every directory, link
// count and parent pointer exact, as the offline checker verifies. File
// data is not shared yet (each server's allocator is its own), so these
// operations create no blocks.
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/barrier.h"
#include "common/errno_status.h"
#include "gtest/gtest.h"
#include "server/fs/filesystem.h"
#include "server/store/checker.h"
#include "server/store/etcd_meta_store.h"
#include "server/store/local_stores.h"
#include "testing/etcd_server.h"

namespace rbfs {
namespace {

constexpr InodeRef kRoot{Filesystem::kRootIno, Filesystem::kRootGeneration};

InodeRef RefOf(const Entry& e) { return InodeRef{e.ino, e.inode.generation()}; }

int Err(const absl::Status& s) { return StatusToErrno(s); }
template <typename T>
int Err(const absl::StatusOr<T>& s) {
  return StatusToErrno(s.status());
}

class SharedNamespaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(testing::SharedEtcdServer(), nullptr);
    const std::string name =
        ::testing::UnitTest::GetInstance()->current_test_info()->name();
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::string(tmp ? tmp : "/tmp") + "/shared_" + name;
    std::filesystem::remove_all(dir_);
    prefix_ = "/rbfs-shared-test/" + name + "/";
    ASSERT_TRUE(testing::SharedEtcdServer()->DeletePrefix(prefix_).ok());
    absl::StatusOr<Stores> stores = TestStores();
    ASSERT_TRUE(stores.ok()) << stores.status();
    Filesystem::Options options;
    options.stores = *stores;
    // The first formats; the second opens what the first made, as a
    // second server does.
    for (std::unique_ptr<Filesystem>* fs : {&a_, &b_}) {
      absl::StatusOr<std::unique_ptr<Filesystem>> opened =
          Filesystem::Open(options);
      ASSERT_TRUE(opened.ok()) << opened.status();
      *fs = *std::move(opened);
    }
  }

  // One volume file; the metadata under this test's prefix.
  absl::StatusOr<Stores> TestStores() const {
    LocalStoreOptions local;
    local.data_dir = dir_;
    local.block_size = 4096;
    local.volume_size = 64 << 20;
    absl::StatusOr<Stores> stores = MakeLocalStores(local);
    if (!stores.ok()) return stores;
    EtcdOptions etcd;
    etcd.endpoints = {testing::SharedEtcdServer()->endpoint()};
    etcd.prefix = prefix_;
    stores->meta = std::make_shared<EtcdMetaStoreFactory>(etcd);
    return stores;
  }

  // Closes both and runs the offline checker.
  void ExpectClean() {
    a_.reset();
    b_.reset();
    absl::StatusOr<Stores> stores = TestStores();
    ASSERT_TRUE(stores.ok()) << stores.status();
    absl::StatusOr<CheckReport> report =
        CheckStores(*stores->meta, *stores->volume);
    ASSERT_TRUE(report.ok()) << report.status();
    for (const std::string& p : report->problems) ADD_FAILURE() << p;
  }

  // Runs one(fs) on a thread per filesystem at once.
  template <typename Fn>
  void OnBoth(const Fn& one) {
    absl::Barrier* start = new absl::Barrier(2);
    auto run = [&](Filesystem* fs, int which) {
      if (start->Block()) delete start;
      one(fs, which);
    };
    std::thread other(run, b_.get(), 1);
    run(a_.get(), 0);
    other.join();
  }

  std::string dir_;
  std::string prefix_;
  std::unique_ptr<Filesystem> a_;
  std::unique_ptr<Filesystem> b_;
};

TEST_F(SharedNamespaceTest, OneNameCreatedByBothAtOnceExistsOnce) {
  constexpr int kRounds = 30;
  for (int round = 0; round < kRounds; ++round) {
    const std::string name = absl::StrCat("n", round);
    int errs[2] = {-1, -1};
    uint64_t inos[2] = {0, 0};
    OnBoth([&](Filesystem* fs, int which) {
      absl::StatusOr<Entry> e =
          round % 2 ? fs->MkDir(kRoot, name, 0755, Creator{})
                    : fs->MkNod(kRoot, name, S_IFREG | 0644, 0, Creator{},
                                /*exclusive=*/true, /*open=*/false);
      errs[which] = Err(e);
      if (e.ok()) inos[which] = e->ino;
    });
    EXPECT_TRUE((errs[0] == 0 && errs[1] == EEXIST) ||
                (errs[0] == EEXIST && errs[1] == 0))
        << name << ": " << errs[0] << ", " << errs[1];
    const uint64_t winner = inos[0] ? inos[0] : inos[1];
    EXPECT_EQ(a_->Lookup(kRoot, name)->ino, winner);
    EXPECT_EQ(b_->Lookup(kRoot, name)->ino, winner);
  }
  absl::StatusOr<Entry> root = b_->GetAttr(kRoot);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->inode.entries(), uint64_t{kRounds});
  EXPECT_EQ(root->inode.nlink(), 2u + kRounds / 2);
  ExpectClean();
}

TEST_F(SharedNamespaceTest, CrossedRenamesNeverDetachALoop) {
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    absl::StatusOr<Entry> x = a_->MkDir(kRoot, "x", 0755, Creator{});
    absl::StatusOr<Entry> y = b_->MkDir(kRoot, "y", 0755, Creator{});
    ASSERT_TRUE(x.ok() && y.ok()) << x.status() << y.status();
    // a moves x into y while b moves y into x: both at once would leave
    // x and y in each other, reachable from nowhere.
    int errs[2] = {-1, -1};
    OnBoth([&](Filesystem* fs, int which) {
      errs[which] = which == 0 ? Err(fs->Rename(kRoot, "x", RefOf(*y), "x", 0))
                               : Err(fs->Rename(kRoot, "y", RefOf(*x), "y", 0));
    });
    const int moved = (errs[0] == 0) + (errs[1] == 0);
    ASSERT_EQ(moved, 1) << "round " << round << ": " << errs[0] << ", "
                        << errs[1];
    const int refused = errs[0] == 0 ? errs[1] : errs[0];
    EXPECT_TRUE(refused == EINVAL || refused == ENOENT) << refused;
    // One of them is still in the root, holding the other.
    const bool x_top = errs[1] == 0;
    absl::StatusOr<Entry> top = a_->Lookup(kRoot, x_top ? "x" : "y");
    ASSERT_TRUE(top.ok()) << top.status();
    absl::StatusOr<Entry> inner = b_->Lookup(RefOf(*top), x_top ? "y" : "x");
    ASSERT_TRUE(inner.ok()) << inner.status();
    ASSERT_TRUE(a_->RmDir(RefOf(*top), x_top ? "y" : "x").ok());
    ASSERT_TRUE(b_->RmDir(kRoot, x_top ? "x" : "y").ok());
  }
  ExpectClean();
}

TEST_F(SharedNamespaceTest, RandomChurnInSharedDirectoriesStaysConsistent) {
  constexpr int kDirs = 3;
  constexpr int kNames = 12;
  constexpr int kOpsPerThread = 300;
  std::vector<Entry> dirs;
  for (int d = 0; d < kDirs; ++d) {
    absl::StatusOr<Entry> e =
        a_->MkDir(kRoot, absl::StrCat("d", d), 0755, Creator{});
    ASSERT_TRUE(e.ok()) << e.status();
    dirs.push_back(*e);
  }
  // Two threads per filesystem; every result is one a real system call
  // may give (a name taken, gone, or a directory not empty).
  std::vector<std::thread> threads;
  std::atomic<int> unexpected{0};
  std::atomic<int> done_ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Filesystem* fs = t % 2 ? b_.get() : a_.get();
      std::mt19937 random(1234 + t);
      auto pick_dir = [&] { return RefOf(dirs[random() % kDirs]); };
      auto pick_name = [&] { return absl::StrCat("f", random() % kNames); };
      for (int i = 0; i < kOpsPerThread; ++i) {
        int err = 0;
        const InodeRef dir = pick_dir();
        const std::string name = pick_name();
        switch (random() % 6) {
          case 0:
            err = Err(fs->MkNod(dir, name, S_IFREG | 0644, 0, Creator{},
                                /*exclusive=*/true, /*open=*/false));
            break;
          case 1:
            err = Err(fs->MkDir(dir, name, 0755, Creator{}));
            break;
          case 2:
            err = Err(fs->Unlink(dir, name));
            break;
          case 3:
            err = Err(fs->RmDir(dir, name));
            break;
          case 4:
            err = Err(fs->Rename(dir, name, pick_dir(), pick_name(), 0));
            break;
          case 5: {
            absl::StatusOr<Entry> target = fs->Lookup(dir, name);
            err = target.ok()
                      ? Err(fs->Link(RefOf(*target), pick_dir(), pick_name()))
                      : Err(target);
            break;
          }
        }
        if (err == 0) {
          ++done_ok;
        } else if (err != EEXIST && err != ENOENT && err != ENOTEMPTY &&
                   err != EISDIR && err != ENOTDIR && err != EPERM &&
                   err != ESTALE) {
          ++unexpected;
          ADD_FAILURE() << "thread " << t << " op " << i << ": errno " << err;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_GT(done_ok.load(), 100) << "the workload did little";
  ExpectClean();
}

}  // namespace
}  // namespace rbfs
