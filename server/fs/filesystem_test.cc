#include "server/fs/filesystem.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/errno_status.h"
#include "common/file_contents.h"
#include "common/log.h"
#include "gtest/gtest.h"
#include "protos/rbfs.pb.h"
#include "server/fs/posix_acl.h"
#include "server/store/checker.h"
#include "server/store/local_stores.h"
#include "server/store/rocks_meta_store.h"
#include "server/testing/acl_xattr.h"
#ifdef RBFS_FILESYSTEM_TEST_ON_CEPH
#include "server/store/rbd_volume.h"
#include "testing/ceph_cluster.h"
#endif
#ifdef RBFS_FILESYSTEM_TEST_ON_ETCD
#include "server/store/etcd_meta_store.h"
#include "testing/etcd_server.h"
#endif
#include "testing/fake_clock.h"

namespace rbfs {
namespace {

using ::rbfs::testing::AclXattr;

constexpr InodeRef kRoot{Filesystem::kRootIno, Filesystem::kRootGeneration};
constexpr uint32_t kBlock = 4096;
constexpr absl::Duration kLease = absl::Seconds(30);

InodeRef RefOf(const Entry& e) { return InodeRef{e.ino, e.inode.generation()}; }

template <typename T>
int Err(const absl::StatusOr<T>& s) {
  return StatusToErrno(s.status());
}
int Err(const absl::Status& s) { return StatusToErrno(s); }

#ifdef RBFS_FILESYSTEM_TEST_ON_CEPH
// The _ceph variant: one loopback cluster for the whole run (started by the
// first test that needs it, stopped when the run ends), an image per test.
class CephEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { cluster_.reset(); }
  testing::CephCluster* cluster() {
    if (cluster_ == nullptr) {
      absl::StatusOr<std::unique_ptr<testing::CephCluster>> started =
          testing::CephCluster::Start();
      if (!started.ok()) {
        ADD_FAILURE() << started.status();
        return nullptr;
      }
      cluster_ = *std::move(started);
    }
    return cluster_.get();
  }

 private:
  std::unique_ptr<testing::CephCluster> cluster_;
};

CephEnvironment* const ceph_environment = static_cast<CephEnvironment*>(
    ::testing::AddGlobalTestEnvironment(new CephEnvironment));

testing::CephCluster* SharedCeph() { return ceph_environment->cluster(); }
#endif

std::string TestName() {
  return ::testing::UnitTest::GetInstance()->current_test_info()->name();
}

class FilesystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::string(tmp ? tmp : "/tmp") + "/fs_" + TestName();
    Wipe();
    Reopen();
  }

  // Removes the data directory (and the test's RBD image or etcd keys):
  // the next Reopen() makes a new filesystem.
  void Wipe() {
    fs_.reset();
    std::filesystem::remove_all(dir_);
#ifdef RBFS_FILESYSTEM_TEST_ON_CEPH
    ASSERT_NE(SharedCeph(), nullptr);
    ASSERT_TRUE(SharedCeph()->RemoveImage(TestName()).ok());
#endif
#ifdef RBFS_FILESYSTEM_TEST_ON_ETCD
    ASSERT_NE(testing::SharedEtcdServer(), nullptr);
    ASSERT_TRUE(testing::SharedEtcdServer()->DeletePrefix(EtcdPrefix()).ok());
#endif
  }

  // The stores of dir_: the local pair, or with the volume in an RBD image
  // of this test's name (the _ceph variant of this test), or with the
  // metadata in etcd under a prefix of this test's name (the _etcd one).
  absl::StatusOr<Stores> TestStores(uint64_t volume_size = 64 << 20) const {
    LocalStoreOptions local;
    local.data_dir = dir_;
    local.block_size = kBlock;
    local.volume_size = volume_size;
    absl::StatusOr<Stores> stores = MakeLocalStores(local);
    if (stores.ok() && on_ceph_) stores->volume = CephVolume(volume_size);
#ifdef RBFS_FILESYSTEM_TEST_ON_ETCD
    if (stores.ok()) {
      EtcdOptions etcd;
      etcd.endpoints = {testing::SharedEtcdServer()->endpoint()};
      etcd.prefix = EtcdPrefix();
      stores->meta = std::make_shared<EtcdMetaStoreFactory>(etcd);
    }
#endif
    return stores;
  }

  static std::string EtcdPrefix() {
    return "/rbfs-fs-test/" + TestName() + "/";
  }

  std::shared_ptr<const BlockDeviceFactory> CephVolume(
      uint64_t volume_size) const {
#ifdef RBFS_FILESYSTEM_TEST_ON_CEPH
    RbdOptions rbd;
    rbd.conf_path = SharedCeph()->conf();
    rbd.pool = SharedCeph()->pool();
    rbd.image = TestName();
    rbd.block_size = kBlock;
    rbd.volume_size = volume_size;
    return std::make_shared<RbdVolumeFactory>(rbd);
#else
    (void)volume_size;
    return nullptr;
#endif
  }

  // The offline checker on the test's stores.
  absl::StatusOr<CheckReport> CheckNow() const {
    absl::StatusOr<Stores> stores = TestStores();
    if (!stores.ok()) return stores.status();
    return CheckStores(*stores->meta, *stores->volume);
  }

  void Reopen(uint64_t volume_size = 64 << 20, absl::Duration lease = kLease) {
    fs_.reset();
    absl::StatusOr<Stores> stores = TestStores(volume_size);
    ASSERT_TRUE(stores.ok()) << stores.status();
    Filesystem::Options options;
    options.stores = *stores;
    options.lease_timeout = lease;
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<Filesystem>> fs = Filesystem::Open(options);
    ASSERT_TRUE(fs.ok()) << fs.status();
    fs_ = std::move(*fs);
  }

  // Closes the filesystem and runs the offline checker on it.
  void ExpectClean() {
    fs_.reset();
    absl::StatusOr<CheckReport> report = CheckNow();
    ASSERT_TRUE(report.ok()) << report.status();
    for (const std::string& p : report->problems) ADD_FAILURE() << p;
  }

  Entry Create(InodeRef parent, const std::string& name, uint32_t mode = 0644) {
    absl::StatusOr<Entry> e =
        fs_->MkNod(parent, name, S_IFREG | mode, 0, Creator{1000, 1000},
                   /*exclusive=*/true, /*open=*/false);
    EXPECT_TRUE(e.ok()) << name << ": " << e.status();
    return e.ok() ? *e : Entry{};
  }

  Entry Dir(InodeRef parent, const std::string& name) {
    absl::StatusOr<Entry> e = fs_->MkDir(parent, name, 0755, Creator{});
    EXPECT_TRUE(e.ok()) << name << ": " << e.status();
    return e.ok() ? *e : Entry{};
  }

  std::string ReadAll(InodeRef id, uint64_t offset = 0,
                      uint32_t length = 1 << 20) {
    std::string out;
    absl::Status s = fs_->Read(id, offset, length, &out);
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  void Write(InodeRef id, uint64_t offset, const std::string& data) {
    absl::StatusOr<uint64_t> size = fs_->Write(id, offset, data);
    ASSERT_TRUE(size.ok()) << size.status();
  }

  std::string dir_;
  FakeClock clock_;
  std::unique_ptr<Filesystem> fs_;
#ifdef RBFS_FILESYSTEM_TEST_ON_CEPH
  static constexpr bool on_ceph_ = true;
#else
  static constexpr bool on_ceph_ = false;
#endif
};

TEST_F(FilesystemTest, RootIsADirectoryWithTwoLinks) {
  absl::StatusOr<Entry> root = fs_->GetAttr(kRoot);
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(S_ISDIR(root->inode.mode()));
  EXPECT_EQ(root->inode.nlink(), 2u);
  EXPECT_EQ(Err(fs_->GetAttr(InodeRef{1, 99})), ESTALE);
  EXPECT_EQ(Err(fs_->GetAttr(InodeRef{12345, 1})), ESTALE);
}

TEST_F(FilesystemTest, CreateLookupAndNameRules) {
  Entry f = Create(kRoot, "file", 0640);
  EXPECT_EQ(f.inode.mode(), S_IFREG | 0640u);
  EXPECT_EQ(f.inode.uid(), 1000u);
  absl::StatusOr<Entry> found = fs_->Lookup(kRoot, "file");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->ino, f.ino);
  EXPECT_EQ(Err(fs_->Lookup(kRoot, "nope")), ENOENT);
  EXPECT_EQ(
      Err(fs_->MkNod(kRoot, "file", S_IFREG | 0644, 0, Creator{}, true, false)),
      EEXIST);
  // Non-exclusive create of an existing file opens it.
  absl::StatusOr<Entry> again =
      fs_->MkNod(kRoot, "file", S_IFREG | 0644, 0, Creator{}, false, false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ino, f.ino);

  EXPECT_EQ(Err(fs_->MkNod(kRoot, std::string(256, 'x'), S_IFREG, 0, Creator{},
                           true, false)),
            ENAMETOOLONG);
  EXPECT_TRUE(fs_->MkNod(kRoot, std::string(255, 'x'), S_IFREG, 0, Creator{},
                         true, false)
                  .ok());
  EXPECT_EQ(Err(fs_->MkDir(kRoot, "a/b", 0755, Creator{})), EINVAL);
  EXPECT_EQ(Err(fs_->MkDir(kRoot, std::string("a\0b", 3), 0755, Creator{})),
            EINVAL);
  EXPECT_EQ(Err(fs_->MkDir(kRoot, ".", 0755, Creator{})), EINVAL);
  EXPECT_EQ(Err(fs_->Unlink(kRoot, "..")), EINVAL);
  EXPECT_EQ(Err(fs_->Lookup(RefOf(f), "x")), ENOTDIR);
  ExpectClean();
}

TEST_F(FilesystemTest, DirectoryLinkCountsAndRemoval) {
  Entry a = Dir(kRoot, "a");
  Entry b = Dir(RefOf(a), "b");
  Create(RefOf(a), "f");
  EXPECT_EQ(fs_->GetAttr(kRoot)->inode.nlink(), 3u);
  EXPECT_EQ(fs_->GetAttr(RefOf(a))->inode.nlink(), 3u);
  EXPECT_EQ(fs_->Lookup(RefOf(b), "..")->ino, a.ino);
  EXPECT_EQ(Err(fs_->RmDir(kRoot, "a")), ENOTEMPTY);
  EXPECT_EQ(Err(fs_->Unlink(kRoot, "a")), EISDIR);
  EXPECT_EQ(Err(fs_->RmDir(RefOf(a), "f")), ENOTDIR);
  ASSERT_TRUE(fs_->Unlink(RefOf(a), "f").ok());
  ASSERT_TRUE(fs_->RmDir(RefOf(a), "b").ok());
  EXPECT_EQ(fs_->GetAttr(RefOf(a))->inode.nlink(), 2u);
  EXPECT_EQ(Err(fs_->GetAttr(RefOf(b))), ESTALE);
  ASSERT_TRUE(fs_->RmDir(kRoot, "a").ok());
  EXPECT_EQ(fs_->GetAttr(kRoot)->inode.nlink(), 2u);
  EXPECT_EQ(
      Err(fs_->MkNod(RefOf(a), "late", S_IFREG, 0, Creator{}, true, false)),
      ESTALE);
  ExpectClean();
}

TEST_F(FilesystemTest, HolesZerosShortReadsAndExtension) {
  InodeRef f = RefOf(Create(kRoot, "f"));
  Write(f, 3 * kBlock + 10, "tail");
  EXPECT_EQ(fs_->GetAttr(f)->inode.size(), 3 * kBlock + 14);
  EXPECT_EQ(fs_->GetAttr(f)->inode.blocks_used(), 1u) << "holes stay unmapped";
  std::string all = ReadAll(f);
  ASSERT_EQ(all.size(), 3 * kBlock + 14);
  EXPECT_TRUE(all.substr(0, 3 * kBlock + 10) ==
              std::string(3 * kBlock + 10, '\0'));
  EXPECT_EQ(all.substr(3 * kBlock + 10), "tail");
  EXPECT_EQ(ReadAll(f, 3 * kBlock + 12, 100), "il") << "short at EOF";
  EXPECT_EQ(ReadAll(f, 10 * kBlock, 100), "") << "past EOF";
  // A write spanning blocks, partly over a mapped block, partly a hole.
  std::string span(2 * kBlock, 'z');
  Write(f, 2 * kBlock + 100, span);
  std::string back = ReadAll(f, 2 * kBlock + 100, 2 * kBlock);
  EXPECT_TRUE(back == span);
  EXPECT_EQ(ReadAll(f, 2 * kBlock, 100), std::string(100, '\0'));
  ExpectClean();
}

TEST_F(FilesystemTest, TruncateFreesBlocksAndExposesOnlyZeros) {
  InodeRef f = RefOf(Create(kRoot, "f"));
  Write(f, 0, std::string(8 * kBlock, 'a'));
  const uint64_t free_before = fs_->StatFs().free_blocks;
  SetAttrArgs shrink;
  shrink.valid = SETATTR_SIZE;
  shrink.size = kBlock + 10;
  ASSERT_TRUE(fs_->SetAttr(f, shrink).ok());
  EXPECT_EQ(fs_->GetAttr(f)->inode.blocks_used(), 2u);
  EXPECT_EQ(fs_->StatFs().free_blocks, free_before + 6);
  SetAttrArgs grow;
  grow.valid = SETATTR_SIZE;
  grow.size = 4 * kBlock;
  ASSERT_TRUE(fs_->SetAttr(f, grow).ok());
  std::string all = ReadAll(f);
  ASSERT_EQ(all.size(), 4 * kBlock);
  EXPECT_TRUE(all.substr(0, kBlock + 10) == std::string(kBlock + 10, 'a'));
  EXPECT_TRUE(all.substr(kBlock + 10) == std::string(3 * kBlock - 10, '\0'));
  InodeRef d = RefOf(Dir(kRoot, "d"));
  EXPECT_EQ(Err(fs_->SetAttr(d, grow)), EISDIR);
  SetAttrArgs huge;
  huge.valid = SETATTR_SIZE;
  huge.size = Filesystem::kMaxFileSize + 1;
  EXPECT_EQ(Err(fs_->SetAttr(f, huge)), EFBIG);
  EXPECT_EQ(Err(fs_->Write(f, Filesystem::kMaxFileSize, "x")), EFBIG);
  ExpectClean();
}

TEST_F(FilesystemTest, FreedBlocksNeverShowOldData) {
  InodeRef secret = RefOf(Create(kRoot, "secret"));
  Write(secret, 0, std::string(16 * kBlock, 'S'));
  ASSERT_TRUE(fs_->Unlink(kRoot, "secret").ok());
  ASSERT_TRUE(fs_->SyncAll().ok());  // releases the quarantined blocks
  for (int i = 0; i < 16; ++i) {
    InodeRef f = RefOf(Create(kRoot, "new" + std::to_string(i)));
    Write(f, 100, "x");
    SetAttrArgs grow;
    grow.valid = SETATTR_SIZE;
    grow.size = kBlock;
    ASSERT_TRUE(fs_->SetAttr(f, grow).ok());
    std::string all = ReadAll(f);
    EXPECT_EQ(all.find('S'), std::string::npos) << "file " << i;
  }
  ExpectClean();
}

TEST_F(FilesystemTest, HardLinksAndSymlinks) {
  Entry f = Create(kRoot, "f");
  Write(RefOf(f), 0, "shared");
  InodeRef d = RefOf(Dir(kRoot, "d"));
  absl::StatusOr<Entry> l = fs_->Link(RefOf(f), d, "g");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->inode.nlink(), 2u);
  EXPECT_EQ(Err(fs_->Link(RefOf(f), d, "g")), EEXIST);
  EXPECT_EQ(Err(fs_->Link(d, kRoot, "dirlink")), EPERM);
  ASSERT_TRUE(fs_->Unlink(kRoot, "f").ok());
  EXPECT_EQ(fs_->GetAttr(RefOf(f))->inode.nlink(), 1u);
  EXPECT_EQ(ReadAll(RefOf(f)), "shared");

  absl::StatusOr<Entry> s = fs_->Symlink(kRoot, "s", "d/g", Creator{});
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(S_ISLNK(s->inode.mode()));
  EXPECT_EQ(s->inode.size(), 3u);
  EXPECT_EQ(*fs_->ReadLink(RefOf(*s)), "d/g");
  EXPECT_EQ(Err(fs_->ReadLink(RefOf(f))), EINVAL);
  EXPECT_EQ(Err(fs_->Symlink(kRoot, "e", "", Creator{})), ENOENT);
  EXPECT_EQ(Err(fs_->Symlink(kRoot, "long", std::string(4096, 'x'), Creator{})),
            ENAMETOOLONG);
  ExpectClean();
}

TEST_F(FilesystemTest, RenameFollowsLinuxRules) {
  InodeRef a = RefOf(Dir(kRoot, "a"));
  InodeRef b = RefOf(Dir(kRoot, "b"));
  InodeRef sub = RefOf(Dir(a, "sub"));
  Entry f = Create(a, "f");
  Entry g = Create(b, "g");
  Dir(b, "empty");
  InodeRef full = RefOf(Dir(b, "full"));
  Create(full, "x");

  EXPECT_EQ(Err(fs_->Rename(a, "missing", b, "y", 0)), ENOENT);
  EXPECT_EQ(Err(fs_->Rename(kRoot, "a", sub, "loop", 0)), EINVAL);
  EXPECT_EQ(Err(fs_->Rename(kRoot, "a", a, "self", 0)), EINVAL);
  EXPECT_EQ(Err(fs_->Rename(a, "sub", b, "g", 0)), ENOTDIR);
  EXPECT_EQ(Err(fs_->Rename(a, "f", b, "empty", 0)), EISDIR);
  EXPECT_EQ(Err(fs_->Rename(a, "sub", b, "full", 0)), ENOTEMPTY);
  EXPECT_EQ(Err(fs_->Rename(a, "f", b, "g", 1)), EEXIST);
  EXPECT_EQ(Err(fs_->Rename(a, "f", b, "none", 2)), ENOENT);
  EXPECT_EQ(Err(fs_->Rename(a, "f", b, "g", 3)), EINVAL);

  // Over an existing file: the old target goes away.
  ASSERT_TRUE(fs_->Rename(a, "f", b, "g", 0).ok());
  EXPECT_EQ(fs_->Lookup(b, "g")->ino, f.ino);
  EXPECT_EQ(Err(fs_->Lookup(a, "f")), ENOENT);
  EXPECT_EQ(Err(fs_->GetAttr(RefOf(g))), ESTALE);

  // A directory over an empty directory, across parents.
  ASSERT_TRUE(fs_->Rename(a, "sub", b, "empty", 0).ok());
  EXPECT_EQ(fs_->GetAttr(a)->inode.nlink(), 2u);
  EXPECT_EQ(fs_->GetAttr(b)->inode.nlink(), 4u);  // empty(=sub), full
  EXPECT_EQ(fs_->Lookup(sub, "..")->ino, b.ino);

  // Exchange a file and a directory across parents.
  Create(a, "h");
  ASSERT_TRUE(fs_->Rename(a, "h", b, "full", 2).ok());
  EXPECT_TRUE(S_ISDIR(fs_->Lookup(a, "h")->inode.mode()));
  EXPECT_TRUE(S_ISREG(fs_->Lookup(b, "full")->inode.mode()));
  EXPECT_EQ(fs_->GetAttr(a)->inode.nlink(), 3u);
  EXPECT_EQ(fs_->GetAttr(b)->inode.nlink(), 3u);
  EXPECT_EQ(fs_->Lookup(full, "..")->ino, a.ino);

  // Two names of one file: nothing happens.
  ASSERT_TRUE(fs_->Link(RefOf(f), b, "g2").ok());
  ASSERT_TRUE(fs_->Rename(b, "g", b, "g2", 0).ok());
  EXPECT_EQ(fs_->GetAttr(RefOf(f))->inode.nlink(), 2u);
  // Same directory rename.
  ASSERT_TRUE(fs_->Rename(b, "g2", b, "g3", 0).ok());
  EXPECT_EQ(fs_->Lookup(b, "g3")->ino, f.ino);
  ExpectClean();
}

TEST_F(FilesystemTest, AttributesAndTimes) {
  Entry f = Create(kRoot, "f", 04755);
  SetAttrArgs chown;
  chown.valid = SETATTR_UID | SETATTR_GID;
  chown.uid = 7;
  chown.gid = 8;
  absl::StatusOr<Entry> e = fs_->SetAttr(RefOf(f), chown);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->inode.uid(), 7u);
  EXPECT_EQ(e->inode.gid(), 8u);
  EXPECT_EQ(e->inode.mode() & 07777, 0755u) << "chown drops set-uid";
  EXPECT_GE(e->inode.ctime_ns(), f.inode.ctime_ns());

  SetAttrArgs times;
  times.valid = SETATTR_ATIME | SETATTR_MTIME;
  times.atime_ns = 1000000000123;
  times.mtime_ns = 2000000000456;
  e = fs_->SetAttr(RefOf(f), times);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->inode.atime_ns(), 1000000000123);
  EXPECT_EQ(e->inode.mtime_ns(), 2000000000456);
  Write(RefOf(f), 0, "x");
  EXPECT_GT(fs_->GetAttr(RefOf(f))->inode.mtime_ns(), 2000000000456);

  SetAttrArgs chmod;
  chmod.valid = SETATTR_MODE;
  chmod.mode = S_IFDIR | 0600;  // the type bits cannot change
  e = fs_->SetAttr(RefOf(f), chmod);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->inode.mode(), S_IFREG | 0600u);
  ExpectClean();
}

TEST_F(FilesystemTest, UnlinkedOpenFileLivesUntilRelease) {
  absl::StatusOr<Entry> f =
      fs_->MkNod(kRoot, "f", S_IFREG | 0644, 0, Creator{}, true, /*open=*/true);
  ASSERT_TRUE(f.ok());
  Write(RefOf(*f), 0, std::string(4 * kBlock, 'q'));
  ASSERT_TRUE(fs_->SyncAll().ok());
  const uint64_t free_with_file = fs_->StatFs().free_blocks;
  ASSERT_TRUE(fs_->Unlink(kRoot, "f").ok());
  EXPECT_EQ(Err(fs_->Lookup(kRoot, "f")), ENOENT);
  EXPECT_TRUE(ReadAll(RefOf(*f)) == std::string(4 * kBlock, 'q'));
  Write(RefOf(*f), 4 * kBlock, "more");
  EXPECT_EQ(fs_->GetAttr(RefOf(*f))->inode.nlink(), 0u);
  ASSERT_TRUE(fs_->Release(RefOf(*f)).ok());
  EXPECT_EQ(Err(fs_->GetAttr(RefOf(*f))), ESTALE);
  EXPECT_EQ(fs_->StatFs().free_blocks, free_with_file + 4);
  EXPECT_EQ(fs_->StatFs().free_blocks, fs_->StatFs().total_blocks);
  ExpectClean();
}

TEST_F(FilesystemTest, OrphansOfACrashedRunAreReclaimedAfterTheGrace) {
  absl::StatusOr<Entry> f =
      fs_->MkNod(kRoot, "f", S_IFREG | 0644, 0, Creator{}, true, /*open=*/true);
  ASSERT_TRUE(f.ok());
  Write(RefOf(*f), 0, std::string(3 * kBlock, 'o'));
  ASSERT_TRUE(fs_->Unlink(kRoot, "f").ok());
  Reopen();  // the opener is gone
  // Nobody reclaims it within the grace period, so it goes after it.
  clock_.Advance(kLease - absl::Seconds(1));
  fs_->SweepNow();
  EXPECT_TRUE(fs_->GetAttr(RefOf(*f)).ok());
  clock_.Advance(absl::Seconds(1));
  fs_->SweepNow();
  EXPECT_EQ(Err(fs_->GetAttr(RefOf(*f))), ESTALE);
  EXPECT_EQ(fs_->StatFs().free_blocks, fs_->StatFs().total_blocks);
  ExpectClean();
}

TEST_F(FilesystemTest, HandleReclaimedAfterRestartKeepsAnUnlinkedFile) {
  const OpenHandle handle{/*session=*/42, /*handle=*/1};
  absl::StatusOr<Entry> f = fs_->MkNod(kRoot, "f", S_IFREG | 0644, 0, Creator{},
                                       true, /*open=*/true, {}, handle);
  ASSERT_TRUE(f.ok());
  Write(RefOf(*f), 0, "still here");
  ASSERT_TRUE(fs_->Unlink(kRoot, "f").ok());
  Reopen();
  OpenHandle reclaim = handle;
  reclaim.reclaim = true;
  ASSERT_TRUE(fs_->Open(RefOf(*f), O_RDWR | O_TRUNC, reclaim).ok());
  // Well past the grace period, the renewed handle still holds the file,
  // untruncated.
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(fs_->KeepAlive(42, 0).ok());
    clock_.Advance(kLease / 2);
    fs_->SweepNow();
  }
  EXPECT_EQ(ReadAll(RefOf(*f)), "still here");
  ASSERT_TRUE(fs_->Release(RefOf(*f), handle).ok());
  EXPECT_EQ(Err(fs_->GetAttr(RefOf(*f))), ESTALE);
  ExpectClean();
}

TEST_F(FilesystemTest, OpeningAReplacedFileIsStale) {
  Entry old = Create(kRoot, "f");
  Write(RefOf(old), 0, "old");
  // Someone holds the old file, so it outlives its name.
  ASSERT_TRUE(fs_->Open(RefOf(old), O_RDONLY, OpenHandle{5, 1}).ok());
  Entry replacement = Create(kRoot, "f.new");
  ASSERT_TRUE(fs_->Rename(kRoot, "f.new", kRoot, "f", 0).ok());
  // A mount whose name cache still maps "f" to the old inode must look the
  // name up again instead of reading the replaced content.
  EXPECT_EQ(Err(fs_->Open(RefOf(old), O_RDONLY | O_TRUNC, OpenHandle{6, 1})),
            ESTALE);
  EXPECT_EQ(ReadAll(RefOf(old)), "old");
  // Its holder may still re-register and repeat its own open.
  EXPECT_TRUE(fs_->Open(RefOf(old), O_RDONLY, OpenHandle{5, 1}).ok());
  EXPECT_TRUE(
      fs_->Open(RefOf(old), O_RDONLY, OpenHandle{5, 2, /*reclaim=*/true}).ok());
  ASSERT_TRUE(fs_->Release(RefOf(old), OpenHandle{5, 1}).ok());
  ASSERT_TRUE(fs_->Release(RefOf(old), OpenHandle{5, 2}).ok());
  EXPECT_EQ(Err(fs_->GetAttr(RefOf(old))), ESTALE);
  EXPECT_TRUE(fs_->Open(RefOf(replacement), O_RDONLY).ok());
  ExpectClean();
}

TEST_F(FilesystemTest, ExpiredSessionReleasesItsHandles) {
  const std::string log = ::testing::TempDir() + "/expired_session.log";
  std::remove(log.c_str());
  ASSERT_TRUE(SetLogDestination(log).ok());
  ASSERT_FALSE(fs_->KeepAlive(7, 0, "ipv4:10.1.2.3:9")->known);
  EXPECT_TRUE(fs_->KeepAlive(7, 0)->known);
  const OpenHandle handle{/*session=*/7, /*handle=*/3};
  absl::StatusOr<Entry> f = fs_->MkNod(kRoot, "f", S_IFREG | 0644, 0, Creator{},
                                       true, /*open=*/true, {}, handle);
  ASSERT_TRUE(f.ok());
  // Opening the same handle again does not count twice.
  ASSERT_TRUE(fs_->Open(RefOf(*f), O_RDONLY, handle).ok());
  Write(RefOf(*f), 0, std::string(2 * kBlock, 'x'));
  ASSERT_TRUE(fs_->Unlink(kRoot, "f").ok());
  EXPECT_TRUE(fs_->GetAttr(RefOf(*f)).ok());
  // The mount stops renewing: one lease later its handle is released and
  // the unlinked file freed.
  clock_.Advance(kLease - absl::Seconds(1));
  fs_->SweepNow();
  EXPECT_TRUE(fs_->GetAttr(RefOf(*f)).ok());
  clock_.Advance(absl::Seconds(1));
  fs_->SweepNow();
  EXPECT_EQ(Err(fs_->GetAttr(RefOf(*f))), ESTALE);
  // One line per event, naming the session and where it came from.
  ASSERT_TRUE(SetLogDestination("stderr").ok());
  const std::string logged = ReadFileContents(log).value_or("");
  EXPECT_NE(logged.find("session 0000000000000007 from ipv4:10.1.2.3:9 began"),
            std::string::npos)
      << logged;
  EXPECT_NE(logged.find("session 0000000000000007 from ipv4:10.1.2.3:9 "
                        "expired (no renewal for 30s): released its 1 open "
                        "files and its locks on 0 files"),
            std::string::npos)
      << logged;
  EXPECT_FALSE(fs_->KeepAlive(7, 0)->known);
  EXPECT_TRUE(fs_->Release(RefOf(*f), handle).ok());  // a late repeat
  EXPECT_EQ(fs_->StatFs().free_blocks, fs_->StatFs().total_blocks);
  ExpectClean();
}

TEST_F(FilesystemTest, RepeatedNumberedCallsGetTheFirstResult) {
  const CallRef create{9, 1};
  absl::StatusOr<Entry> f = fs_->MkNod(kRoot, "f", S_IFREG | 0644, 0, Creator{},
                                       /*exclusive=*/true, false, create);
  ASSERT_TRUE(f.ok());
  // The connection broke before the reply: the repeat is answered, not run.
  absl::StatusOr<Entry> again =
      fs_->MkNod(kRoot, "f", S_IFREG | 0644, 0, Creator{}, /*exclusive=*/true,
                 false, create);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ino, f->ino);
  // Another call of the same name is a new call.
  EXPECT_EQ(Err(fs_->MkNod(kRoot, "f", S_IFREG | 0644, 0, Creator{}, true,
                           false, CallRef{9, 2})),
            EEXIST);
  ASSERT_TRUE(fs_->Rename(kRoot, "f", kRoot, "g", 0, CallRef{9, 3}).ok());
  EXPECT_TRUE(fs_->Rename(kRoot, "f", kRoot, "g", 0, CallRef{9, 3}).ok());
  ASSERT_TRUE(fs_->Unlink(kRoot, "g", CallRef{9, 4}).ok());
  // The results survive a restart of the server.
  Reopen();
  EXPECT_TRUE(fs_->Unlink(kRoot, "g", CallRef{9, 4}).ok());
  EXPECT_EQ(Err(fs_->Unlink(kRoot, "g", CallRef{9, 5})), ENOENT);
  // Once the mount says they were answered, they are forgotten.
  ASSERT_TRUE(fs_->KeepAlive(9, 5).ok());
  EXPECT_EQ(Err(fs_->Unlink(kRoot, "g", CallRef{9, 4})), ENOENT);
  // A failed call left no record and runs again.
  ASSERT_TRUE(fs_->MkDir(kRoot, "g", 0755, Creator{}, CallRef{9, 5}).ok());
  ExpectClean();
}

TEST_F(FilesystemTest, VolumeFullIsEnospcWithNothingHalfApplied) {
  Wipe();
  Reopen(/*volume_size=*/64 * kBlock);  // 63 data blocks
  InodeRef f = RefOf(Create(kRoot, "f"));
  Write(f, 0, std::string(60 * kBlock, 'a'));
  InodeRef g = RefOf(Create(kRoot, "g"));
  EXPECT_EQ(Err(fs_->Write(g, 0, std::string(4 * kBlock, 'b'))), ENOSPC);
  EXPECT_EQ(fs_->GetAttr(g)->inode.size(), 0u);
  EXPECT_EQ(fs_->GetAttr(g)->inode.blocks_used(), 0u);
  EXPECT_EQ(fs_->StatFs().free_blocks, 3u);
  Write(g, 0, std::string(3 * kBlock, 'b'));
  EXPECT_EQ(fs_->StatFs().free_blocks, 0u);
  // Deleting makes room again, once the delete is committed.
  ASSERT_TRUE(fs_->Unlink(kRoot, "f").ok());
  InodeRef h = RefOf(Create(kRoot, "h"));
  Write(h, 0, std::string(10 * kBlock, 'c'));
  EXPECT_TRUE(ReadAll(g) == std::string(3 * kBlock, 'b'));
  ExpectClean();
}

TEST_F(FilesystemTest, StateSurvivesReopen) {
  InodeRef d = RefOf(Dir(kRoot, "d"));
  Entry f = Create(d, "f");
  Write(RefOf(f), 5, "persisted");
  Reopen();
  absl::StatusOr<Entry> again = fs_->Lookup(d, "f");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ino, f.ino);
  EXPECT_EQ(ReadAll(RefOf(*again), 5), "persisted");
  // New inodes after a restart never collide with old (ino, generation).
  Entry g = Create(d, "g");
  EXPECT_NE(g.ino, f.ino);
  EXPECT_NE(g.inode.generation(), f.inode.generation());
  ExpectClean();
}

TEST_F(FilesystemTest, ReaddirResumesWithoutSkipsOrRepeatsUnderChurn) {
  InodeRef d = RefOf(Dir(kRoot, "d"));
  std::set<std::string> survivors;
  for (int i = 0; i < 300; ++i) {
    std::string name = "f" + std::to_string(i);
    Create(d, name);
    if (i % 3 != 0) survivors.insert(name);
  }
  std::multiset<std::string> seen;
  uint64_t cookie = 0;
  int round = 0;
  for (;;) {
    absl::StatusOr<DirListing> page = fs_->ReadDir(d, cookie, 17, round % 2);
    ASSERT_TRUE(page.ok());
    for (const DirItem& item : page->items) {
      seen.insert(item.name);
      cookie = item.cookie;
      EXPECT_GE(item.cookie, 3u);
    }
    // Between pages: delete the doomed names and create new ones.
    for (int k = 0; k < 5; ++k) {
      int doomed = (round * 5 + k) * 3;
      if (doomed < 300) {
        ASSERT_TRUE(fs_->Unlink(d, "f" + std::to_string(doomed)).ok());
      }
      Create(d, "new" + std::to_string(round) + "_" + std::to_string(k));
    }
    ++round;
    if (page->eof) break;
    ASSERT_LT(round, 1000);
  }
  for (const std::string& name : survivors) {
    EXPECT_EQ(seen.count(name), 1u) << name;
  }
  for (const std::string& name : seen) {
    EXPECT_EQ(seen.count(name), 1u) << name << " repeated";
  }
  EXPECT_EQ(Err(fs_->ReadDir(RefOf(Create(kRoot, "file")), 0, 10, false)),
            ENOTDIR);
  ExpectClean();
}

// Found by tests/fuzz: a non-exclusive create over an existing symlink
// answered with the symlink as if it were the created file; the kernel
// accepts only a regular file from FUSE create.
TEST_F(FilesystemTest, NonExclusiveCreateOpensOnlyRegularFiles) {
  ASSERT_TRUE(fs_->Symlink(kRoot, "link", "target", Creator{}).ok());
  ASSERT_TRUE(
      fs_->MkNod(kRoot, "fifo", S_IFIFO | 0644, 0, Creator{}, true, false)
          .ok());
  Dir(kRoot, "dir");
  EXPECT_EQ(Err(fs_->MkNod(kRoot, "link", S_IFREG | 0644, 0, Creator{},
                           /*exclusive=*/false, /*open=*/true)),
            EEXIST);
  EXPECT_EQ(Err(fs_->MkNod(kRoot, "fifo", S_IFREG | 0644, 0, Creator{},
                           /*exclusive=*/false, /*open=*/true)),
            EEXIST);
  EXPECT_EQ(Err(fs_->MkNod(kRoot, "dir", S_IFREG | 0644, 0, Creator{},
                           /*exclusive=*/false, /*open=*/true)),
            EISDIR);
  ExpectClean();
}

// Found by tests/fuzz: cookie + 1 wrapped to 0 and listed the whole
// directory again.
TEST_F(FilesystemTest, ReaddirAfterTheLastPossibleCookieIsEmpty) {
  Create(kRoot, "f");
  absl::StatusOr<DirListing> page = fs_->ReadDir(
      kRoot, std::numeric_limits<uint64_t>::max(), 10, /*with_attrs=*/false);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_TRUE(page->items.empty());
  EXPECT_TRUE(page->eof);
}

TEST_F(FilesystemTest, ParallelDisjointWritersToOneFile) {
  InodeRef f = RefOf(Create(kRoot, "f"));
  constexpr int kThreads = 8;
  constexpr int kPieces = 40;
  constexpr uint32_t kPiece = 3000;  // straddles block boundaries
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int p = 0; p < kPieces; ++p) {
        uint64_t slot = static_cast<uint64_t>(p) * kThreads + t;
        std::string data(kPiece, static_cast<char>('A' + t));
        ASSERT_TRUE(fs_->Write(f, slot * kPiece, data).ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::string all;
  ASSERT_TRUE(fs_->Read(f, 0, kThreads * kPieces * kPiece, &all).ok());
  ASSERT_EQ(all.size(), kThreads * kPieces * kPiece);
  for (uint64_t slot = 0; slot < kThreads * kPieces; ++slot) {
    char want = static_cast<char>('A' + slot % kThreads);
    ASSERT_TRUE(all.substr(slot * kPiece, kPiece) == std::string(kPiece, want))
        << "slot " << slot;
  }
  ExpectClean();
}

TEST_F(FilesystemTest, CheckerReportsDamage) {
  Entry f = Create(kRoot, "f");
  Write(RefOf(f), 0, std::string(2 * kBlock, 'd'));
  Dir(kRoot, "d");
  fs_.reset();
  {
    absl::StatusOr<Stores> stores = TestStores();
    ASSERT_TRUE(stores.ok()) << stores.status();
    absl::StatusOr<std::unique_ptr<MetaStore>> meta =
        stores->meta->Open(nullptr);
    ASSERT_TRUE(meta.ok()) << meta.status();
    std::unique_ptr<MetaBatch> batch = (*meta)->NewBatch();
    meta::DirentRecord dangling;
    dangling.set_ino(999);
    dangling.set_cookie(77);
    dangling.set_type(S_IFREG);
    batch->PutDirent(Filesystem::kRootIno, "ghost", dangling);
    // A second file claims the first file's block 0.
    meta::InodeRecord thief;
    thief.set_generation(1);
    thief.set_mode(S_IFREG | 0644);
    thief.set_nlink(1);
    thief.set_size(kBlock);
    thief.set_blocks_used(1);
    batch->PutInode(500, thief);
    meta::DirentRecord thief_entry;
    thief_entry.set_ino(500);
    thief_entry.set_cookie(78);
    thief_entry.set_type(S_IFREG);
    batch->PutDirent(Filesystem::kRootIno, "thief", thief_entry);
    absl::StatusOr<uint64_t> block = (*meta)->GetBlock(f.ino, 0);
    ASSERT_TRUE(block.ok());
    batch->PutBlock(500, 0, *block);
    ASSERT_TRUE((*meta)->Commit(batch.get()).ok());
    ASSERT_TRUE((*meta)->Sync().ok());
  }
  absl::StatusOr<CheckReport> report = CheckNow();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->clean());
  std::string all;
  for (const std::string& p : report->problems) all += p + "\n";
  EXPECT_NE(all.find("dangling"), std::string::npos) << all;
  EXPECT_NE(all.find("owned twice"), std::string::npos) << all;
  EXPECT_NE(all.find("entries, record says"), std::string::npos) << all;
  // The server refuses to serve a volume whose blocks are owned twice.
  absl::StatusOr<Stores> stores = TestStores();
  ASSERT_TRUE(stores.ok()) << stores.status();
  Filesystem::Options options;
  options.stores = *stores;
  EXPECT_FALSE(Filesystem::Open(options).ok());
}

// Blocks in memory, shared by the opens of one MemoryVolumeFactory.
struct MemoryBlocks {
  absl::Mutex mu;
  std::map<uint64_t, std::string> blocks ABSL_GUARDED_BY(mu);
};

class MemoryDevice : public BlockDevice {
 public:
  static constexpr uint64_t kBlocks = 256;

  explicit MemoryDevice(std::shared_ptr<MemoryBlocks> blocks)
      : blocks_(std::move(blocks)) {}
  uint32_t block_size() const override { return kBlock; }
  uint64_t block_count() const override { return kBlocks; }
  absl::Status Read(uint64_t block, uint32_t offset, char* data,
                    uint32_t length) const override {
    absl::MutexLock lock(&blocks_->mu);
    std::string& b = blocks_->blocks[block];
    b.resize(kBlock);
    b.copy(data, length, offset);
    return absl::OkStatus();
  }
  absl::Status Write(uint64_t block, uint32_t offset,
                     absl::string_view data) const override {
    absl::MutexLock lock(&blocks_->mu);
    std::string& b = blocks_->blocks[block];
    b.resize(kBlock);
    b.replace(offset, data.size(), data.data(), data.size());
    return absl::OkStatus();
  }
  absl::Status Sync() const override { return absl::OkStatus(); }

 private:
  const std::shared_ptr<MemoryBlocks> blocks_;
};

// A volume in memory whose open reports what the test says, to pin down
// Open's format rules against any BlockDeviceFactory. Used from the test's
// thread only.
class MemoryVolumeFactory : public BlockDeviceFactory {
 public:
  bool Exists() const override { return exists; }
  absl::StatusOr<OpenedVolume> Open(bool may_format) const override {
    last_may_format = may_format;
    OpenedVolume opened;
    opened.device = std::make_unique<MemoryDevice>(blocks_);
    opened.volume_id = volume_id;
    opened.formatted = formatted;
    opened.zeroed = true;
    return opened;
  }
  std::string location() const override { return "memory:volume"; }

  bool exists = false;
  bool formatted = true;
  uint64_t volume_id = 7;
  mutable bool last_may_format = false;

 private:
  const std::shared_ptr<MemoryBlocks> blocks_ =
      std::make_shared<MemoryBlocks>();
};

class FilesystemOpenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string dir =
        std::string(tmp ? tmp : "/tmp") + "/fs_open_" + TestName();
    std::filesystem::remove_all(dir);
    meta_path_ = LocalMetaPath(dir);
    std::filesystem::create_directories(dir);
    options_.stores.volume = volume_;
    options_.stores.meta = std::make_shared<RocksMetaStoreFactory>(meta_path_);
  }

  // Opens, checks that a file survives a reopen, and closes.
  void FormatAndReopen() {
    {
      absl::StatusOr<std::unique_ptr<Filesystem>> fs =
          Filesystem::Open(options_);
      ASSERT_TRUE(fs.ok()) << fs.status();
      EXPECT_TRUE(volume_->last_may_format);
      absl::StatusOr<Entry> f =
          (*fs)->MkNod(kRoot, "f", S_IFREG | 0644, 0, {}, true, false);
      ASSERT_TRUE(f.ok()) << f.status();
      ASSERT_TRUE(
          (*fs)->Write({f->ino, f->inode.generation()}, 0, "data").ok());
    }
    volume_->exists = true;
    volume_->formatted = false;
    absl::StatusOr<std::unique_ptr<Filesystem>> fs = Filesystem::Open(options_);
    ASSERT_TRUE(fs.ok()) << fs.status();
    EXPECT_FALSE(volume_->last_may_format);
    absl::StatusOr<Entry> f = (*fs)->Lookup(kRoot, "f");
    ASSERT_TRUE(f.ok()) << f.status();
    std::string data;
    ASSERT_TRUE(
        (*fs)->Read({f->ino, f->inode.generation()}, 0, 16, &data).ok());
    EXPECT_EQ(data, "data");
  }

  std::shared_ptr<MemoryVolumeFactory> volume_ =
      std::make_shared<MemoryVolumeFactory>();
  std::string meta_path_;
  Filesystem::Options options_;
};

TEST_F(FilesystemOpenTest, RunsOnAnyBlockDeviceFactory) { FormatAndReopen(); }

TEST_F(FilesystemOpenTest, NewStoreRefusesAVolumeItDidNotFormat) {
  volume_->exists = true;
  volume_->formatted = false;
  absl::StatusOr<std::unique_ptr<Filesystem>> fs = Filesystem::Open(options_);
  EXPECT_EQ(Err(fs), EEXIST);
  EXPECT_EQ(fs.status().message(),
            "volume memory:volume does not belong to the new metadata store "
            "in " +
                meta_path_ + "; it is already an rbfs volume");
}

TEST_F(FilesystemOpenTest, RefusesAMissingVolumeOfAnExistingStore) {
  FormatAndReopen();
  volume_->exists = false;
  absl::StatusOr<std::unique_ptr<Filesystem>> fs = Filesystem::Open(options_);
  EXPECT_EQ(Err(fs), ENOENT);
  EXPECT_EQ(
      fs.status().message(),
      "volume memory:volume is missing but metadata exists in " + meta_path_);
}

TEST_F(FilesystemOpenTest, RefusesAVolumeWithAnotherId) {
  FormatAndReopen();
  volume_->volume_id = 8;
  absl::StatusOr<std::unique_ptr<Filesystem>> fs = Filesystem::Open(options_);
  EXPECT_EQ(Err(fs), EINVAL);
  EXPECT_EQ(fs.status().message(),
            "volume memory:volume does not belong to the metadata store in " +
                meta_path_);
}

TEST_F(FilesystemOpenTest, NeedsBothStores) {
  options_.stores.volume = nullptr;
  EXPECT_EQ(Err(Filesystem::Open(options_)), EINVAL);
}

TEST_F(FilesystemTest, ExtendedAttributesRoundTripWithExactErrors) {
  const Entry f = Create(kRoot, "f");
  const InodeRef id = RefOf(f);
  EXPECT_EQ(Err(fs_->GetXattr(id, "user.a")), ENODATA);
  EXPECT_TRUE(fs_->ListXattr(id)->empty());

  const std::string binary("\0\xff\x01value\0", 9);
  clock_.Advance(absl::Seconds(1));
  absl::StatusOr<Entry> set = fs_->SetXattr(id, "user.a", binary, 0);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_GT(set->inode.ctime_ns(), f.inode.ctime_ns());
  EXPECT_EQ(set->inode.mtime_ns(), f.inode.mtime_ns());
  EXPECT_EQ(*fs_->GetXattr(id, "user.a"), binary);
  ASSERT_TRUE(fs_->SetXattr(id, "trusted.t", "", 0).ok());
  ASSERT_TRUE(fs_->SetXattr(id, "security.s", "label", 0).ok());
  EXPECT_EQ(*fs_->GetXattr(id, "trusted.t"), "");
  EXPECT_EQ(*fs_->ListXattr(id),
            (std::vector<std::string>{"security.s", "trusted.t", "user.a"}));

  EXPECT_EQ(Err(fs_->SetXattr(id, "user.a", "x", XATTR_CREATE)), EEXIST);
  EXPECT_EQ(Err(fs_->SetXattr(id, "user.b", "x", XATTR_REPLACE)), ENODATA);
  EXPECT_EQ(Err(fs_->SetXattr(id, "user.b", "x", XATTR_CREATE | XATTR_REPLACE)),
            EINVAL);
  ASSERT_TRUE(fs_->SetXattr(id, "user.a", "new", XATTR_REPLACE).ok());
  EXPECT_EQ(*fs_->GetXattr(id, "user.a"), "new");

  EXPECT_EQ(Err(fs_->SetXattr(id, "system.posix_acl_access", "x", 0)), EINVAL);
  EXPECT_EQ(Err(fs_->SetXattr(id, "system.other", "x", 0)), ENOTSUP);
  EXPECT_EQ(Err(fs_->GetXattr(id, "os2.x")), ENOTSUP);
  EXPECT_EQ(Err(fs_->SetXattr(id, "user.", "x", 0)), EINVAL);
  EXPECT_EQ(Err(fs_->SetXattr(id, "", "x", 0)), ERANGE);
  EXPECT_EQ(Err(fs_->SetXattr(id, "user." + std::string(251, 'n'), "x", 0)),
            ERANGE);
  EXPECT_EQ(Err(fs_->SetXattr(id, "user.big",
                              std::string(kMaxXattrValueBytes + 1, 'v'), 0)),
            E2BIG);

  ASSERT_TRUE(fs_->RemoveXattr(id, "user.a").ok());
  EXPECT_EQ(Err(fs_->GetXattr(id, "user.a")), ENODATA);
  EXPECT_EQ(Err(fs_->RemoveXattr(id, "user.a")), ENODATA);
  EXPECT_EQ(fs_->ListXattr(id)->size(), 2u);
  ExpectClean();
}

TEST_F(FilesystemTest, UserAttributesOnlyOnFilesAndDirectories) {
  absl::StatusOr<Entry> link = fs_->Symlink(kRoot, "l", "target", Creator{});
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(Err(fs_->SetXattr(RefOf(*link), "user.a", "x", 0)), EPERM);
  EXPECT_EQ(Err(fs_->GetXattr(RefOf(*link), "user.a")), ENODATA);
  EXPECT_TRUE(fs_->SetXattr(RefOf(*link), "trusted.a", "x", 0).ok());
  EXPECT_TRUE(fs_->SetXattr(RefOf(Dir(kRoot, "d")), "user.a", "x", 0).ok());
}

// Values up to the limit fit, several of them, until the inode's total
// (names and values) is spent: then ENOSPC and nothing changed.
TEST_F(FilesystemTest, ExtendedAttributesHaveAPerInodeTotal) {
  const InodeRef id = RefOf(Create(kRoot, "f"));
  const std::string largest(kMaxXattrValueBytes, 'v');
  int stored = 0;
  absl::StatusOr<Entry> set;
  while ((set = fs_->SetXattr(id, absl::StrCat("user.", stored), largest, 0))
             .ok()) {
    ++stored;
  }
  EXPECT_EQ(Err(set), ENOSPC);
  EXPECT_EQ(stored, static_cast<int>(kMaxXattrBytesPerInode /
                                     (kMaxXattrValueBytes + 6)));
  EXPECT_EQ(*fs_->GetXattr(id, "user.0"), largest);
  EXPECT_EQ(Err(fs_->GetXattr(id, absl::StrCat("user.", stored))), ENODATA);
  // Replacing a value by a smaller one always fits.
  EXPECT_TRUE(fs_->SetXattr(id, "user.0", "small", XATTR_REPLACE).ok());
  ExpectClean();
}

// u::rw-,u:2000:r--,g::---,m::r--,o::---
const std::string kGrantsUser2000 = AclXattr({{PosixAcl::kUserObj, 6, ~0u},
                                              {PosixAcl::kUser, 4, 2000},
                                              {PosixAcl::kGroupObj, 0, ~0u},
                                              {PosixAcl::kMask, 4, ~0u},
                                              {PosixAcl::kOther, 0, ~0u}});

TEST_F(FilesystemTest, AnAccessAclAndTheModeStayOneAnother) {
  const InodeRef id = RefOf(Create(kRoot, "f", 0600));
  absl::StatusOr<Entry> set =
      fs_->SetXattr(id, "system.posix_acl_access", kGrantsUser2000, 0);
  ASSERT_TRUE(set.ok()) << set.status();
  // The group bits are the mask's.
  EXPECT_EQ(set->inode.mode(), S_IFREG | 0640u);
  EXPECT_EQ(*fs_->GetXattr(id, "system.posix_acl_access"), kGrantsUser2000);
  EXPECT_EQ(set->inode.xattr_count(), 1u);

  // chmod rewrites the owner, mask and other entries; the named one stays.
  SetAttrArgs chmod;
  chmod.valid = SETATTR_MODE;
  chmod.mode = 0705;
  ASSERT_TRUE(fs_->SetAttr(id, chmod).ok());
  absl::StatusOr<PosixAcl> after =
      PosixAcl::Parse(*fs_->GetXattr(id, "system.posix_acl_access"));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->PermissionBits(), 0705u);
  EXPECT_EQ(after->entries()[1].id, 2000u);
  EXPECT_EQ(after->entries()[1].perm, 4);

  // An ACL the mode says all of is the mode alone.
  set = fs_->SetXattr(id, "system.posix_acl_access",
                      AclXattr({{PosixAcl::kUserObj, 7, ~0u},
                                {PosixAcl::kGroupObj, 5, ~0u},
                                {PosixAcl::kOther, 1, ~0u}}),
                      0);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->inode.mode(), S_IFREG | 0751u);
  EXPECT_EQ(Err(fs_->GetXattr(id, "system.posix_acl_access")), ENODATA);
  EXPECT_EQ(set->inode.xattr_count(), 0u);

  // Removing an ACL leaves the mode.
  ASSERT_TRUE(
      fs_->SetXattr(id, "system.posix_acl_access", kGrantsUser2000, 0).ok());
  absl::StatusOr<Entry> removed =
      fs_->RemoveXattr(id, "system.posix_acl_access");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->inode.mode(), S_IFREG | 0640u);

  EXPECT_EQ(Err(fs_->SetXattr(id, "system.posix_acl_access",
                              kGrantsUser2000.substr(0, 20), 0)),
            EINVAL);
  EXPECT_EQ(
      Err(fs_->SetXattr(id, "system.posix_acl_default", kGrantsUser2000, 0)),
      EACCES);
  ExpectClean();
}

TEST_F(FilesystemTest, ADefaultAclIsInheritedInsteadOfTheUmask) {
  const InodeRef d = RefOf(Dir(kRoot, "d"));
  // u::rwx,u:2000:rwx,g::r-x,m::rwx,o::---
  const std::string inherited = AclXattr({{PosixAcl::kUserObj, 7, ~0u},
                                          {PosixAcl::kUser, 7, 2000},
                                          {PosixAcl::kGroupObj, 5, ~0u},
                                          {PosixAcl::kMask, 7, ~0u},
                                          {PosixAcl::kOther, 0, ~0u}});
  ASSERT_TRUE(fs_->SetXattr(d, "system.posix_acl_default", inherited, 0).ok());

  const Creator umask_077{1000, 1000, 077};
  absl::StatusOr<Entry> f = fs_->MkNod(d, "f", S_IFREG | 0664, 0, umask_077,
                                       /*exclusive=*/true, /*open=*/false);
  ASSERT_TRUE(f.ok()) << f.status();
  // Not 0600: the default ACL masks the mode, the umask does not apply.
  EXPECT_EQ(f->inode.mode(), S_IFREG | 0660u);
  absl::StatusOr<PosixAcl> access =
      PosixAcl::Parse(*fs_->GetXattr(RefOf(*f), "system.posix_acl_access"));
  ASSERT_TRUE(access.ok()) << access.status();
  EXPECT_EQ(access->entries()[1].id, 2000u);
  EXPECT_EQ(access->entries()[3].perm, 6);  // the mask, as the mode's group
  EXPECT_EQ(Err(fs_->GetXattr(RefOf(*f), "system.posix_acl_default")), ENODATA);

  absl::StatusOr<Entry> sub = fs_->MkDir(d, "sub", 0777, umask_077);
  ASSERT_TRUE(sub.ok()) << sub.status();
  EXPECT_EQ(sub->inode.mode(), S_IFDIR | 0770u);
  EXPECT_EQ(*fs_->GetXattr(RefOf(*sub), "system.posix_acl_default"), inherited);
  // And on down.
  absl::StatusOr<Entry> deeper =
      fs_->MkDir(RefOf(*sub), "deeper", 0755, umask_077);
  ASSERT_TRUE(deeper.ok());
  EXPECT_EQ(deeper->inode.mode(), S_IFDIR | 0750u);

  // Outside it, the umask.
  absl::StatusOr<Entry> plain =
      fs_->MkNod(kRoot, "plain", S_IFREG | 0666, 0, umask_077, true, false);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->inode.mode(), S_IFREG | 0600u);
  EXPECT_EQ(fs_->MkDir(kRoot, "plaind", 0777, umask_077)->inode.mode(),
            S_IFDIR | 0700u);
  // Symlinks take neither.
  absl::StatusOr<Entry> link = fs_->Symlink(d, "l", "f", umask_077);
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->inode.mode(), S_IFLNK | 0777u);
  EXPECT_EQ(link->inode.xattr_count(), 0u);
  ExpectClean();
}

TEST_F(FilesystemTest, ARepeatedNumberedSetOrRemoveAnswersItsFirstResult) {
  const InodeRef id = RefOf(Create(kRoot, "f"));
  ASSERT_TRUE(
      fs_->SetXattr(id, "user.a", "x", XATTR_CREATE, CallRef{9, 1}).ok());
  EXPECT_TRUE(
      fs_->SetXattr(id, "user.a", "x", XATTR_CREATE, CallRef{9, 1}).ok());
  ASSERT_TRUE(fs_->RemoveXattr(id, "user.a", CallRef{9, 2}).ok());
  EXPECT_TRUE(fs_->RemoveXattr(id, "user.a", CallRef{9, 2}).ok());
  EXPECT_EQ(Err(fs_->RemoveXattr(id, "user.a", CallRef{9, 3})), ENODATA);
}

// Attributes live with their inode across restarts and go with it.
TEST_F(FilesystemTest, ExtendedAttributesSurviveARestartAndGoWithTheFile) {
  const InodeRef id = RefOf(Create(kRoot, "f"));
  ASSERT_TRUE(fs_->SetXattr(id, "user.a", "kept", 0).ok());
  Reopen();
  EXPECT_EQ(*fs_->GetXattr(id, "user.a"), "kept");
  ASSERT_TRUE(fs_->Unlink(kRoot, "f").ok());
  ExpectClean();
}

// A write by a caller without CAP_FSETID drops S_ISUID, and S_ISGID only
// when group-executable (otherwise it marks mandatory locking); one by a
// privileged caller keeps both.
TEST_F(FilesystemTest, AnUnprivilegedWriteDropsTheSetIdBits) {
  const InodeRef f = RefOf(Create(kRoot, "f", 06755));
  const InodeRef g = RefOf(Create(kRoot, "g", 06745));
  ASSERT_TRUE(fs_->Write(f, 0, "root", nullptr, /*kill_suidgid=*/false).ok());
  EXPECT_EQ(fs_->GetAttr(f)->inode.mode() & 07777, 06755u);
  meta::InodeRecord after;
  ASSERT_TRUE(fs_->Write(f, 0, "user", &after, /*kill_suidgid=*/true).ok());
  EXPECT_EQ(after.mode() & 07777, 0755u);
  EXPECT_EQ(fs_->GetAttr(f)->inode.mode() & 07777, 0755u);
  ASSERT_TRUE(fs_->Write(g, 0, "user", nullptr, /*kill_suidgid=*/true).ok());
  EXPECT_EQ(fs_->GetAttr(g)->inode.mode() & 07777, 02745u);
}

LockArgs WriteLock(uint64_t session) {
  LockArgs args;
  args.owner = LockOwner{session, 1};
  args.type = LockType::kWrite;
  return args;
}

// After a restart, during the grace period only reclaims are granted
// (EAGAIN otherwise); then anyone may lock; an expired session loses its
// locks; a gone file is ESTALE.
TEST_F(FilesystemTest, LocksAfterARestartAreForReclaimsUntilTheGraceEnds) {
  const InodeRef f = RefOf(Create(kRoot, "f"));
  ASSERT_TRUE(fs_->Lock(f, WriteLock(1), false, false).ok());
  EXPECT_EQ(Err(fs_->Lock(f, WriteLock(2), false, false)), EAGAIN);
  Reopen();
  EXPECT_EQ(Err(fs_->Lock(f, WriteLock(2), false, false)), EAGAIN);
  ASSERT_TRUE(fs_->Lock(f, WriteLock(1), false, /*reclaim=*/true).ok());
  EXPECT_TRUE(fs_->KeepAlive(1, 0).ok());
  clock_.Advance(kLease);
  EXPECT_EQ(Err(fs_->Lock(f, WriteLock(2), false, false)), EAGAIN)
      << "session 1's reclaimed lock";
  absl::StatusOr<std::optional<HeldLock>> held =
      fs_->Lock(f, WriteLock(2), /*test=*/true, false);
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(held->has_value());
  EXPECT_EQ((*held)->owner.session, 1u);
  // Session 1 is not renewed for a lease: its locks go at the sweep.
  clock_.Advance(kLease + absl::Seconds(1));
  fs_->SweepNow();
  EXPECT_TRUE(fs_->Lock(f, WriteLock(2), false, false).ok());
  LockArgs backwards = WriteLock(2);
  backwards.start = 10;
  backwards.end = 9;
  EXPECT_EQ(Err(fs_->Lock(f, backwards, false, false)), EINVAL);
  EXPECT_EQ(Err(fs_->Lock(InodeRef{f.ino, f.generation + 1}, WriteLock(2),
                          false, false)),
            ESTALE);
}

TEST_F(FilesystemTest, FallocateAllocatesPunchesAndZeroes) {
  const InodeRef f = RefOf(Create(kRoot, "f"));
  const uint64_t free_before = fs_->StatFs().free_blocks;
  // Allocate four blocks, extending the size.
  absl::StatusOr<Entry> e = fs_->Fallocate(f, 0, 0, 4 * kBlock);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->inode.size(), 4 * kBlock);
  EXPECT_EQ(e->inode.blocks_used(), 4u);
  EXPECT_EQ(fs_->StatFs().free_blocks, free_before - 4);
  EXPECT_EQ(ReadAll(f), std::string(4 * kBlock, '\0'));
  // KEEP_SIZE allocates past the end without moving it.
  e = fs_->Fallocate(f, FALLOC_FL_KEEP_SIZE, 4 * kBlock, kBlock);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->inode.size(), 4 * kBlock);
  EXPECT_EQ(e->inode.blocks_used(), 5u);

  Write(f, 0, std::string(4 * kBlock, 'd'));
  // Punch the middle: blocks 1 and 2 go whole, block 0 and 3 keep data
  // outside the range.
  e = fs_->Fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100,
                     3 * kBlock);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->inode.size(), 4 * kBlock);
  EXPECT_EQ(e->inode.blocks_used(), 3u);
  std::string want(4 * kBlock, 'd');
  std::fill(want.begin() + 100, want.begin() + 100 + 3 * kBlock, '\0');
  EXPECT_EQ(ReadAll(f), want);
  // Zero a range across the hole: allocated again, zeros.
  e = fs_->Fallocate(f, FALLOC_FL_ZERO_RANGE, 0, 2 * kBlock);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->inode.blocks_used(), 4u);
  std::fill(want.begin(), want.begin() + 2 * kBlock, '\0');
  EXPECT_EQ(ReadAll(f), want);

  EXPECT_EQ(Err(fs_->Fallocate(f, FALLOC_FL_PUNCH_HOLE, 0, 1)), EOPNOTSUPP);
  EXPECT_EQ(Err(fs_->Fallocate(f, FALLOC_FL_COLLAPSE_RANGE, 0, kBlock)),
            EOPNOTSUPP);
  EXPECT_EQ(Err(fs_->Fallocate(f, 0, 0, 0)), EINVAL);
  EXPECT_EQ(Err(fs_->Fallocate(RefOf(Dir(kRoot, "d")), 0, 0, 1)), EISDIR);
  ExpectClean();
}

// Space is reserved up front: a range larger than the free space fails
// with ENOSPC and leaves the file as it was.
TEST_F(FilesystemTest, FallocateBeyondTheFreeSpaceChangesNothing) {
  const InodeRef f = RefOf(Create(kRoot, "f"));
  const uint64_t free_blocks = fs_->StatFs().free_blocks;
  EXPECT_EQ(Err(fs_->Fallocate(f, 0, 0, (free_blocks + 1) * kBlock)), ENOSPC);
  EXPECT_EQ(fs_->GetAttr(f)->inode.size(), 0u);
  EXPECT_EQ(fs_->GetAttr(f)->inode.blocks_used(), 0u);
  EXPECT_EQ(fs_->StatFs().free_blocks, free_blocks);

  // A zeroed range whose holes do not fit leaves its edge bytes too.
  const InodeRef g = RefOf(Create(kRoot, "g"));
  Write(g, 0, std::string(kBlock, 'd'));
  const uint64_t left = fs_->StatFs().free_blocks;
  EXPECT_EQ(
      Err(fs_->Fallocate(g, FALLOC_FL_ZERO_RANGE, 10, (left + 1) * kBlock)),
      ENOSPC);
  EXPECT_EQ(ReadAll(g), std::string(kBlock, 'd'));
  EXPECT_EQ(fs_->GetAttr(g)->inode.blocks_used(), 1u);

  EXPECT_TRUE(fs_->Fallocate(f, 0, 0, left * kBlock).ok());
  ExpectClean();
}

TEST_F(FilesystemTest, SeekDataAndHoleFollowTheBlockMap) {
  const InodeRef f = RefOf(Create(kRoot, "f"));
  // Data in blocks 1 and 2, holes at 0 and 3, the size in block 4.
  Write(f, kBlock, std::string(2 * kBlock, 'd'));
  ASSERT_TRUE(
      fs_->SetAttr(f, SetAttrArgs{SETATTR_SIZE, 0, 0, 0, 4 * kBlock + 10})
          .ok());
  EXPECT_EQ(*fs_->SeekData(f, 0, false), kBlock);
  EXPECT_EQ(*fs_->SeekData(f, kBlock + 5, false), kBlock + 5);
  EXPECT_EQ(*fs_->SeekData(f, 0, true), 0u);
  EXPECT_EQ(*fs_->SeekData(f, kBlock, true), 3 * kBlock);
  EXPECT_EQ(Err(fs_->SeekData(f, 3 * kBlock, false)), ENXIO);
  EXPECT_EQ(*fs_->SeekData(f, 4 * kBlock, true), 4 * kBlock);
  EXPECT_EQ(Err(fs_->SeekData(f, 4 * kBlock + 10, true)), ENXIO);
}

TEST_F(FilesystemTest, CopyRangeCopiesOnTheServer) {
  const InodeRef in = RefOf(Create(kRoot, "in"));
  const InodeRef out = RefOf(Create(kRoot, "out"));
  std::string data(3 * kBlock + 100, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = char(i * 7 + 1);
  Write(in, 0, data);
  meta::InodeRecord after;
  absl::StatusOr<uint64_t> copied =
      fs_->CopyRange(in, 50, out, 10, 2 * kBlock, &after);
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(*copied, 2 * kBlock);
  EXPECT_EQ(after.size(), 10 + 2 * kBlock);
  EXPECT_EQ(ReadAll(out), std::string(10, '\0') + data.substr(50, 2 * kBlock));
  // Short at the end of the source; nothing past it.
  copied = fs_->CopyRange(in, 3 * kBlock, out, 0, 10 * kBlock);
  ASSERT_TRUE(copied.ok());
  EXPECT_EQ(*copied, 100u);
  EXPECT_EQ(*fs_->CopyRange(in, data.size(), out, 0, kBlock), 0u);
  // Within one file: apart is fine, overlapping is EINVAL.
  EXPECT_EQ(*fs_->CopyRange(in, 0, in, 4 * kBlock, kBlock), kBlock);
  EXPECT_EQ(Err(fs_->CopyRange(in, 0, in, 10, kBlock)), EINVAL);
  EXPECT_EQ(Err(fs_->CopyRange(RefOf(Dir(kRoot, "d")), 0, out, 0, 1)), EISDIR);
  ExpectClean();
}
}  // namespace
}  // namespace rbfs
