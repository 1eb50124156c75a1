#include "client/core/mount_core.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <cerrno>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "client/core/io_context.h"
#include "client/rpc/client_session.h"
#include "client/rpc/rpc_client.h"
#include "client/testing/fake_rbfs_stub.h"
#include "common/errno_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

using ::testing::_;
using ::testing::DoAll;
using ::testing::Invoke;
using ::testing::NiceMock;
using ::testing::Return;
using ::testing::SaveArg;
using ::testing::SetArgPointee;

constexpr uint32_t kChunk = 4096;
// The open handle reads go through.
constexpr uint64_t kHandle = 42;
// Files up to this size come with their opens.
constexpr uint32_t kOpenDataUpTo = 65536;

Attr MakeAttr(uint64_t ino, uint64_t generation, uint32_t mode,
              uint64_t size = 0) {
  Attr attr;
  attr.mutable_id()->set_ino(ino);
  attr.mutable_id()->set_generation(generation);
  attr.set_mode(mode);
  attr.set_size(size);
  attr.set_nlink(1);
  attr.set_uid(1000);
  attr.set_gid(100);
  attr.mutable_mtime()->set_sec(1700000000);
  attr.mutable_mtime()->set_nsec(5);
  return attr;
}

EntryReply Entry(const Attr& attr) {
  EntryReply reply;
  *reply.mutable_attr() = attr;
  return reply;
}

EntryReply EntryErr(int err) {
  EntryReply reply;
  reply.set_err(err);
  return reply;
}

AttrReply AttrErr(int err) {
  AttrReply reply;
  reply.set_err(err);
  return reply;
}

Caller MakeCaller() {
  Caller caller;
  caller.set_uid(1000);
  caller.set_gid(100);
  return caller;
}

grpc::Status Ok() { return grpc::Status::OK; }

class MountCoreTest : public testing::Test {
 protected:
  MountCoreTest() {
    FakeRpc fake = NewFakeRpc(absl::Seconds(10));
    stub_ = fake.stub;
    rpc_ = std::move(fake.client);
    session_ = std::make_unique<ClientSession>(rpc_.get());
    MountCore::Options core_options;
    core_options.chunk_size = kChunk;
    core_options.max_inflight = 4;
    core_options.open_data_up_to = kOpenDataUpTo;
    core_options.cache.fallback_timeout = absl::Seconds(60);
    core_ =
        std::make_unique<MountCore>(core_options, rpc_.get(), session_.get());
  }

  // Looks up `attr` under the root, so the table knows it.
  void Know(const Attr& attr) {
    EXPECT_CALL(*stub_, Lookup(_, _, _))
        .WillOnce(DoAll(SetArgPointee<2>(Entry(attr)), Return(Ok())));
    ASSERT_TRUE(core_->Lookup(1, "known").ok());
  }

  struct Outcome {
    absl::StatusOr<size_t> result;
    std::string data;
    // The callback had run when Read or Write returned.
    bool answered_at_once = false;
  };

  // Runs a read or write through the core and waits for its callback;
  // reads go through open `handle`.
  Outcome Transfer(bool write, uint64_t ino, uint64_t offset,
                   const std::string& payload, size_t read_size = 0,
                   uint64_t handle = kHandle) {
    Outcome outcome;
    absl::Notification done;
    auto finish = [&](IoContext& context, absl::StatusOr<size_t> result) {
      if (result.ok() && !write) {
        for (const iovec& v : context.Gather(*result)) {
          outcome.data.append(static_cast<char*>(v.iov_base), v.iov_len);
        }
      }
      outcome.result = std::move(result);
      done.Notify();
    };
    absl::Status started =
        write
            ? core_->Write(ino, offset, payload.data(), payload.size(), finish)
            : core_->Read(ino, handle, offset, read_size, finish);
    if (!started.ok()) return Outcome{started, ""};
    outcome.answered_at_once = done.HasBeenNotified();
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
    EXPECT_TRUE(core_->WaitIdle(absl::Seconds(30)));
    return outcome;
  }

  NiceMock<FakeRbfsStub>* stub_;
  std::unique_ptr<RpcClient> rpc_;
  std::unique_ptr<ClientSession> session_;
  std::unique_ptr<MountCore> core_;
};

TEST_F(MountCoreTest, LookupSendsTheParentIdAndReturnsTheAttributes) {
  LookupRequest sent;
  const Attr attr = MakeAttr(5, 3, S_IFREG | 0640, 123);
  EXPECT_CALL(*stub_, Lookup(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), SetArgPointee<2>(Entry(attr)),
                      Return(Ok())));
  absl::StatusOr<Attr> got = core_->Lookup(1, "file");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(sent.parent().ino(), 1u);
  EXPECT_EQ(sent.parent().generation(), 1u);
  EXPECT_EQ(sent.name(), "file");
  EXPECT_EQ(got->id().ino(), 5u);
  EXPECT_EQ(got->mode(), S_IFREG | 0640u);
  EXPECT_EQ(got->size(), 123u);
  EXPECT_EQ(got->mtime().nsec(), 5u);
  // Later requests for the node carry the server's generation.
  absl::StatusOr<InodeId> id = core_->inodes().Id(5);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->generation(), 3u);
}

TEST_F(MountCoreTest, EveryLookupReferenceNeedsItsForget) {
  const Attr attr = MakeAttr(5, 3, S_IFREG | 0600);
  EXPECT_CALL(*stub_, Lookup(_, _, _))
      .Times(2)
      .WillRepeatedly(DoAll(SetArgPointee<2>(Entry(attr)), Return(Ok())));
  ASSERT_TRUE(core_->Lookup(1, "a").ok());
  ASSERT_TRUE(core_->Lookup(1, "a").ok());
  core_->Forget(5, 1);
  EXPECT_TRUE(core_->inodes().Id(5).ok());
  core_->Forget(5, 1);
  EXPECT_EQ(StatusToErrno(core_->inodes().Id(5).status()), ESTALE);
}

TEST_F(MountCoreTest, ServerErrnoIsReturnedExactlyAndTakesNoReference) {
  EXPECT_CALL(*stub_, Lookup(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(EntryErr(ENOENT)), Return(Ok())));
  EXPECT_EQ(StatusToErrno(core_->Lookup(1, "nothing").status()), ENOENT);
  EXPECT_CALL(*stub_, MkDir(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(EntryErr(ENAMETOOLONG)), Return(Ok())));
  EXPECT_EQ(StatusToErrno(core_->MkDir(1, "long", 0755, MakeCaller()).status()),
            ENAMETOOLONG);
  // Only the root is known.
  EXPECT_EQ(core_->inodes().size(), 1u);
}

TEST_F(MountCoreTest, NamesInADirectoryItCreatedNeedNoLookup) {
  core_->coherence().OnSynced();
  EXPECT_CALL(*stub_, MkDir(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Entry(MakeAttr(7, 1, S_IFDIR | 0755))),
                      Return(Ok())));
  ASSERT_TRUE(core_->MkDir(1, "fresh", 0755, MakeCaller()).ok());
  EXPECT_CALL(*stub_, MkNod(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Entry(MakeAttr(8, 1, S_IFREG | 0644))),
                      Return(Ok())));
  ASSERT_TRUE(core_->Create(7, "made", 0644, O_WRONLY, MakeCaller()).ok());
  // A new name is absent without asking; the made one and the root's names
  // (not created here) go to the server.
  LookupRequest asked;
  EXPECT_CALL(*stub_, Lookup(_, _, _))
      .Times(2)
      .WillRepeatedly(DoAll(SaveArg<1>(&asked),
                            SetArgPointee<2>(Entry(MakeAttr(8, 1, S_IFREG))),
                            Return(Ok())));
  EXPECT_EQ(StatusToErrno(core_->Lookup(7, "new").status()), ENOENT);
  EXPECT_TRUE(core_->Lookup(7, "made").ok());
  EXPECT_EQ(asked.name(), "made");
  EXPECT_TRUE(core_->Lookup(1, "other").ok());
  EXPECT_EQ(asked.name(), "other");

  // Another mount's change to the directory ends the local answers.
  WatchReply changed;
  Invalidation* change = changed.add_invalidations();
  change->set_kind(Invalidation::ENTRY);
  change->set_ino(7);
  change->set_name("new");
  core_->coherence().OnInvalidations(changed);
  EXPECT_CALL(*stub_, Lookup(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(EntryErr(ENOENT)), Return(Ok())));
  EXPECT_EQ(StatusToErrno(core_->Lookup(7, "new").status()), ENOENT);
}

TEST_F(MountCoreTest, DirectoriesCreatedBeforeTheSyncAreNotKnown) {
  EXPECT_CALL(*stub_, MkDir(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Entry(MakeAttr(7, 1, S_IFDIR | 0755))),
                      Return(Ok())));
  ASSERT_TRUE(core_->MkDir(1, "early", 0755, MakeCaller()).ok());
  EXPECT_CALL(*stub_, Lookup(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(EntryErr(ENOENT)), Return(Ok())));
  EXPECT_EQ(StatusToErrno(core_->Lookup(7, "x").status()), ENOENT);
}

TEST_F(MountCoreTest, ReleasesTravelInTheBackgroundInOrder) {
  Know(MakeAttr(5, 1, S_IFREG | 0644));
  std::vector<uint64_t> released;
  EXPECT_CALL(*stub_, Open(_, _, _)).WillRepeatedly(Return(Ok()));
  EXPECT_CALL(*stub_, Release(_, _, _))
      .WillRepeatedly(DoAll(
          Invoke([&](grpc::ClientContext*, const ReleaseRequest& request,
                     ErrReply*) { released.push_back(request.handle()); }),
          Return(Ok())));
  std::vector<uint64_t> handles;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<OpenedFile> file = core_->Open(5, O_RDONLY, MakeCaller());
    ASSERT_TRUE(file.ok()) << file.status();
    handles.push_back(file->handle);
  }
  for (uint64_t handle : handles) core_->Release(5, handle);
  ASSERT_TRUE(core_->WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(released, handles);
}

TEST_F(MountCoreTest, AnOpenSaysWhenTheServerHasNewerContents) {
  core_->coherence().OnSynced();
  Know(MakeAttr(5, 1, S_IFREG | 0644, 10));
  AttrReply same;
  *same.mutable_attr() = MakeAttr(5, 1, S_IFREG | 0644, 10);
  AttrReply grown;
  *grown.mutable_attr() = MakeAttr(5, 1, S_IFREG | 0644, 99);
  EXPECT_CALL(*stub_, Open(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(same), Return(Ok())))
      .WillOnce(DoAll(SetArgPointee<2>(grown), Return(Ok())))
      .WillOnce(DoAll(SetArgPointee<2>(grown), Return(Ok())));
  absl::StatusOr<OpenedFile> unchanged = core_->Open(5, O_RDONLY, MakeCaller());
  ASSERT_TRUE(unchanged.ok());
  EXPECT_FALSE(unchanged->changed);
  absl::StatusOr<OpenedFile> changed = core_->Open(5, O_RDONLY, MakeCaller());
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(changed->changed);
  // The open's answer is what the mount knows from then on.
  absl::StatusOr<OpenedFile> again = core_->Open(5, O_RDONLY, MakeCaller());
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed);
}

// An Open reply with the file's contents, as the server sends it.
AttrReply OpenedWith(const Attr& attr, const std::string& data) {
  AttrReply reply;
  *reply.mutable_attr() = attr;
  reply.set_data(data);
  reply.set_has_data(true);
  return reply;
}

TEST_F(MountCoreTest, ASmallFilesOpenAnswersItsReadsWithoutTheServer) {
  core_->coherence().OnSynced();
  const Attr attr = MakeAttr(5, 1, S_IFREG | 0644, 5);
  Know(attr);
  OpenRequest sent;
  EXPECT_CALL(*stub_, Open(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent),
                      SetArgPointee<2>(OpenedWith(attr, "hello")),
                      Return(Ok())));
  absl::StatusOr<OpenedFile> file = core_->Open(5, O_RDONLY, MakeCaller());
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(sent.data_up_to(), kOpenDataUpTo);
  // No read handler: a read that reached the server would fail.
  for (auto [offset, size, want] :
       {std::tuple<uint64_t, size_t, std::string>{0, 4096, "hello"},
        {1, 3, "ell"},
        {4, 4096, "o"},
        {5, 10, ""},
        {4096, 10, ""}}) {
    Outcome outcome = Transfer(false, 5, offset, "", size, file->handle);
    ASSERT_TRUE(outcome.result.ok())
        << offset << ": " << outcome.result.status();
    EXPECT_TRUE(outcome.answered_at_once) << offset;
    EXPECT_EQ(outcome.data, want) << offset;
  }
  EXPECT_EQ(core_->cache_answers().data_hits.value(), 5u);
  EXPECT_EQ(core_->cache_answers().data_misses.value(), 0u);
  // After the release the handle's contents are gone (and the kernel read
  // the whole file, so the next open does not ask).
  core_->Release(5, file->handle);
  EXPECT_CALL(*stub_, Open(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), SetArgPointee<2>(OpenedWith(attr, "")),
                      Return(Ok())));
  ASSERT_TRUE(core_->Open(5, O_RDONLY, MakeCaller()).ok());
  EXPECT_EQ(sent.data_up_to(), 0u);
}

TEST_F(MountCoreTest, AChangeAfterTheOpenSendsReadsToTheServer) {
  core_->coherence().OnSynced();
  const Attr attr = MakeAttr(5, 1, S_IFREG | 0644, 5);
  Know(attr);
  EXPECT_CALL(*stub_, Open(_, _, _))
      .WillRepeatedly(
          DoAll(SetArgPointee<2>(OpenedWith(attr, "hello")), Return(Ok())));
  stub_->set_read_handler([](const ReadRequest& request, ReadReply* reply) {
    reply->set_data(std::string(request.length(), 's'));
    return Ok();
  });
  auto read_through = [&](uint64_t handle) {
    return Transfer(false, 5, 0, "", 3, handle).data;
  };

  // Another mount changed the file.
  absl::StatusOr<OpenedFile> file = core_->Open(5, O_RDONLY, MakeCaller());
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(read_through(file->handle), "hel");
  WatchReply changed;
  Invalidation* change = changed.add_invalidations();
  change->set_kind(Invalidation::DATA);
  change->set_ino(5);
  core_->coherence().OnInvalidations(changed);
  EXPECT_EQ(read_through(file->handle), "sss");
  core_->Release(5, file->handle);

  // This mount wrote to it.
  file = core_->Open(5, O_RDWR, MakeCaller());
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(read_through(file->handle), "hel");
  stub_->set_write_handler([](const WriteRequest& request, WriteReply* reply) {
    reply->set_written(request.data().size());
    reply->set_size(5);
    return Ok();
  });
  ASSERT_TRUE(Transfer(true, 5, 0, "x").result.ok());
  EXPECT_EQ(read_through(file->handle), "sss");
  core_->Release(5, file->handle);

  // The change stream was lost.
  file = core_->Open(5, O_RDONLY, MakeCaller());
  ASSERT_TRUE(file.ok());
  core_->coherence().OnLost();
  EXPECT_EQ(read_through(file->handle), "sss");
}

TEST_F(MountCoreTest, OpensAskForDataOnlyWhenTheyCanUseIt) {
  const Attr attr = MakeAttr(5, 1, S_IFREG | 0644, 5);
  Know(attr);
  std::vector<uint32_t> asked;
  EXPECT_CALL(*stub_, Open(_, _, _))
      .WillRepeatedly(Invoke([&](grpc::ClientContext*,
                                 const OpenRequest& request, AttrReply* reply) {
        asked.push_back(request.data_up_to());
        *reply->mutable_attr() = attr;
        return Ok();
      }));
  // Not synced: the contents could not be trusted.
  ASSERT_TRUE(core_->Open(5, O_RDONLY, MakeCaller()).ok());
  core_->coherence().OnSynced();
  for (uint32_t flags : {O_WRONLY, O_RDWR | O_TRUNC, O_RDONLY | O_DIRECT}) {
    ASSERT_TRUE(core_->Open(5, flags, MakeCaller()).ok());
  }
  ASSERT_TRUE(core_->Open(5, O_RDWR, MakeCaller()).ok());
  EXPECT_THAT(asked, ::testing::ElementsAre(0, 0, 0, 0, kOpenDataUpTo));
}

TEST_F(MountCoreTest, OpensWaitForTheServersAnswer) {
  Know(MakeAttr(5, 1, S_IFREG | 0644));
  core_->coherence().OnSynced();
  // Even a read-only open: until the server counts it, another mount's
  // unlink or rename over the file would free what it reads.
  EXPECT_CALL(*stub_, Open(_, _, _))
      .Times(2)
      .WillRepeatedly(DoAll(SetArgPointee<2>(AttrErr(ESTALE)), Return(Ok())));
  EXPECT_EQ(StatusToErrno(core_->Open(5, O_WRONLY, MakeCaller()).status()),
            ESTALE);
  EXPECT_EQ(StatusToErrno(core_->Open(5, O_RDONLY, MakeCaller()).status()),
            ESTALE);
}

TEST_F(MountCoreTest, TransportFailuresMapToErrnos) {
  const std::pair<grpc::StatusCode, int> cases[] = {
      {grpc::StatusCode::PERMISSION_DENIED, EPERM},
      {grpc::StatusCode::UNAUTHENTICATED, EACCES},
      {grpc::StatusCode::INTERNAL, EIO},
  };
  for (const auto& [code, err] : cases) {
    EXPECT_CALL(*stub_, GetAttr(_, _, _))
        .WillOnce(Return(grpc::Status(code, "injected")));
    EXPECT_EQ(StatusToErrno(core_->GetAttr(1).status()), err) << code;
  }
}

TEST_F(MountCoreTest, UnavailableIsRetriedForIdempotentCalls) {
  AttrReply reply;
  *reply.mutable_attr() = MakeAttr(1, 1, S_IFDIR | 0755);
  EXPECT_CALL(*stub_, GetAttr(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")))
      .WillOnce(DoAll(SetArgPointee<2>(reply), Return(Ok())));
  absl::StatusOr<Attr> got = core_->GetAttr(1);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->mode(), S_IFDIR | 0755u);
  // What rbfs_mount_rpc_retries_total reads.
  EXPECT_EQ(rpc_->repeats().value(), 1u);
}

TEST_F(MountCoreTest, UnknownNodesAreStaleWithoutAskingTheServer) {
  EXPECT_CALL(*stub_, GetAttr(_, _, _)).Times(0);
  EXPECT_CALL(*stub_, Open(_, _, _)).Times(0);
  EXPECT_CALL(*stub_, Lookup(_, _, _)).Times(0);
  EXPECT_EQ(StatusToErrno(core_->GetAttr(42).status()), ESTALE);
  EXPECT_EQ(StatusToErrno(core_->Open(42, O_RDONLY, MakeCaller()).status()),
            ESTALE);
  EXPECT_EQ(StatusToErrno(core_->Lookup(42, "x").status()), ESTALE);
  EXPECT_EQ(StatusToErrno(Transfer(false, 42, 0, "", 10).result.status()),
            ESTALE);
  EXPECT_EQ(StatusToErrno(Transfer(true, 42, 0, "abc").result.status()),
            ESTALE);
}

TEST_F(MountCoreTest, DirectoryAttributesFromAMutationAnswerTheNextGetAttr) {
  Attr parent = MakeAttr(1, 1, S_IFDIR | 0755);
  parent.set_nlink(3);
  parent.mutable_ctime()->set_sec(1700000100);
  EntryReply made = Entry(MakeAttr(7, 1, S_IFDIR | 0700));
  *made.add_dirs() = parent;
  MkDirRequest sent;
  EXPECT_CALL(*stub_, MkDir(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), SetArgPointee<2>(made), Return(Ok())));
  ASSERT_TRUE(core_->MkDir(1, "d", 0700, MakeCaller()).ok());
  EXPECT_EQ(sent.call().session(), session_->id());
  EXPECT_GT(sent.call().seq(), 0u);
  EXPECT_EQ(sent.caller().uid(), 1000u);

  // The first GETATTR of the parent needs no round trip; the next one does.
  AttrReply fresh;
  *fresh.mutable_attr() = MakeAttr(1, 1, S_IFDIR | 0755);
  EXPECT_CALL(*stub_, GetAttr(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(fresh), Return(Ok())));
  absl::StatusOr<Attr> cached = core_->GetAttr(1);
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached->nlink(), 3u);
  absl::StatusOr<Attr> asked = core_->GetAttr(1);
  ASSERT_TRUE(asked.ok());
  EXPECT_EQ(asked->nlink(), 1u);
}

TEST_F(MountCoreTest, SetAttrSendsTheChangesAndDropsCachedDirAttrs) {
  Attr parent = MakeAttr(1, 1, S_IFDIR | 0755);
  parent.set_nlink(9);
  ErrReply unlinked;
  *unlinked.add_dirs() = parent;
  EXPECT_CALL(*stub_, Unlink(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(unlinked), Return(Ok())));
  ASSERT_TRUE(core_->Unlink(1, "gone").ok());

  SetAttrRequest sent;
  AttrReply changed;
  *changed.mutable_attr() = MakeAttr(1, 1, S_IFDIR | 0700);
  EXPECT_CALL(*stub_, SetAttr(_, _, _))
      .WillOnce(
          DoAll(SaveArg<1>(&sent), SetArgPointee<2>(changed), Return(Ok())));
  AttrChanges changes;
  changes.valid = SETATTR_MODE | SETATTR_MTIME;
  changes.mode = 0700;
  changes.mtime = {1234, 567};
  absl::StatusOr<Attr> got = core_->SetAttr(1, changes, MakeCaller());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->mode(), S_IFDIR | 0700u);
  EXPECT_EQ(sent.valid(), static_cast<uint32_t>(SETATTR_MODE | SETATTR_MTIME));
  EXPECT_EQ(sent.mode(), 0700u);
  EXPECT_EQ(sent.mtime().sec(), 1234);
  EXPECT_EQ(sent.mtime().nsec(), 567u);
  EXPECT_EQ(sent.caller().gid(), 100u);
  // The unlink's directory attributes predate the setattr: its own reply
  // answers the next GETATTR instead.
  EXPECT_CALL(*stub_, GetAttr(_, _, _)).Times(0);
  absl::StatusOr<Attr> after = core_->GetAttr(1);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->mode(), S_IFDIR | 0700u);
  EXPECT_NE(after->nlink(), 9u);
}

TEST_F(MountCoreTest, WhileSyncedKnownAttributesAnswerUntilAChange) {
  core_->coherence().OnSynced();
  const Attr file = MakeAttr(5, 1, S_IFREG | 0644, 10);
  EXPECT_CALL(*stub_, Lookup(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Entry(file)), Return(Ok())));
  ASSERT_TRUE(core_->Lookup(1, "f").ok());
  core_->coherence().ForEntry(1, "f", 5);
  EXPECT_CALL(*stub_, GetAttr(_, _, _)).Times(0);
  EXPECT_EQ(core_->GetAttr(5)->size(), 10u);
  EXPECT_EQ(core_->GetAttr(5)->size(), 10u);
  testing::Mock::VerifyAndClearExpectations(stub_);

  // Another mount's change, then this mount's own unlink: each makes the
  // next GETATTR ask.
  AttrReply fresh;
  *fresh.mutable_attr() = MakeAttr(5, 1, S_IFREG | 0600, 20);
  EXPECT_CALL(*stub_, GetAttr(_, _, _))
      .Times(2)
      .WillRepeatedly(DoAll(SetArgPointee<2>(fresh), Return(Ok())));
  WatchReply changed;
  Invalidation* change = changed.add_invalidations();
  change->set_kind(Invalidation::ATTR);
  change->set_ino(5);
  core_->coherence().OnInvalidations(changed);
  EXPECT_EQ(core_->GetAttr(5)->size(), 20u);
  EXPECT_EQ(core_->GetAttr(5)->size(), 20u);
  EXPECT_CALL(*stub_, Unlink(_, _, _)).WillOnce(Return(Ok()));
  ASSERT_TRUE(core_->Unlink(1, "f").ok());
  EXPECT_EQ(core_->GetAttr(5)->size(), 20u);
  EXPECT_EQ(core_->cache_answers().attr_hits.value(), 3u);
  EXPECT_EQ(core_->cache_answers().attr_misses.value(), 2u);
}

TEST_F(MountCoreTest, CreateOpensAndCancelUndoesEverything) {
  MkNodRequest sent;
  EXPECT_CALL(*stub_, MkNod(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent),
                      SetArgPointee<2>(Entry(MakeAttr(9, 2, S_IFREG | 0644))),
                      Return(Ok())));
  absl::StatusOr<CreatedFile> file = core_->Create(
      1, "new", S_IFREG | 04644, O_CREAT | O_EXCL | O_RDWR, MakeCaller());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(sent.mode(), S_IFREG | 04644u);
  EXPECT_TRUE(sent.exclusive());
  EXPECT_TRUE(sent.open());
  EXPECT_EQ(sent.handle(), file->handle);
  EXPECT_EQ(file->attr.id().ino(), 9u);
  ASSERT_TRUE(core_->inodes().Id(9).ok());

  // The kernel never saw the reply: the handle and the reference go.
  ReleaseRequest released;
  EXPECT_CALL(*stub_, Release(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&released), Return(Ok())));
  core_->CancelCreate(*file);
  ASSERT_TRUE(core_->WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(released.handle(), file->handle);
  EXPECT_EQ(released.session(), session_->id());
  EXPECT_EQ(released.id().generation(), 2u);
  EXPECT_EQ(StatusToErrno(core_->inodes().Id(9).status()), ESTALE);
}

TEST_F(MountCoreTest, CreateWithoutExclIsNotExclusive) {
  MkNodRequest sent;
  EXPECT_CALL(*stub_, MkNod(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent),
                      SetArgPointee<2>(Entry(MakeAttr(9, 2, S_IFREG | 0600))),
                      Return(Ok())));
  ASSERT_TRUE(core_->Create(1, "f", 0600, O_CREAT, MakeCaller()).ok());
  EXPECT_FALSE(sent.exclusive());
  EXPECT_EQ(sent.mode(), S_IFREG | 0600u);
}

TEST_F(MountCoreTest, AnOpenFileOutlivesTheKernelsForget) {
  Know(MakeAttr(5, 1, S_IFREG | 0600));
  OpenRequest sent;
  EXPECT_CALL(*stub_, Open(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), Return(Ok())));
  absl::StatusOr<OpenedFile> file = core_->Open(5, O_RDWR, MakeCaller());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(sent.session(), session_->id());
  EXPECT_EQ(sent.handle(), file->handle);
  EXPECT_EQ(sent.flags(), static_cast<uint32_t>(O_RDWR));
  core_->Forget(5, 1);
  EXPECT_TRUE(core_->inodes().Id(5).ok());
  ReleaseRequest released;
  EXPECT_CALL(*stub_, Release(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&released), Return(Ok())));
  core_->Release(5, file->handle);
  ASSERT_TRUE(core_->WaitIdle(absl::Seconds(10)));
  EXPECT_EQ(released.handle(), file->handle);
  EXPECT_EQ(StatusToErrno(core_->inodes().Id(5).status()), ESTALE);
}

TEST_F(MountCoreTest, FailedOpenHoldsNothing) {
  Know(MakeAttr(5, 1, S_IFREG | 0600));
  AttrReply refused;
  refused.set_err(EACCES);
  EXPECT_CALL(*stub_, Open(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(refused), Return(Ok())));
  EXPECT_EQ(StatusToErrno(core_->Open(5, O_RDWR, MakeCaller()).status()),
            EACCES);
  core_->Forget(5, 1);
  EXPECT_EQ(StatusToErrno(core_->inodes().Id(5).status()), ESTALE);
}

TEST_F(MountCoreTest, RenameChecksFlagsAndMapsErrors) {
  EXPECT_CALL(*stub_, Rename(_, _, _)).Times(0);
  EXPECT_EQ(StatusToErrno(core_->Rename(1, "a", 1, "b", RENAME_WHITEOUT)),
            EINVAL);
  EXPECT_EQ(StatusToErrno(core_->Rename(1, "a", 77, "b", 0)), ESTALE);
  testing::Mock::VerifyAndClearExpectations(stub_);

  RenameRequest sent;
  ErrReply busy;
  busy.set_err(ENOTEMPTY);
  EXPECT_CALL(*stub_, Rename(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), SetArgPointee<2>(busy), Return(Ok())));
  EXPECT_EQ(StatusToErrno(core_->Rename(1, "a", 1, "b", RENAME_NOREPLACE)),
            ENOTEMPTY);
  EXPECT_EQ(sent.name(), "a");
  EXPECT_EQ(sent.new_name(), "b");
  EXPECT_EQ(sent.flags(), static_cast<uint32_t>(RENAME_NOREPLACE));
  EXPECT_GT(sent.call().seq(), 0u);
}

TEST_F(MountCoreTest, ReadIsShortAtEndOfFile) {
  Know(MakeAttr(5, 1, S_IFREG | 0600, 6000));
  const std::string file(6000, 'x');
  stub_->set_read_handler([&](const ReadRequest& request, ReadReply* reply) {
    EXPECT_EQ(request.id().ino(), 5u);
    if (request.offset() < file.size()) {
      *reply->mutable_data() = file.substr(request.offset(), request.length());
    }
    return Ok();
  });
  Outcome outcome = Transfer(false, 5, 1000, "", 3 * kChunk);
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  EXPECT_EQ(*outcome.result, 5000u);
  EXPECT_EQ(outcome.data, file.substr(1000));
}

TEST_F(MountCoreTest, ReadErrorFromTheServerIsTheResult) {
  Know(MakeAttr(5, 1, S_IFREG | 0600, 6000));
  stub_->set_read_handler([](const ReadRequest&, ReadReply* reply) {
    reply->set_err(EIO);
    return Ok();
  });
  EXPECT_EQ(StatusToErrno(Transfer(false, 5, 0, "", 100).result.status()), EIO);
}

TEST_F(MountCoreTest, WriteRaisesTheKnownSize) {
  Know(MakeAttr(5, 1, S_IFREG | 0600, 100));
  std::string written(9000, '\0');
  stub_->set_write_handler([&](const WriteRequest& request, WriteReply* reply) {
    written.replace(request.offset() - 1000, request.data().size(),
                    request.data());
    reply->set_written(request.data().size());
    return Ok();
  });
  const std::string payload(9000, 'w');
  Outcome outcome = Transfer(true, 5, 1000, payload);
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  EXPECT_EQ(*outcome.result, 9000u);
  EXPECT_EQ(written, payload);
  EXPECT_EQ(core_->inodes().Size(5), 10000u);
}

TEST_F(MountCoreTest, AWritesRepliesAnswerTheNextGetAttrWhileSynced) {
  core_->coherence().OnSynced();
  Know(MakeAttr(5, 1, S_IFREG | 0600, 100));
  stub_->set_write_handler([](const WriteRequest& request, WriteReply* reply) {
    reply->set_written(request.data().size());
    // Chunks complete in any order; the latest change wins.
    Attr after = MakeAttr(5, 1, S_IFREG | 0600,
                          request.offset() + request.data().size());
    after.mutable_ctime()->set_sec(request.offset());
    *reply->mutable_attr() = after;
    return Ok();
  });
  Outcome outcome = Transfer(true, 5, 0, std::string(3 * kChunk, 'w'));
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  EXPECT_CALL(*stub_, GetAttr(_, _, _)).Times(0);
  absl::StatusOr<Attr> after = core_->GetAttr(5);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), 3u * kChunk);
}

TEST_F(MountCoreTest, AReadThatMovedTheAtimeAnswersTheNextGetAttr) {
  core_->coherence().OnSynced();
  Know(MakeAttr(5, 1, S_IFREG | 0600, 100));
  stub_->set_read_handler([](const ReadRequest& request, ReadReply* reply) {
    reply->set_data(std::string(request.length(), 'r'));
    Attr after = MakeAttr(5, 1, S_IFREG | 0600, 100);
    after.mutable_atime()->set_sec(4242);
    *reply->mutable_attr() = after;
    return Ok();
  });
  Outcome outcome = Transfer(false, 5, 0, "", 100);
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  EXPECT_CALL(*stub_, GetAttr(_, _, _)).Times(0);
  absl::StatusOr<Attr> after = core_->GetAttr(5);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->atime().sec(), 4242);
}

TEST_F(MountCoreTest, AnInvalidationDuringAReadKeepsItsAttributesOut) {
  core_->coherence().OnSynced();
  Know(MakeAttr(5, 1, S_IFREG | 0600, 100));
  stub_->set_read_handler([this](const ReadRequest& request, ReadReply* reply) {
    reply->set_data(std::string(request.length(), 'r'));
    *reply->mutable_attr() = MakeAttr(5, 1, S_IFREG | 0600, 100);
    // Another mount changes the file while the reply travels.
    WatchReply changed;
    Invalidation* change = changed.add_invalidations();
    change->set_kind(Invalidation::DATA);
    change->set_ino(5);
    core_->coherence().OnInvalidations(changed);
    return Ok();
  });
  Outcome outcome = Transfer(false, 5, 0, "", 100);
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  AttrReply fresh;
  *fresh.mutable_attr() = MakeAttr(5, 1, S_IFREG | 0600, 999);
  EXPECT_CALL(*stub_, GetAttr(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(fresh), Return(Ok())));
  absl::StatusOr<Attr> after = core_->GetAttr(5);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), 999u);
}

// The server said its commits fail: the next close of each file written
// since reports it, once; a file not written closes cleanly.
TEST_F(MountCoreTest, ACloseReportsACommitFailureOfAWrittenFileOnce) {
  Know(MakeAttr(5, 1, S_IFREG | 0600, 100));
  stub_->set_write_handler([](const WriteRequest& request, WriteReply* reply) {
    reply->set_written(request.data().size());
    return Ok();
  });
  ASSERT_TRUE(Transfer(true, 5, 0, "data").result.ok());
  EXPECT_TRUE(core_->Flush(5).ok()) << "no failure heard of yet";
  // That close made the write no more durable.
  core_->coherence().OnCommitError(EIO);
  EXPECT_EQ(StatusToErrno(core_->Flush(5)), EIO);
  EXPECT_TRUE(core_->Flush(5).ok()) << "reported once";
  EXPECT_TRUE(core_->Flush(6).ok()) << "never written";
}

TEST_F(MountCoreTest, FailedWriteLeavesTheSize) {
  Know(MakeAttr(5, 1, S_IFREG | 0600, 100));
  stub_->set_write_handler([](const WriteRequest&, WriteReply* reply) {
    reply->set_err(ENOSPC);
    return Ok();
  });
  EXPECT_EQ(StatusToErrno(
                Transfer(true, 5, 0, std::string(500, 'w')).result.status()),
            ENOSPC);
  EXPECT_EQ(core_->inodes().Size(5), 100u);
}

// One chunk lands past the old end, the next one fails: the caller is told
// the write failed, so the file is cut back to the size it had before the
// reply goes.
TEST_F(MountCoreTest, AFailedWriteWhoseChunksPartlyLandedIsCutBack) {
  Know(MakeAttr(5, 1, S_IFREG | 0600, 100));
  stub_->set_write_handler([](const WriteRequest& request, WriteReply* reply) {
    if (request.offset() > 0) {
      reply->set_err(ENOSPC);
      return Ok();
    }
    reply->set_written(request.data().size());
    *reply->mutable_attr() =
        MakeAttr(5, 1, S_IFREG | 0600, request.data().size());
    return Ok();
  });
  SetAttrRequest cut;
  AttrReply cut_reply;
  *cut_reply.mutable_attr() = MakeAttr(5, 1, S_IFREG | 0600, 100);
  EXPECT_CALL(*stub_, SetAttr(_, _, _))
      .WillOnce(
          DoAll(SaveArg<1>(&cut), SetArgPointee<2>(cut_reply), Return(Ok())));
  EXPECT_EQ(
      StatusToErrno(
          Transfer(true, 5, 0, std::string(2 * kChunk, 'w')).result.status()),
      ENOSPC);
  EXPECT_EQ(cut.valid(), uint32_t{SETATTR_SIZE});
  EXPECT_EQ(cut.size(), 100u);
  EXPECT_EQ(core_->inodes().Size(5), 100u);
}

TEST_F(MountCoreTest, ReadDirPlusListsDotsAndCountsReferences) {
  ReadDirReply listing;
  listing.set_parent(1);
  listing.set_eof(true);
  DirEntry* with_attr = listing.add_entries();
  with_attr->set_name("f");
  with_attr->set_cookie(10);
  with_attr->set_ino(5);
  with_attr->set_type(S_IFREG);
  *with_attr->mutable_attr() = MakeAttr(5, 4, S_IFREG | 0600);
  DirEntry* second = listing.add_entries();
  second->set_name("g");
  second->set_cookie(11);
  second->set_ino(6);
  second->set_type(S_IFDIR);
  *second->mutable_attr() = MakeAttr(6, 1, S_IFDIR | 0700);
  ReadDirRequest sent;
  EXPECT_CALL(*stub_, ReadDir(_, _, _))
      .WillOnce(
          DoAll(SaveArg<1>(&sent), SetArgPointee<2>(listing), Return(Ok())));
  std::vector<std::string> names;
  std::vector<off_t> offsets;
  // Room for ".", ".." and "f" only.
  ASSERT_TRUE(core_
                  ->ReadDir(1, 0, 4096, true,
                            [&](const DirSlot& slot) {
                              if (names.size() == 3) return false;
                              names.push_back(slot.name);
                              offsets.push_back(slot.next_offset);
                              EXPECT_EQ(slot.attr != nullptr,
                                        names.size() == 3);
                              return true;
                            })
                  .ok());
  EXPECT_TRUE(sent.with_attrs());
  EXPECT_EQ(sent.cookie(), 0u);
  EXPECT_EQ(names, (std::vector<std::string>{".", "..", "f"}));
  EXPECT_EQ(offsets, (std::vector<off_t>{1, 2, 10}));
  // "f" reached the kernel with its attributes, "g" did not fit.
  EXPECT_TRUE(core_->inodes().Id(5).ok());
  EXPECT_EQ(StatusToErrno(core_->inodes().Id(6).status()), ESTALE);
}

TEST_F(MountCoreTest, ReadDirFailsOnlyWhenNothingWasListed) {
  EXPECT_CALL(*stub_, ReadDir(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::INTERNAL, "bug")));
  int added = 0;
  EXPECT_EQ(StatusToErrno(core_->ReadDir(1, 5, 4096, false,
                                         [&](const DirSlot&) {
                                           ++added;
                                           return true;
                                         })),
            EIO);
  EXPECT_EQ(added, 0);

  // A first batch, then a failure: the batch stands.
  ReadDirReply batch;
  DirEntry* entry = batch.add_entries();
  entry->set_name("a");
  entry->set_cookie(20);
  entry->set_ino(8);
  entry->set_type(S_IFREG);
  ReadDirRequest second;
  EXPECT_CALL(*stub_, ReadDir(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(batch), Return(Ok())))
      .WillOnce(DoAll(SaveArg<1>(&second),
                      Return(grpc::Status(grpc::StatusCode::INTERNAL, "bug"))));
  EXPECT_TRUE(core_
                  ->ReadDir(1, 5, 4096, false,
                            [&](const DirSlot& slot) {
                              EXPECT_EQ(slot.attr, nullptr);
                              ++added;
                              return true;
                            })
                  .ok());
  EXPECT_EQ(added, 1);
  EXPECT_EQ(second.cookie(), 20u);
}

TEST_F(MountCoreTest, StatFsAndReadLinkPassTheReplyThrough) {
  StatFsReply stats;
  stats.set_block_size(65536);
  stats.set_free_blocks(17);
  EXPECT_CALL(*stub_, StatFs(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(stats), Return(Ok())));
  absl::StatusOr<StatFsReply> got = core_->StatFs();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->block_size(), 65536u);
  EXPECT_EQ(got->free_blocks(), 17u);

  ReadLinkReply link;
  link.set_target("../elsewhere");
  EXPECT_CALL(*stub_, ReadLink(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(link), Return(Ok())));
  EXPECT_EQ(core_->ReadLink(1).value_or(""), "../elsewhere");
}

// The kernel asks for "security.capability" before every write: for an
// inode the mount knows to have no attributes (and may trust that: synced)
// the answer costs no call; otherwise the server answers.
TEST_F(MountCoreTest, XattrProbesOfAnInodeWithoutAnyNeedNoCall) {
  core_->coherence().OnSynced();
  Know(MakeAttr(5, 1, S_IFREG | 0600, 100));
  EXPECT_CALL(*stub_, GetXattr(_, _, _)).Times(0);
  EXPECT_CALL(*stub_, ListXattr(_, _, _)).Times(0);
  EXPECT_EQ(StatusToErrno(core_->GetXattr(5, "security.capability").status()),
            ENODATA);
  EXPECT_EQ(*core_->ListXattr(5), "");
  // The namespace rule is the server's, applied here too.
  EXPECT_EQ(StatusToErrno(core_->GetXattr(5, "os2.x").status()), ENOTSUP);
  testing::Mock::VerifyAndClearExpectations(stub_);
  EXPECT_EQ(core_->cache_answers().xattr_hits.value(), 2u);
  EXPECT_EQ(core_->cache_answers().xattr_misses.value(), 0u);

  // A write (whose reply carries no attributes here) erases what the mount
  // knew of the file's size and times, not that it has no attributes: the
  // kernel's probe before the next write(2) is still answered here.
  stub_->set_write_handler([](const WriteRequest& request, WriteReply* reply) {
    reply->set_written(request.data().size());
    reply->set_size(100);
    return Ok();
  });
  ASSERT_TRUE(Transfer(true, 5, 0, "x").result.ok());
  EXPECT_EQ(StatusToErrno(core_->GetXattr(5, "security.capability").status()),
            ENODATA);
  EXPECT_EQ(core_->cache_answers().xattr_hits.value(), 3u);
  testing::Mock::VerifyAndClearExpectations(stub_);

  core_->coherence().OnLost();
  XattrReply value;
  value.set_value("v");
  EXPECT_CALL(*stub_, GetXattr(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(value), Return(Ok())));
  EXPECT_EQ(*core_->GetXattr(5, "user.a"), "v");
  EXPECT_EQ(core_->cache_answers().xattr_misses.value(), 1u);
}

// A set is numbered (a repeat with XATTR_CREATE must not say EEXIST) and
// its reply's attributes are kept: the inode has attributes now, so the
// next probe asks the server.
TEST_F(MountCoreTest, ASetXattrIsNumberedAndItsAttributesKept) {
  core_->coherence().OnSynced();
  Know(MakeAttr(5, 1, S_IFREG | 0600, 100));
  AttrReply after;
  *after.mutable_attr() = MakeAttr(5, 1, S_IFREG | 0600, 100);
  after.mutable_attr()->set_has_xattrs(true);
  SetXattrRequest sent;
  EXPECT_CALL(*stub_, SetXattr(_, _, _))
      .WillOnce(
          DoAll(SaveArg<1>(&sent), SetArgPointee<2>(after), Return(Ok())));
  ASSERT_TRUE(core_->SetXattr(5, "user.a", std::string("\0v", 2), 1).ok());
  EXPECT_NE(sent.call().seq(), 0u);
  EXPECT_EQ(sent.value(), std::string("\0v", 2));
  EXPECT_EQ(sent.flags(), 1u);
  XattrReply absent;
  absent.set_err(ENODATA);
  EXPECT_CALL(*stub_, GetXattr(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(absent), Return(Ok())));
  EXPECT_EQ(StatusToErrno(core_->GetXattr(5, "security.capability").status()),
            ENODATA);
  EXPECT_TRUE(core_->GetAttr(5)->has_xattrs());
}

LockReply LockErr(int err) {
  LockReply reply;
  reply.set_err(err);
  return reply;
}

// F_SETLKW asks again while another owner holds the lock, until granted;
// F_SETLK does not; an interrupted wait is EINTR. A close unlocks only
// what the owner holds.
TEST_F(MountCoreTest, ALockWaitAsksAgainUntilGrantedOrInterrupted) {
  Know(MakeAttr(5, 1, S_IFREG | 0600, 100));
  LockSpec spec;
  spec.owner = 9;
  spec.type = F_WRLCK;
  spec.start = 0;
  spec.end = kLockToEnd;
  EXPECT_CALL(*stub_, Lock(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(LockErr(EAGAIN)), Return(Ok())));
  EXPECT_EQ(StatusToErrno(core_->SetLock(5, spec, false, [] { return false; })),
            EAGAIN);
  EXPECT_FALSE(session_->HoldsLocks(5, false, 9));

  LockRequest sent;
  EXPECT_CALL(*stub_, Lock(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(LockErr(EAGAIN)), Return(Ok())))
      .WillOnce(DoAll(SetArgPointee<2>(LockErr(EAGAIN)), Return(Ok())))
      .WillOnce(DoAll(SaveArg<1>(&sent), Return(Ok())));
  EXPECT_TRUE(core_->SetLock(5, spec, true, [] { return false; }).ok());
  EXPECT_EQ(sent.session(), session_->id());
  EXPECT_EQ(sent.owner(), 9u);
  EXPECT_TRUE(session_->HoldsLocks(5, false, 9));

  EXPECT_CALL(*stub_, Lock(_, _, _))
      .WillRepeatedly(DoAll(SetArgPointee<2>(LockErr(EAGAIN)), Return(Ok())));
  int asked = 0;
  spec.owner = 10;
  EXPECT_EQ(StatusToErrno(
                core_->SetLock(5, spec, true, [&] { return ++asked == 3; })),
            EINTR);
  testing::Mock::VerifyAndClearExpectations(stub_);

  // Owner 10 holds nothing: no call. Owner 9's close unlocks everything.
  EXPECT_CALL(*stub_, Lock(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), Return(Ok())));
  core_->UnlockAll(5, false, 10);
  core_->UnlockAll(5, false, 9);
  EXPECT_EQ(sent.type(), static_cast<uint32_t>(F_UNLCK));
  EXPECT_EQ(sent.end(), kLockToEnd);
  EXPECT_FALSE(session_->HoldsLocks(5, false, 9));
}
}  // namespace
}  // namespace rbfs
