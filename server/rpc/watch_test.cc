// The Watch stream over a real gRPC server in this process: sessions, holds,
// heartbeats, catch-up, refusals, shutdown.
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/coherence.h"
#include "common/token_file.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/auth/token_authenticator.h"
#include "server/rpc/rbfs_service.h"
#include "server/testing/served_filesystem.h"

namespace rbfs {
namespace {

constexpr uint64_t kSessionA = 11;
constexpr uint64_t kSessionB = 22;
constexpr char kToken[] = "0123456789abcdef-watch";
// Bounds every stream of a test, so a missing message fails, not hangs.
constexpr absl::Duration kStreamDeadline = absl::Seconds(30);

using WatchStream = grpc::ClientReaderWriter<WatchRequest, WatchReply>;

// One open Watch stream and the context it needs kept alive.
struct Watcher {
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<WatchStream> stream;
  uint64_t last_seq = 0;
  bool finished = false;

  Watcher() = default;
  Watcher(Watcher&&) = default;
  // A stream the test left open is cancelled and finished.
  ~Watcher() {
    if (stream == nullptr || finished) return;
    ctx->TryCancel();
    WatchReply ignored;
    while (stream->Read(&ignored)) {
    }
    stream->Finish().ok();
  }

  // The next message; fails the test on a gap in seq.
  WatchReply Next() {
    WatchReply reply;
    EXPECT_TRUE(stream->Read(&reply)) << "stream ended";
    EXPECT_EQ(reply.seq(), last_seq + 1);
    last_seq = reply.seq();
    return reply;
  }

  // The next message with invalidations, skipping heartbeats.
  WatchReply NextChanges() {
    for (;;) {
      WatchReply reply = Next();
      if (reply.invalidations_size() > 0 || ::testing::Test::HasFailure()) {
        return reply;
      }
    }
  }

  grpc::Status Finish() {
    finished = true;
    stream->WritesDone();
    WatchReply ignored;
    while (stream->Read(&ignored)) {
    }
    return stream->Finish();
  }
};

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(AccessOptions()); }

  void Start(AccessOptions access) {
    absl::StatusOr<std::unique_ptr<testing::ServedFilesystem>> served =
        testing::ServedFilesystem::Start(
            std::string("watch_") +
                ::testing::UnitTest::GetInstance()->current_test_info()->name(),
            access);
    ASSERT_TRUE(served.ok()) << served.status();
    served_ = std::move(*served);
  }

  void TearDown() override { served_.reset(); }

  std::unique_ptr<grpc::ClientContext> Context(uint64_t session,
                                               const std::string& token = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + kStreamDeadline));
    if (session != 0) {
      ctx->AddMetadata(std::string(kSessionMetadataKey),
                       std::to_string(session));
    }
    if (!token.empty()) {
      ctx->AddMetadata(std::string(kAuthorizationKey),
                       std::string(kBearerPrefix) + token);
    }
    return ctx;
  }

  // Opens a stream for `session` holding `holds` (besides the root), and
  // reads message 1.
  Watcher Watch(uint64_t session, std::initializer_list<Hold> holds = {}) {
    Watcher w;
    w.ctx = Context(0);
    w.stream = served_->stub()->Watch(w.ctx.get());
    WatchRequest first;
    first.set_session(session);
    for (const Hold& hold : holds) *first.add_holds() = hold;
    EXPECT_TRUE(w.stream->Write(first));
    WatchReply one = w.Next();
    EXPECT_EQ(one.heartbeat_ms(), absl::ToInt64Milliseconds(kWatchHeartbeat));
    EXPECT_EQ(one.invalidations_size(), 0);
    return w;
  }

  static InodeId Root() {
    InodeId root;
    root.set_ino(Filesystem::kRootIno);
    root.set_generation(Filesystem::kRootGeneration);
    return root;
  }

  // Creates `name` in `parent` as `session`.
  EntryReply Create(uint64_t session, const InodeId& parent,
                    const std::string& name) {
    MkNodRequest req;
    *req.mutable_parent() = parent;
    req.set_name(name);
    req.set_mode(0100644);
    EntryReply reply;
    auto ctx = Context(session);
    EXPECT_TRUE(served_->stub()->MkNod(ctx.get(), req, &reply).ok());
    EXPECT_EQ(reply.err(), 0);
    return reply;
  }

  EntryReply MakeDir(uint64_t session, const std::string& name) {
    MkDirRequest req;
    *req.mutable_parent() = Root();
    req.set_name(name);
    req.set_mode(0755);
    EntryReply reply;
    auto ctx = Context(session);
    EXPECT_TRUE(served_->stub()->MkDir(ctx.get(), req, &reply).ok());
    EXPECT_EQ(reply.err(), 0);
    return reply;
  }

  std::unique_ptr<testing::ServedFilesystem> served_;
};

Hold HoldOf(uint64_t ino, uint64_t as_of) {
  Hold hold;
  hold.set_ino(ino);
  hold.set_as_of(as_of);
  return hold;
}

TEST_F(WatchTest, OtherSessionsCreateReachesTheRootHolderOnly) {
  Watcher a = Watch(kSessionA);
  Watcher b = Watch(kSessionB);
  const EntryReply created = Create(kSessionA, Root(), "f");
  EXPECT_GT(created.as_of(), 0u);

  const WatchReply changes = b.NextChanges();
  ASSERT_EQ(changes.invalidations_size(), 1);
  EXPECT_EQ(changes.invalidations(0).kind(), Invalidation::ENTRY);
  EXPECT_EQ(changes.invalidations(0).ino(), Filesystem::kRootIno);
  EXPECT_EQ(changes.invalidations(0).name(), "f");

  // A's change was queued (or not) before MkNod answered: A's next two
  // messages, heartbeats within a second, carry nothing.
  for (int i = 0; i < 2; ++i) EXPECT_EQ(a.Next().invalidations_size(), 0);
  EXPECT_TRUE(a.Finish().ok());
  EXPECT_TRUE(b.Finish().ok());
}

TEST_F(WatchTest, WriteReachesAHolderOfTheFileAsData) {
  const EntryReply file = Create(kSessionA, Root(), "f");
  Watcher b = Watch(kSessionB, {HoldOf(file.attr().id().ino(), 0)});
  WriteRequest write;
  *write.mutable_id() = file.attr().id();
  write.set_data("hello");
  WriteReply written;
  auto ctx = Context(kSessionA);
  ASSERT_TRUE(served_->stub()->Write(ctx.get(), write, &written).ok());
  ASSERT_EQ(written.err(), 0);
  const WatchReply changes = b.NextChanges();
  ASSERT_EQ(changes.invalidations_size(), 1);
  EXPECT_EQ(changes.invalidations(0).kind(), Invalidation::DATA);
  EXPECT_EQ(changes.invalidations(0).ino(), file.attr().id().ino());
}

TEST_F(WatchTest, HeartbeatsComeWithConsecutiveSeq) {
  Watcher b = Watch(kSessionB);
  absl::Time last = absl::Now();
  for (int i = 0; i < 4; ++i) {
    const WatchReply beat = b.Next();  // checks seq 2, 3, 4, 5
    EXPECT_EQ(beat.invalidations_size(), 0);
    const absl::Time now = absl::Now();
    // Loose: the promise is one heartbeat; a loaded machine adds latency.
    EXPECT_LT(now - last, kWatchHeartbeat * kWatchSilentHeartbeats);
    last = now;
  }
}

TEST_F(WatchTest, HoldWithAnOldAsOfCatchesUp) {
  const EntryReply dir = MakeDir(kSessionA, "d");
  LookupRequest lookup;
  *lookup.mutable_parent() = Root();
  lookup.set_name("d");
  EntryReply looked_up;
  auto ctx = Context(kSessionB);
  ASSERT_TRUE(served_->stub()->Lookup(ctx.get(), lookup, &looked_up).ok());
  ASSERT_EQ(looked_up.err(), 0);
  ASSERT_GT(looked_up.as_of(), 0u);

  // A changes d before B's Hold of it (from that Lookup) arrives.
  Create(kSessionA, dir.attr().id(), "late");
  Watcher b = Watch(kSessionB);
  WatchRequest hold;
  *hold.add_holds() = HoldOf(dir.attr().id().ino(), looked_up.as_of());
  ASSERT_TRUE(b.stream->Write(hold));
  const WatchReply changes = b.NextChanges();
  ASSERT_EQ(changes.invalidations_size(), 1);
  EXPECT_EQ(changes.invalidations(0).kind(), Invalidation::ENTRY);
  EXPECT_EQ(changes.invalidations(0).ino(), dir.attr().id().ino());
  EXPECT_EQ(changes.invalidations(0).name(), "late");
}

TEST_F(WatchTest, FirstMessageWithoutSessionIsRefused) {
  auto ctx = Context(0);
  auto stream = served_->stub()->Watch(ctx.get());
  ASSERT_TRUE(stream->Write(WatchRequest()));
  WatchReply reply;
  EXPECT_FALSE(stream->Read(&reply));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(WatchTest, SecondStreamOfASessionEndsTheFirst) {
  Watcher old_b = Watch(kSessionB);
  Watcher new_b = Watch(kSessionB);
  WatchReply reply;
  while (old_b.stream->Read(&reply)) {
  }
  old_b.finished = true;
  EXPECT_EQ(old_b.stream->Finish().error_code(), grpc::StatusCode::ABORTED);
  EXPECT_TRUE(new_b.Finish().ok());
}

TEST_F(WatchTest, ShutdownEndsOpenStreams) {
  Watcher b = Watch(kSessionB);
  served_->service()->ShutdownWatches();
  WatchReply reply;
  while (b.stream->Read(&reply)) {
  }
  b.finished = true;
  EXPECT_EQ(b.stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  // The server's own Shutdown then has nothing to wait for.
  const absl::Time start = absl::Now();
  served_->Stop(absl::Now() + absl::Seconds(20));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

class WatchTokenTest : public WatchTest {
 protected:
  void SetUp() override {
    const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/token";
    std::ofstream(path, std::ios::trunc) << kToken << "\n";
    chmod(path.c_str(), 0600);
    auto auth = TokenAuthenticator::FromFile(path);
    ASSERT_TRUE(auth.ok()) << auth.status();
    authenticator_ = std::move(*auth);
    AccessOptions access;
    access.authenticator = authenticator_.get();
    Start(access);
  }

  std::unique_ptr<TokenAuthenticator> authenticator_;
};

TEST_F(WatchTokenTest, MissingTokenIsRefused) {
  for (const std::string& token : {std::string(), std::string("wrong")}) {
    auto ctx = Context(0, token);
    auto stream = served_->stub()->Watch(ctx.get());
    WatchRequest first;
    first.set_session(kSessionB);
    stream->Write(first);
    WatchReply reply;
    EXPECT_FALSE(stream->Read(&reply));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  auto ctx = Context(0, kToken);
  auto stream = served_->stub()->Watch(ctx.get());
  WatchRequest first;
  first.set_session(kSessionB);
  ASSERT_TRUE(stream->Write(first));
  WatchReply reply;
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_EQ(reply.seq(), 1u);
  stream->WritesDone();
  while (stream->Read(&reply)) {
  }
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace rbfs
