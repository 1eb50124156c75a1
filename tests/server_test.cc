// The real rbfs-server on a loopback port, called through real gRPC channels.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "protos/rbfs.grpc.pb.h"
#include "server/rpc/health_probe.h"
#include "testing/prometheus_text.h"
#include "testing/server_process.h"
#include "testing/test_data.h"

namespace rbfs {
namespace {

using ::rbfs::testing::MakeTempDir;
using ::rbfs::testing::RunfilePath;
using ::rbfs::testing::RunProgram;
using ::rbfs::testing::ServerProcess;

InodeId Root() {
  InodeId id;
  id.set_ino(1);
  id.set_generation(1);
  return id;
}

// A thin synchronous client that turns replies into (errno, value).
class Client {
 public:
  explicit Client(std::shared_ptr<grpc::Channel> channel)
      : stub_(Rbfs::NewStub(channel)) {}

  template <typename Req, typename Reply,
            typename Method = grpc::Status (Rbfs::Stub::*)(grpc::ClientContext*,
                                                           const Req&, Reply*)>
  grpc::Status Call(Method method, const Req& req, Reply* reply) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
    return (stub_.get()->*method)(&ctx, req, reply);
  }

  EntryReply Create(const InodeId& parent, const std::string& name) {
    MkNodRequest req;
    *req.mutable_parent() = parent;
    req.set_name(name);
    req.set_mode(S_IFREG | 0644);
    req.set_exclusive(true);
    EntryReply reply;
    EXPECT_TRUE(Call(&Rbfs::Stub::MkNod, req, &reply).ok());
    return reply;
  }

  EntryReply MkDir(const InodeId& parent, const std::string& name) {
    MkDirRequest req;
    *req.mutable_parent() = parent;
    req.set_name(name);
    req.set_mode(0755);
    EntryReply reply;
    EXPECT_TRUE(Call(&Rbfs::Stub::MkDir, req, &reply).ok());
    return reply;
  }

  EntryReply Lookup(const InodeId& parent, const std::string& name) {
    LookupRequest req;
    *req.mutable_parent() = parent;
    req.set_name(name);
    EntryReply reply;
    EXPECT_TRUE(Call(&Rbfs::Stub::Lookup, req, &reply).ok());
    return reply;
  }

  WriteReply Write(const InodeId& id, uint64_t offset, const std::string& d) {
    WriteRequest req;
    *req.mutable_id() = id;
    req.set_offset(offset);
    req.set_data(d);
    WriteReply reply;
    grpc::Status s = Call(&Rbfs::Stub::Write, req, &reply);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return reply;
  }

  ReadReply Read(const InodeId& id, uint64_t offset, uint32_t length) {
    ReadRequest req;
    *req.mutable_id() = id;
    req.set_offset(offset);
    req.set_length(length);
    ReadReply reply;
    EXPECT_TRUE(Call(&Rbfs::Stub::Read, req, &reply).ok());
    return reply;
  }

  int Fsync(const InodeId& id) {
    FsyncRequest req;
    *req.mutable_id() = id;
    ErrReply reply;
    EXPECT_TRUE(Call(&Rbfs::Stub::Fsync, req, &reply).ok());
    return reply.err();
  }

  int Unlink(const InodeId& parent, const std::string& name) {
    UnlinkRequest req;
    *req.mutable_parent() = parent;
    req.set_name(name);
    ErrReply reply;
    EXPECT_TRUE(Call(&Rbfs::Stub::Unlink, req, &reply).ok());
    return reply.err();
  }

  int Rename(const InodeId& p, const std::string& n, const InodeId& np,
             const std::string& nn, uint32_t flags = 0) {
    RenameRequest req;
    *req.mutable_parent() = p;
    req.set_name(n);
    *req.mutable_new_parent() = np;
    req.set_new_name(nn);
    req.set_flags(flags);
    ErrReply reply;
    EXPECT_TRUE(Call(&Rbfs::Stub::Rename, req, &reply).ok());
    return reply.err();
  }

  StatFsReply StatFs() {
    StatFsReply reply;
    EXPECT_TRUE(Call(&Rbfs::Stub::StatFs, StatFsRequest(), &reply).ok());
    return reply;
  }

 private:
  std::unique_ptr<Rbfs::Stub> stub_;
};

std::string Pattern(uint64_t seed, size_t size) {
  std::string out(size, '\0');
  PatternFill(seed, 0, out.data(), size);
  return out;
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> extra = {}) {
    data_ = MakeTempDir(
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    server_ = std::make_unique<ServerProcess>(
        ServerProcess::Options{data_, std::move(extra)});
    ASSERT_TRUE(server_->Start().ok()) << server_->Log();
  }

  int Check() {
    testing::ProgramResult r = RunProgram(
        {RunfilePath("server/rbfs-server"), "--check", "--data=" + data_});
    if (r.exit_code != 0) ADD_FAILURE() << r.output;
    return r.exit_code;
  }

  std::string data_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ServerTest, PosixOperationsCarryExactErrnos) {
  StartServer();
  Client c(server_->NewChannel());
  EntryReply d = c.MkDir(Root(), "dir");
  ASSERT_EQ(d.err(), 0);
  EXPECT_TRUE(S_ISDIR(d.attr().mode()));
  EXPECT_EQ(c.MkDir(Root(), "dir").err(), EEXIST);
  EXPECT_EQ(c.Lookup(Root(), "missing").err(), ENOENT);
  EXPECT_EQ(c.Create(Root(), std::string(256, 'n')).err(), ENAMETOOLONG);
  EXPECT_EQ(c.Create(Root(), "a/b").err(), EINVAL);

  EntryReply f = c.Create(d.attr().id(), "file");
  ASSERT_EQ(f.err(), 0);
  WriteReply w = c.Write(f.attr().id(), 70000, "hello");
  EXPECT_EQ(w.err(), 0);
  EXPECT_EQ(w.size(), 70005u);
  ReadReply r = c.Read(f.attr().id(), 69998, 100);
  EXPECT_EQ(r.err(), 0);
  EXPECT_EQ(r.data(), std::string(2, '\0') + "hello");

  EXPECT_EQ(c.Rename(Root(), "dir", d.attr().id(), "inside"), EINVAL);
  RmDirRequest rm;
  *rm.mutable_parent() = Root();
  rm.set_name("dir");
  ErrReply err;
  ASSERT_TRUE(c.Call(&Rbfs::Stub::RmDir, rm, &err).ok());
  EXPECT_EQ(err.err(), ENOTEMPTY);

  SymlinkRequest sl;
  *sl.mutable_parent() = Root();
  sl.set_name("link");
  sl.set_target("dir/file");
  EntryReply s;
  ASSERT_TRUE(c.Call(&Rbfs::Stub::Symlink, sl, &s).ok());
  ASSERT_EQ(s.err(), 0);
  ReadLinkRequest rl;
  *rl.mutable_id() = s.attr().id();
  ReadLinkReply target;
  ASSERT_TRUE(c.Call(&Rbfs::Stub::ReadLink, rl, &target).ok());
  EXPECT_EQ(target.target(), "dir/file");

  LinkRequest ln;
  *ln.mutable_id() = f.attr().id();
  *ln.mutable_new_parent() = Root();
  ln.set_new_name("hard");
  EntryReply l;
  ASSERT_TRUE(c.Call(&Rbfs::Stub::Link, ln, &l).ok());
  EXPECT_EQ(l.attr().nlink(), 2u);

  ReadDirRequest rd;
  *rd.mutable_id() = Root();
  rd.set_max_entries(100);
  rd.set_with_attrs(true);
  ReadDirReply listing;
  ASSERT_TRUE(c.Call(&Rbfs::Stub::ReadDir, rd, &listing).ok());
  std::set<std::string> names;
  for (const DirEntry& e : listing.entries()) {
    names.insert(e.name());
    EXPECT_EQ(e.attr().id().ino(), e.ino());
  }
  EXPECT_EQ(names, (std::set<std::string>{"dir", "link", "hard"}));
  EXPECT_TRUE(listing.eof());

  StatFsReply st = c.StatFs();
  EXPECT_EQ(st.block_size(), 65536u);
  EXPECT_EQ(st.total_blocks(), (16ull << 30) / 65536 - 1);
  EXPECT_EQ(st.total_blocks() - st.free_blocks(), 1u);
  EXPECT_EQ(st.max_name_length(), 255u);

  // A stale generation is ESTALE, never another inode.
  InodeId stale = f.attr().id();
  stale.set_generation(stale.generation() + 1);
  EXPECT_EQ(c.Read(stale, 0, 10).err(), ESTALE);
  ASSERT_TRUE(server_->Stop().ok());
  EXPECT_EQ(Check(), 0);
}

TEST_F(ServerTest, HealthServiceReportsServing) {
  StartServer();
  absl::Status serving = ProbeHealth(server_->address(), absl::Seconds(10));
  EXPECT_TRUE(serving.ok()) << serving;
}

TEST_F(ServerTest, VolumeFullIsEnospcAndNothingHalfApplied) {
  StartServer({"--volume-size=1048576", "--block-size=65536"});  // 15 blocks
  Client c(server_->NewChannel());
  EntryReply f = c.Create(Root(), "big");
  ASSERT_EQ(f.err(), 0);
  EXPECT_EQ(c.Write(f.attr().id(), 0, std::string(12 * 65536, 'a')).err(), 0);
  EntryReply g = c.Create(Root(), "g");
  EXPECT_EQ(c.Write(g.attr().id(), 0, std::string(4 * 65536, 'b')).err(),
            ENOSPC);
  GetAttrRequest ga;
  *ga.mutable_id() = g.attr().id();
  AttrReply attr;
  ASSERT_TRUE(c.Call(&Rbfs::Stub::GetAttr, ga, &attr).ok());
  EXPECT_EQ(attr.attr().size(), 0u);
  EXPECT_EQ(c.StatFs().free_blocks(), 3u);
  ASSERT_EQ(c.Unlink(Root(), "big"), 0);
  EXPECT_EQ(c.Write(g.attr().id(), 0, std::string(4 * 65536, 'b')).err(), 0);
  ASSERT_TRUE(server_->Stop().ok());
  EXPECT_EQ(Check(), 0);
}

TEST_F(ServerTest, SixtyFourConcurrentClientsKeepEveryByte) {
  StartServer();
  constexpr int kClients = 64;
  constexpr int kPieces = 8;
  constexpr size_t kPiece = 96 * 1024;  // not block aligned
  Client setup(server_->NewChannel());
  EntryReply shared = setup.Create(Root(), "shared");
  ASSERT_EQ(shared.err(), 0);
  std::vector<std::thread> threads;
  std::vector<InodeId> own(kClients);
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      Client c(server_->NewChannel());
      EntryReply mine = c.Create(Root(), absl::StrCat("own", t));
      ASSERT_EQ(mine.err(), 0);
      own[t] = mine.attr().id();
      for (int p = 0; p < kPieces; ++p) {
        ASSERT_EQ(
            c.Write(mine.attr().id(), p * kPiece, Pattern(t * 1000 + p, kPiece))
                .err(),
            0);
        uint64_t slot = static_cast<uint64_t>(p) * kClients + t;
        ASSERT_EQ(c.Write(shared.attr().id(), slot * kPiece,
                          Pattern(slot + 99999, kPiece))
                      .err(),
                  0);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  Client check(server_->NewChannel());
  for (int t = 0; t < kClients; ++t) {
    for (int p = 0; p < kPieces; ++p) {
      ReadReply r = check.Read(own[t], p * kPiece, kPiece);
      ASSERT_TRUE(r.data() == Pattern(t * 1000 + p, kPiece))
          << "client " << t << " piece " << p;
      uint64_t slot = static_cast<uint64_t>(p) * kClients + t;
      r = check.Read(shared.attr().id(), slot * kPiece, kPiece);
      ASSERT_TRUE(r.data() == Pattern(slot + 99999, kPiece)) << "slot " << slot;
    }
  }
  ASSERT_TRUE(server_->Stop().ok());
  EXPECT_EQ(Check(), 0);
}

TEST_F(ServerTest, FsyncedDataSurvivesKillNine) {
  StartServer({"--commit-interval=1h"});  // only Fsync makes data durable
  std::vector<InodeId> synced;
  {
    Client c(server_->NewChannel());
    EntryReply d = c.MkDir(Root(), "d");
    for (int i = 0; i < 20; ++i) {
      EntryReply f = c.Create(d.attr().id(), absl::StrCat("f", i));
      ASSERT_EQ(f.err(), 0);
      ASSERT_EQ(c.Write(f.attr().id(), i * 1000, Pattern(i, 200000)).err(), 0);
      ASSERT_EQ(c.Fsync(f.attr().id()), 0);
      synced.push_back(f.attr().id());
    }
    // Un-synced churn after the last fsync: may or may not survive.
    for (int i = 0; i < 20; ++i) {
      EntryReply f = c.Create(d.attr().id(), absl::StrCat("late", i));
      c.Write(f.attr().id(), 0, Pattern(100 + i, 70000));
      if (i % 2) c.Unlink(d.attr().id(), absl::StrCat("f", i + 100));
    }
  }
  server_->Kill();
  ASSERT_TRUE(server_->Start().ok()) << server_->Log();
  Client c(server_->NewChannel());
  EntryReply d = c.Lookup(Root(), "d");
  ASSERT_EQ(d.err(), 0);
  for (int i = 0; i < 20; ++i) {
    EntryReply f = c.Lookup(d.attr().id(), absl::StrCat("f", i));
    ASSERT_EQ(f.err(), 0) << i;
    EXPECT_EQ(f.attr().id().ino(), synced[i].ino()) << "ids are stable";
    EXPECT_EQ(f.attr().id().generation(), synced[i].generation());
    EXPECT_EQ(f.attr().size(), i * 1000 + 200000u);
    ReadReply r = c.Read(f.attr().id(), i * 1000, 200000);
    EXPECT_TRUE(r.data() == Pattern(i, 200000)) << "file " << i;
  }
  server_->Kill();
  EXPECT_EQ(Check(), 0);
}

// Every metric the server lists is exposed in the exact format (the parser
// checks HELP, TYPE, labels, cumulative buckets) and moves with calls.
TEST_F(ServerTest, MetricsAreExposedAndMoveWithCalls) {
  StartServer({"--metrics-listen=127.0.0.1:0", "--commit-interval=1h"});
  const int port = testing::MetricsPortInLog(server_->Log());
  ASSERT_GT(port, 0) << server_->Log();
  absl::StatusOr<testing::Exposition> before = testing::ScrapeMetrics(port);
  ASSERT_TRUE(before.ok()) << before.status();
  for (const char* family :
       {"rbfs_server_calls_total", "rbfs_server_call_seconds",
        "rbfs_server_calls_in_flight", "rbfs_server_read_bytes_total",
        "rbfs_server_written_bytes_total", "rbfs_server_volume_blocks",
        "rbfs_server_commit_seconds", "rbfs_server_sessions",
        "rbfs_server_open_handles", "rbfs_server_invalidations_queued_total"}) {
    EXPECT_EQ(before->types.count(family), 1u) << family;
  }

  Client c(server_->NewChannel());
  EntryReply f = c.Create(Root(), "f");
  ASSERT_EQ(f.err(), 0);
  ASSERT_EQ(c.Write(f.attr().id(), 0, Pattern(3, 200000)).err(), 0);
  ASSERT_EQ(c.Read(f.attr().id(), 0, 100000).err(), 0);
  EXPECT_EQ(c.Lookup(Root(), "missing").err(), ENOENT);
  EXPECT_EQ(c.Fsync(f.attr().id()), 0);

  absl::StatusOr<testing::Exposition> after = testing::ScrapeMetrics(port);
  ASSERT_TRUE(after.ok()) << after.status();
  auto moved = [&](const std::string& series) {
    return after->Value(series) - std::max(0.0, before->Value(series));
  };
  EXPECT_EQ(moved("rbfs_server_calls_total{method=\"Write\",result=\"ok\"}"),
            1);
  EXPECT_EQ(
      moved("rbfs_server_calls_total{method=\"Lookup\",result=\"ENOENT\"}"), 1);
  EXPECT_EQ(moved("rbfs_server_call_seconds_count{method=\"Read\"}"), 1);
  EXPECT_EQ(moved("rbfs_server_written_bytes_total"), 200000);
  EXPECT_EQ(moved("rbfs_server_read_bytes_total"), 100000);
  EXPECT_GE(moved("rbfs_server_commit_seconds_count"), 1);
  EXPECT_GE(moved("rbfs_server_volume_blocks{state=\"used\"}"), 4);
  EXPECT_EQ(after->Value("rbfs_server_calls_in_flight"), 0);
}

// deploy/grafana/rbfs-server.json graphs only metric families the server
// exposes (a histogram's through its _bucket, _sum and _count series).
TEST_F(ServerTest, TheDashboardNamesOnlyMetricsTheServerExposes) {
  StartServer({"--metrics-listen=127.0.0.1:0"});
  const int port = testing::MetricsPortInLog(server_->Log());
  ASSERT_GT(port, 0) << server_->Log();
  absl::StatusOr<testing::Exposition> exposed = testing::ScrapeMetrics(port);
  ASSERT_TRUE(exposed.ok()) << exposed.status();
  std::ifstream in(RunfilePath("deploy/grafana/rbfs-server.json"));
  std::stringstream dashboard;
  dashboard << in.rdbuf();
  const std::string text = dashboard.str();
  ASSERT_FALSE(text.empty());
  const std::vector<std::string> named =
      testing::FamiliesNamedIn(text, *exposed);
  for (const std::string& name : named) {
    EXPECT_EQ(exposed->types.count(name), 1u) << name;
  }
  EXPECT_GE(named.size(), 10u);
}

TEST_F(ServerTest, SigtermFinishesCleanlyAndKeepsData) {
  StartServer({"--commit-interval=1h"});
  {
    Client c(server_->NewChannel());
    EntryReply f = c.Create(Root(), "f");
    ASSERT_EQ(c.Write(f.attr().id(), 0, Pattern(7, 300000)).err(), 0);
  }
  absl::StatusOr<int> status = server_->Stop();
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_EQ(Check(), 0);
  ASSERT_TRUE(server_->Start().ok());
  Client c(server_->NewChannel());
  EntryReply f = c.Lookup(Root(), "f");
  ASSERT_EQ(f.err(), 0);
  EXPECT_TRUE(c.Read(f.attr().id(), 0, 300000).data() == Pattern(7, 300000));
}

TEST_F(ServerTest, HostileRequestsGetErrorsAndDataStaysIntact) {
  StartServer();
  Client c(server_->NewChannel());
  EntryReply f = c.Create(Root(), "precious");
  ASSERT_EQ(f.err(), 0);
  const std::string precious = Pattern(42, 150000);
  ASSERT_EQ(c.Write(f.attr().id(), 0, precious).err(), 0);
  const InodeId id = f.attr().id();

  InodeId zero;
  EXPECT_EQ(c.Read(zero, 0, 10).err(), ESTALE);
  InodeId wild;
  wild.set_ino(~uint64_t{0});
  wild.set_generation(1);
  EXPECT_EQ(c.Write(wild, 0, "x").err(), ESTALE);
  EXPECT_EQ(c.Read(id, 0, 64u << 20).err(), EINVAL) << "read over 4 MiB";
  EXPECT_EQ(c.Read(id, ~uint64_t{0} - 5, 100).data(), "") << "far past EOF";
  EXPECT_EQ(c.Write(id, ~uint64_t{0} - 2, "xyz").err(), EFBIG);
  EXPECT_EQ(c.Write(id, uint64_t{1} << 44, "x").err(), EFBIG);
  EXPECT_EQ(c.Create(Root(), "").err(), ENOENT);
  EXPECT_EQ(c.Create(Root(), std::string("a\0b", 3)).err(), EINVAL);
  EXPECT_EQ(c.Create(Root(), "..").err(), EINVAL);
  EXPECT_EQ(c.Create(id, "child-of-a-file").err(), ENOTDIR);
  EXPECT_EQ(c.Rename(Root(), "precious", Root(), "p2", 0xff), EINVAL);
  EXPECT_EQ(c.Rename(Root(), "precious", Root(), "x/y"), EINVAL);
  EXPECT_EQ(c.Unlink(Root(), "."), EINVAL);

  SetAttrRequest sa;
  *sa.mutable_id() = id;
  sa.set_valid(SETATTR_SIZE);
  sa.set_size(~uint64_t{0});
  AttrReply attr;
  ASSERT_TRUE(c.Call(&Rbfs::Stub::SetAttr, sa, &attr).ok());
  EXPECT_EQ(attr.err(), EFBIG);

  MkNodRequest dirnod;
  *dirnod.mutable_parent() = Root();
  dirnod.set_name("sneaky");
  dirnod.set_mode(S_IFDIR | 0755);
  EntryReply e;
  ASSERT_TRUE(c.Call(&Rbfs::Stub::MkNod, dirnod, &e).ok());
  EXPECT_EQ(e.err(), EINVAL);

  SymlinkRequest sl;
  *sl.mutable_parent() = Root();
  sl.set_name("long");
  sl.set_target(std::string(5000, 't'));
  ASSERT_TRUE(c.Call(&Rbfs::Stub::Symlink, sl, &e).ok());
  EXPECT_EQ(e.err(), ENAMETOOLONG);

  ReadDirRequest rd;
  *rd.mutable_id() = id;
  ReadDirReply listing;
  ASSERT_TRUE(c.Call(&Rbfs::Stub::ReadDir, rd, &listing).ok());
  EXPECT_EQ(listing.err(), ENOTDIR);
  *rd.mutable_id() = Root();
  rd.set_cookie(~uint64_t{0});
  rd.set_max_entries(~uint32_t{0});
  ASSERT_TRUE(c.Call(&Rbfs::Stub::ReadDir, rd, &listing).ok());
  EXPECT_EQ(listing.err(), 0);

  // A message past the size limit is refused by gRPC itself.
  WriteRequest huge;
  *huge.mutable_id() = id;
  huge.set_data(std::string(12 << 20, 'h'));
  WriteReply wr;
  grpc::Status s = c.Call(&Rbfs::Stub::Write, huge, &wr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  // Garbage bytes where a request should be.
  grpc::GenericStub raw(server_->NewChannel());
  for (const char* method : {"/rbfs.Rbfs/Write", "/rbfs.Rbfs/Rename",
                             "/rbfs.Rbfs/ReadDir", "/rbfs.Rbfs/SetAttr"}) {
    std::string junk = Pattern(std::hash<std::string>()(method), 300);
    grpc::Slice slice(junk);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    absl::Mutex mu;
    bool done = false;
    raw.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                  [&](grpc::Status) {
                    absl::MutexLock lock(&mu);
                    done = true;
                  });
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&done));
  }

  // The server still serves the stored data, unchanged.
  Client after(server_->NewChannel());
  ReadReply r = after.Read(id, 0, 200000);
  ASSERT_EQ(r.err(), 0);
  EXPECT_TRUE(r.data() == precious);
  ASSERT_TRUE(server_->Stop().ok());
  EXPECT_EQ(Check(), 0);
}

TEST_F(ServerTest, UsesAnExistingVolumeFileAndRefusesAForeignOne) {
  const std::string dir = MakeTempDir("external_volume");
  const std::string volume = dir + "/disk.img";
  {
    // A pre-allocated, unformatted file, as an operator would provide.
    std::FILE* f = std::fopen(volume.c_str(), "w");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(ftruncate(fileno(f), 32 << 20), 0);
    std::fclose(f);
  }
  StartServer({"--volume=" + volume});
  {
    Client c(server_->NewChannel());
    EXPECT_EQ(c.StatFs().total_blocks(), (32u << 20) / 65536 - 1);
    EntryReply f = c.Create(Root(), "f");
    ASSERT_EQ(c.Write(f.attr().id(), 0, "on the external volume").err(), 0);
  }
  ASSERT_TRUE(server_->Stop().ok());
  testing::ProgramResult check =
      RunProgram({RunfilePath("server/rbfs-server"), "--check",
                  "--data=" + data_, "--volume=" + volume});
  EXPECT_EQ(check.exit_code, 0) << check.output;

  // Another data directory must not adopt (or format) that volume.
  const std::string other = MakeTempDir("other_data");
  testing::ProgramResult foreign =
      RunProgram({RunfilePath("server/rbfs-server"), "--data=" + other,
                  "--volume=" + volume, "--listen=127.0.0.1:0"});
  EXPECT_NE(foreign.exit_code, 0);
  EXPECT_NE(foreign.output.find("does not belong"), std::string::npos)
      << foreign.output;

  ASSERT_TRUE(server_->Start().ok());
  Client c(server_->NewChannel());
  EntryReply f = c.Lookup(Root(), "f");
  ASSERT_EQ(f.err(), 0);
  EXPECT_EQ(c.Read(f.attr().id(), 0, 100).data(), "on the external volume");
}

TEST_F(ServerTest, RefusesAMissingVolumeAndExplainsBadFlags) {
  StartServer();
  {
    Client c(server_->NewChannel());
    EntryReply f = c.Create(Root(), "f");
    ASSERT_EQ(c.Write(f.attr().id(), 0, "x").err(), 0);
  }
  ASSERT_TRUE(server_->Stop().ok());
  EXPECT_EQ(Check(), 0);
  // Lose the volume: the server refuses to start instead of making a new one.
  std::filesystem::rename(data_ + "/volume", data_ + "/volume.gone");
  testing::ProgramResult missing =
      RunProgram({RunfilePath("server/rbfs-server"), "--data=" + data_,
                  "--listen=127.0.0.1:0"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find("missing"), std::string::npos)
      << missing.output;
  EXPECT_FALSE(std::filesystem::exists(data_ + "/volume"));

  testing::ProgramResult no_data =
      RunProgram({RunfilePath("server/rbfs-server")});
  EXPECT_EQ(no_data.exit_code, 2);
  EXPECT_NE(no_data.output.find("--data"), std::string::npos);
  testing::ProgramResult bad_block = RunProgram(
      {RunfilePath("server/rbfs-server"), "--data=" + MakeTempDir("bad_block"),
       "--block-size=1000", "--listen=127.0.0.1:0"});
  EXPECT_NE(bad_block.exit_code, 0);
  EXPECT_NE(bad_block.output.find("power of two"), std::string::npos)
      << bad_block.output;
}

}  // namespace
}  // namespace rbfs
