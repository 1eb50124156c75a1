#include "server/rpc/rbfs_service.h"

#include <fcntl.h>
#include <sys/xattr.h>

#include <cerrno>
#include <limits>
#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/testing/scratch_filesystem.h"

namespace rbfs {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class RbfsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Filesystem>> fs =
        testing::OpenScratchFilesystem(
            std::string("service_") +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(fs.ok()) << fs.status();
    fs_ = std::move(*fs);
    service_ = std::make_unique<RbfsService>(fs_.get());
  }

  static InodeId Root() {
    InodeId root;
    root.set_ino(Filesystem::kRootIno);
    root.set_generation(Filesystem::kRootGeneration);
    return root;
  }

  // Creates the empty regular file `name` in the root.
  EntryReply NewFile(const std::string& name) {
    MkNodRequest mknod;
    *mknod.mutable_parent() = Root();
    mknod.set_name(name);
    mknod.set_mode(0100644);
    EntryReply file;
    EXPECT_TRUE(service_->MkNod(nullptr, &mknod, &file).ok());
    EXPECT_EQ(file.err(), 0);
    return file;
  }

  // Creates the regular file `name` in the root holding `data`; the write's
  // reply goes to `written`.
  EntryReply WriteNewFile(const std::string& name, const std::string& data,
                          WriteReply* written) {
    const EntryReply file = NewFile(name);
    WriteRequest write;
    *write.mutable_id() = file.attr().id();
    write.set_data(data);
    EXPECT_TRUE(service_->Write(nullptr, &write, written).ok());
    EXPECT_EQ(written->err(), 0);
    return file;
  }

  std::unique_ptr<Filesystem> fs_;
  std::unique_ptr<RbfsService> service_;
};

// Found by tests/fuzz: seconds * 10^9 overflowed int64 for far times.
TEST_F(RbfsServiceTest, SetAttrTimesBeyondNanosecondRangeSaturate) {
  MkNodRequest mknod;
  mknod.mutable_parent()->set_ino(Filesystem::kRootIno);
  mknod.mutable_parent()->set_generation(Filesystem::kRootGeneration);
  mknod.set_name("f");
  mknod.set_mode(0100644);
  EntryReply created;
  ASSERT_TRUE(service_->MkNod(nullptr, &mknod, &created).ok());
  ASSERT_EQ(created.err(), 0);

  SetAttrRequest req;
  *req.mutable_id() = created.attr().id();
  req.set_valid(SETATTR_ATIME | SETATTR_MTIME);
  req.mutable_atime()->set_sec(std::numeric_limits<int64_t>::max());
  req.mutable_mtime()->set_sec(std::numeric_limits<int64_t>::min());
  AttrReply reply;
  ASSERT_TRUE(service_->SetAttr(nullptr, &req, &reply).ok());
  ASSERT_EQ(reply.err(), 0);
  const int64_t max_sec = std::numeric_limits<int64_t>::max() / 1000000000 - 1;
  EXPECT_EQ(reply.attr().atime().sec(), max_sec);
  EXPECT_EQ(reply.attr().mtime().sec(), -max_sec);
  EXPECT_EQ(reply.attr().mtime().nsec(), 0u);
}

// Mutations name each directory they changed once, as it is after the call.
TEST_F(RbfsServiceTest, MutationsReturnEachChangedDirectoryOnce) {
  InodeId root;
  root.set_ino(Filesystem::kRootIno);
  root.set_generation(Filesystem::kRootGeneration);
  MkDirRequest mkdir;
  *mkdir.mutable_parent() = root;
  mkdir.set_name("d");
  mkdir.set_mode(0755);
  EntryReply dir;
  ASSERT_TRUE(service_->MkDir(nullptr, &mkdir, &dir).ok());
  ASSERT_EQ(dir.err(), 0);
  ASSERT_EQ(dir.dirs_size(), 1);
  EXPECT_EQ(dir.dirs(0).id().ino(), Filesystem::kRootIno);
  EXPECT_EQ(dir.dirs(0).nlink(), 3u);

  MkNodRequest mknod;
  *mknod.mutable_parent() = root;
  mknod.set_name("f");
  mknod.set_mode(0100644);
  EntryReply file;
  ASSERT_TRUE(service_->MkNod(nullptr, &mknod, &file).ok());
  ASSERT_EQ(file.err(), 0);

  RenameRequest within;
  *within.mutable_parent() = root;
  within.set_name("f");
  *within.mutable_new_parent() = root;
  within.set_new_name("g");
  ErrReply renamed;
  ASSERT_TRUE(service_->Rename(nullptr, &within, &renamed).ok());
  ASSERT_EQ(renamed.err(), 0);
  ASSERT_EQ(renamed.dirs_size(), 1);
  EXPECT_EQ(renamed.dirs(0).id().ino(), Filesystem::kRootIno);

  RenameRequest across = within;
  across.set_name("g");
  *across.mutable_new_parent() = dir.attr().id();
  ErrReply moved;
  ASSERT_TRUE(service_->Rename(nullptr, &across, &moved).ok());
  ASSERT_EQ(moved.err(), 0);
  ASSERT_EQ(moved.dirs_size(), 2);
  EXPECT_EQ(moved.dirs(0).id().ino(), Filesystem::kRootIno);
  EXPECT_EQ(moved.dirs(1).id().ino(), dir.attr().id().ino());

  UnlinkRequest unlink;
  *unlink.mutable_parent() = root;
  unlink.set_name("absent");
  ErrReply failed;
  ASSERT_TRUE(service_->Unlink(nullptr, &unlink, &failed).ok());
  EXPECT_EQ(failed.err(), ENOENT);
  EXPECT_EQ(failed.dirs_size(), 0);
}

// What each mutation publishes to the hub, seen by a watcher of another
// session holding everything involved (in-process calls have session 0).
TEST_F(RbfsServiceTest, MutationsPublishTheirChanges) {
  ChangeHub* hub = service_->hub();
  const WatcherId watcher = hub->Attach(22, [] {});
  auto taken = [&] {
    WatchBatch batch;
    hub->TakePending(watcher, &batch);
    return batch.changes;
  };
  InodeId root;
  root.set_ino(Filesystem::kRootIno);
  root.set_generation(Filesystem::kRootGeneration);
  auto make = [&](const std::string& name) {
    const EntryReply file = NewFile(name);
    EXPECT_EQ(file.as_of() + 1, hub->Sequence());
    hub->Hold(watcher, file.attr().id().ino(), 0);
    return file.attr().id();
  };
  const InodeId f = make("f");
  const InodeId g = make("g");
  EXPECT_THAT(taken(),
              ElementsAre(Change::Entry(1, "f"), Change::Entry(1, "g")));

  SetAttrRequest setattr;
  *setattr.mutable_id() = f;
  setattr.set_valid(SETATTR_MODE);
  setattr.set_mode(0600);
  AttrReply attr;
  ASSERT_TRUE(service_->SetAttr(nullptr, &setattr, &attr).ok());
  setattr.set_valid(SETATTR_SIZE);
  setattr.set_size(10);
  ASSERT_TRUE(service_->SetAttr(nullptr, &setattr, &attr).ok());
  WriteRequest write;
  *write.mutable_id() = f;
  write.set_data("x");
  WriteReply written;
  ASSERT_TRUE(service_->Write(nullptr, &write, &written).ok());
  // The reply says what the write made of the file.
  EXPECT_EQ(written.attr().id().ino(), f.ino());
  EXPECT_EQ(written.attr().id().generation(), f.generation());
  EXPECT_EQ(written.attr().size(), 10u);
  EXPECT_EQ(written.attr().mode() & 07777, 0600u);
  EXPECT_GE(written.attr().mtime().sec(), attr.attr().mtime().sec());
  OpenRequest open;
  *open.mutable_id() = f;
  open.set_flags(O_RDONLY);
  AttrReply opened;
  ASSERT_TRUE(service_->Open(nullptr, &open, &opened).ok());
  open.set_flags(O_WRONLY | O_TRUNC);
  ASSERT_TRUE(service_->Open(nullptr, &open, &opened).ok());
  const uint64_t fi = f.ino();
  EXPECT_THAT(taken(), ElementsAre(Change::Attr(fi), Change::Data(fi),
                                   Change::Data(fi), Change::Data(fi)));

  LinkRequest link;
  *link.mutable_id() = f;
  *link.mutable_new_parent() = root;
  link.set_new_name("h");
  EntryReply linked;
  ASSERT_TRUE(service_->Link(nullptr, &link, &linked).ok());
  ASSERT_EQ(linked.err(), 0);
  EXPECT_THAT(taken(), ElementsAre(Change::Entry(1, "h"), Change::Attr(fi)));

  // f replaces g: both entries, the moved inode and the replaced one.
  RenameRequest rename;
  *rename.mutable_parent() = root;
  rename.set_name("f");
  *rename.mutable_new_parent() = root;
  rename.set_new_name("g");
  ErrReply renamed;
  ASSERT_TRUE(service_->Rename(nullptr, &rename, &renamed).ok());
  ASSERT_EQ(renamed.err(), 0);
  EXPECT_THAT(taken(), ElementsAre(Change::Entry(1, "f"), Change::Entry(1, "g"),
                                   Change::Attr(fi), Change::Attr(g.ino())));

  UnlinkRequest unlink;
  *unlink.mutable_parent() = root;
  unlink.set_name("h");
  ErrReply unlinked;
  ASSERT_TRUE(service_->Unlink(nullptr, &unlink, &unlinked).ok());
  ASSERT_EQ(unlinked.err(), 0);
  EXPECT_THAT(taken(), ElementsAre(Change::Entry(1, "h"), Change::Attr(fi)));

  // Failures and reads publish nothing; lookups and listings say as_of.
  const uint64_t before = hub->Sequence();
  ASSERT_TRUE(service_->Unlink(nullptr, &unlink, &unlinked).ok());
  EXPECT_EQ(unlinked.err(), ENOENT);
  LookupRequest lookup;
  *lookup.mutable_parent() = root;
  lookup.set_name("g");
  EntryReply looked_up;
  ASSERT_TRUE(service_->Lookup(nullptr, &lookup, &looked_up).ok());
  EXPECT_EQ(looked_up.as_of(), before);
  ReadDirRequest readdir;
  *readdir.mutable_id() = root;
  readdir.set_max_entries(10);
  ReadDirReply listing;
  ASSERT_TRUE(service_->ReadDir(nullptr, &readdir, &listing).ok());
  EXPECT_EQ(listing.as_of(), before);
  EXPECT_EQ(hub->Sequence(), before);
  EXPECT_THAT(taken(), IsEmpty());
  hub->Detach(watcher);
}

TEST_F(RbfsServiceTest, AReadThatMovesTheAtimeCarriesTheAttributes) {
  WriteReply written;
  const EntryReply file = WriteNewFile("f", "hello", &written);

  ReadRequest read;
  *read.mutable_id() = file.attr().id();
  read.set_length(5);
  // The atime is behind the write's mtime: relatime moves it.
  ReadReply first;
  ASSERT_TRUE(service_->Read(nullptr, &read, &first).ok());
  EXPECT_EQ(first.data(), "hello");
  ASSERT_TRUE(first.has_attr());
  EXPECT_EQ(first.attr().size(), 5u);
  EXPECT_GE(
      std::make_pair(first.attr().atime().sec(), first.attr().atime().nsec()),
      std::make_pair(written.attr().mtime().sec(),
                     written.attr().mtime().nsec()));
  // Now it is after mtime and ctime: the next read leaves it.
  ReadReply second;
  ASSERT_TRUE(service_->Read(nullptr, &read, &second).ok());
  EXPECT_EQ(second.data(), "hello");
  EXPECT_FALSE(second.has_attr());
}

TEST_F(RbfsServiceTest, AnOpenThatAsksCarriesASmallFilesData) {
  const std::string contents(70000, 'c');  // more than one 64 KiB block
  WriteReply written;
  const EntryReply file = WriteNewFile("f", contents, &written);

  OpenRequest open;
  *open.mutable_id() = file.attr().id();
  open.set_flags(O_RDONLY);
  open.set_data_up_to(70000);
  AttrReply opened;
  ASSERT_TRUE(service_->Open(nullptr, &open, &opened).ok());
  ASSERT_EQ(opened.err(), 0);
  EXPECT_TRUE(opened.has_data());
  EXPECT_TRUE(opened.data() == contents);
  // Read as a Read would: relatime moved the atime past the write.
  EXPECT_GE(
      std::make_pair(opened.attr().atime().sec(), opened.attr().atime().nsec()),
      std::make_pair(written.attr().mtime().sec(),
                     written.attr().mtime().nsec()));

  // Larger than asked, write-only, truncating, or not asked: no data.
  for (auto [flags, up_to] : {std::pair<uint32_t, uint32_t>{O_RDONLY, 69999},
                              {O_WRONLY, 70000},
                              {O_RDWR | O_TRUNC, 70000},
                              {O_RDWR, 0}}) {
    open.set_flags(flags);
    open.set_data_up_to(up_to);
    AttrReply plain;
    ASSERT_TRUE(service_->Open(nullptr, &open, &plain).ok());
    ASSERT_EQ(plain.err(), 0);
    EXPECT_FALSE(plain.has_data()) << flags << " " << up_to;
    EXPECT_TRUE(plain.data().empty());
  }
  // The O_TRUNC open emptied the file: an empty file comes with its
  // (empty) data.
  open.set_flags(O_RDONLY);
  open.set_data_up_to(4096);
  AttrReply empty;
  ASSERT_TRUE(service_->Open(nullptr, &open, &empty).ok());
  EXPECT_TRUE(empty.has_data());
  EXPECT_EQ(empty.attr().size(), 0u);

  // A directory never.
  *open.mutable_id() = Root();
  AttrReply dir;
  ASSERT_TRUE(service_->Open(nullptr, &open, &dir).ok());
  EXPECT_FALSE(dir.has_data());
}

// The handlers ask the AccessPolicy (access_policy_test has its rules):
// here, that its answers reach the replies and its owner reaches the inode.
TEST_F(RbfsServiceTest, HandlersAnswerWhatTheAccessPolicyDecides) {
  AccessOptions squash;
  squash.squash_root = PosixIds{65534, 65533};
  RbfsService squashing(fs_.get(), squash);
  MkNodRequest mknod;
  mknod.mutable_parent()->set_ino(Filesystem::kRootIno);
  mknod.mutable_parent()->set_generation(Filesystem::kRootGeneration);
  mknod.set_name("f");
  mknod.set_mode(0100644);
  EntryReply created;
  ASSERT_TRUE(squashing.MkNod(nullptr, &mknod, &created).ok());
  ASSERT_EQ(created.err(), 0);
  EXPECT_EQ(created.attr().uid(), 65534u);
  EXPECT_EQ(created.attr().gid(), 65533u);

  SetAttrRequest chown;
  *chown.mutable_id() = created.attr().id();
  chown.set_valid(SETATTR_GID);
  chown.set_gid(0);
  AttrReply chowned;
  ASSERT_TRUE(squashing.SetAttr(nullptr, &chown, &chowned).ok());
  EXPECT_EQ(chowned.err(), EPERM);

  AccessOptions read_only;
  read_only.read_only = true;
  RbfsService exported(fs_.get(), read_only);
  mknod.set_name("g");
  EntryReply refused;
  ASSERT_TRUE(exported.MkNod(nullptr, &mknod, &refused).ok());
  EXPECT_EQ(refused.err(), EROFS);
  EXPECT_EQ(refused.dirs_size(), 0);
  OpenRequest open;
  *open.mutable_id() = created.attr().id();
  open.set_flags(O_RDONLY);
  AttrReply opened;
  ASSERT_TRUE(exported.Open(nullptr, &open, &opened).ok());
  EXPECT_EQ(opened.err(), 0);
  open.set_flags(O_WRONLY);
  AttrReply not_opened;
  ASSERT_TRUE(exported.Open(nullptr, &open, &not_opened).ok());
  EXPECT_EQ(not_opened.err(), EROFS);
}

// Extended attributes over the wire: the attributes say whether there are
// any (the mount answers the kernel's probes itself when not), names come
// NUL-terminated, a change is published to other mounts as an attribute
// change, and a read-only export refuses changes but answers reads.
TEST_F(RbfsServiceTest, ExtendedAttributesTravelWithTheirErrno) {
  ChangeHub* hub = service_->hub();
  const WatcherId watcher = hub->Attach(22, [] {});
  const EntryReply file = NewFile("f");
  const InodeId f = file.attr().id();
  EXPECT_FALSE(file.attr().has_xattrs());
  hub->Hold(watcher, f.ino(), 0);
  WatchBatch drained;
  hub->TakePending(watcher, &drained);

  SetXattrRequest set;
  *set.mutable_id() = f;
  set.set_name("user.b");
  set.set_value(std::string("\0\1", 2));
  AttrReply after;
  ASSERT_TRUE(service_->SetXattr(nullptr, &set, &after).ok());
  ASSERT_EQ(after.err(), 0);
  EXPECT_TRUE(after.attr().has_xattrs());
  set.set_name("user.a");
  set.set_value("x");
  ASSERT_TRUE(service_->SetXattr(nullptr, &set, &after).ok());
  set.set_flags(XATTR_CREATE);
  AttrReply exists;
  ASSERT_TRUE(service_->SetXattr(nullptr, &set, &exists).ok());
  EXPECT_EQ(exists.err(), EEXIST);
  WatchBatch published;
  hub->TakePending(watcher, &published);
  EXPECT_THAT(published.changes,
              ElementsAre(Change::Attr(f.ino()), Change::Attr(f.ino())));

  GetXattrRequest get;
  *get.mutable_id() = f;
  get.set_name("user.b");
  XattrReply value;
  ASSERT_TRUE(service_->GetXattr(nullptr, &get, &value).ok());
  EXPECT_EQ(value.err(), 0);
  EXPECT_EQ(value.value(), std::string("\0\1", 2));
  get.set_name("user.none");
  XattrReply absent;
  ASSERT_TRUE(service_->GetXattr(nullptr, &get, &absent).ok());
  EXPECT_EQ(absent.err(), ENODATA);

  ListXattrRequest list;
  *list.mutable_id() = f;
  XattrReply names;
  ASSERT_TRUE(service_->ListXattr(nullptr, &list, &names).ok());
  EXPECT_EQ(names.value(), std::string("user.a\0user.b\0", 14));

  AccessOptions read_only;
  read_only.read_only = true;
  RbfsService exported(fs_.get(), read_only);
  RemoveXattrRequest remove;
  *remove.mutable_id() = f;
  remove.set_name("user.a");
  AttrReply refused;
  ASSERT_TRUE(exported.RemoveXattr(nullptr, &remove, &refused).ok());
  EXPECT_EQ(refused.err(), EROFS);
  XattrReply listed;
  ASSERT_TRUE(exported.ListXattr(nullptr, &list, &listed).ok());
  EXPECT_EQ(listed.value(), names.value());

  AttrReply removed;
  ASSERT_TRUE(service_->RemoveXattr(nullptr, &remove, &removed).ok());
  EXPECT_EQ(removed.err(), 0);
  ASSERT_TRUE(service_->RemoveXattr(nullptr, &remove, &removed).ok());
  EXPECT_EQ(removed.err(), ENODATA);
  hub->Detach(watcher);
}

// Locks over the wire: owners are (session, owner), F_GETLK's answer
// names the holder, flock and POSIX locks are apart, an unknown type is
// EINVAL.
TEST_F(RbfsServiceTest, StatusNamesTheSessionsTheUsageAndTheCommits) {
  KeepAliveRequest keep;
  keep.set_session(5);
  KeepAliveReply kept;
  ASSERT_TRUE(service_->KeepAlive(nullptr, &keep, &kept).ok());
  WriteReply written;
  const InodeId f =
      WriteNewFile("f", std::string(10000, 'x'), &written).attr().id();
  OpenRequest open;
  *open.mutable_id() = f;
  open.set_flags(O_RDONLY);
  open.set_session(5);
  open.set_handle(1);
  AttrReply opened;
  ASSERT_TRUE(service_->Open(nullptr, &open, &opened).ok());
  ASSERT_EQ(opened.err(), 0);
  FsyncRequest fsync;
  *fsync.mutable_id() = f;
  ErrReply synced;
  ASSERT_TRUE(service_->Fsync(nullptr, &fsync, &synced).ok());
  ASSERT_EQ(synced.err(), 0);

  StatusReply status;
  ASSERT_TRUE(service_->Status(nullptr, nullptr, &status).ok());
  EXPECT_EQ(status.err(), 0);
  ASSERT_EQ(status.sessions_size(), 1);
  EXPECT_EQ(status.sessions(0).session(), 5u);
  EXPECT_EQ(status.sessions(0).open_handles(), 1u);
  EXPECT_TRUE(status.sessions(0).confirmed());
  EXPECT_LT(status.sessions(0).renewed_ms_ago(), status.lease_ms());
  EXPECT_EQ(status.lease_ms(), absl::ToInt64Milliseconds(fs_->lease()));
  EXPECT_GE(status.commits(), 1u);
  EXPECT_GE(status.commit_seconds(), 0);
  EXPECT_EQ(status.commit_failure(), "");
  const FsStats stats = fs_->StatFs();
  EXPECT_EQ(status.usage().total_blocks(), stats.total_blocks);
  EXPECT_EQ(status.usage().free_blocks(), stats.free_blocks);
  EXPECT_LT(status.usage().free_blocks(), status.usage().total_blocks());
}

TEST_F(RbfsServiceTest, LocksAreArbitratedBetweenSessions) {
  const InodeId f = NewFile("f").attr().id();
  LockRequest lock;
  *lock.mutable_id() = f;
  lock.set_session(1);
  lock.set_owner(7);
  lock.set_type(F_WRLCK);
  lock.set_start(10);
  lock.set_end(19);
  lock.set_pid(1234);
  LockReply reply;
  ASSERT_TRUE(service_->Lock(nullptr, &lock, &reply).ok());
  ASSERT_EQ(reply.err(), 0);

  LockRequest other = lock;
  other.set_session(2);
  other.set_start(0);
  other.set_end(kLockToEnd);
  LockReply refused;
  ASSERT_TRUE(service_->Lock(nullptr, &other, &refused).ok());
  EXPECT_EQ(refused.err(), EAGAIN);
  other.set_test(true);
  LockReply holder;
  ASSERT_TRUE(service_->Lock(nullptr, &other, &holder).ok());
  EXPECT_EQ(holder.err(), 0);
  EXPECT_EQ(holder.type(), static_cast<uint32_t>(F_WRLCK));
  EXPECT_EQ(holder.start(), 10u);
  EXPECT_EQ(holder.end(), 19u);
  EXPECT_EQ(holder.pid(), 1234u);
  other.set_test(false);
  other.set_flock(true);
  LockReply flocked;
  ASSERT_TRUE(service_->Lock(nullptr, &other, &flocked).ok());
  EXPECT_EQ(flocked.err(), 0);
  other.set_flock(false);
  other.set_test(true);
  other.set_start(20);
  LockReply free_range;
  ASSERT_TRUE(service_->Lock(nullptr, &other, &free_range).ok());
  EXPECT_EQ(free_range.type(), static_cast<uint32_t>(F_UNLCK));
  other.set_type(7);
  LockReply unknown;
  ASSERT_TRUE(service_->Lock(nullptr, &other, &unknown).ok());
  EXPECT_EQ(unknown.err(), EINVAL);
}
}  // namespace
}  // namespace rbfs
