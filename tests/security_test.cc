// Security of rbfs-server as a client on the network meets it: a real server
// process on loopback with TLS, mutual TLS, a token, a read-only export and
// root squash, reached over gRPC with certificates openssl makes for the
// test. Refused clients must get nothing; the server must say why in its
// log without ever writing the token there.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "protos/rbfs.grpc.pb.h"
#include "server/rpc/health_probe.h"
#include "testing/process.h"
#include "testing/server_process.h"
#include "testing/test_pki.h"

namespace rbfs {
namespace {

using ::rbfs::testing::MakeTempDir;
using ::rbfs::testing::ReadFileOrDie;
using ::rbfs::testing::RunfilePath;
using ::rbfs::testing::RunProgram;
using ::rbfs::testing::ServerProcess;
using ::rbfs::testing::TestPki;

constexpr char kGoodToken[] = "good-token-0123456789abcdef";
constexpr char kOtherToken[] = "other-token-0123456789abcdef";

InodeId Root() {
  InodeId id;
  id.set_ino(1);
  id.set_generation(1);
  return id;
}

std::string WriteTokenFile(const std::string& dir, const std::string& name,
                           const std::string& token) {
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::trunc) << token << "\n";
  chmod(path.c_str(), 0600);
  return path;
}

// Channels live as long as the test process: gRPC 1.51 may crash when all
// of a process's channels go away while callback threads still run.
std::shared_ptr<grpc::Channel> Keep(std::shared_ptr<grpc::Channel> channel) {
  static auto* channels = new std::vector<std::shared_ptr<grpc::Channel>>;
  channels->push_back(channel);
  return channel;
}

std::shared_ptr<grpc::Channel> PlainChannel(const std::string& address) {
  return Keep(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address,
                                          const std::string& ca,
                                          const std::string& cert = "",
                                          const std::string& key = "") {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFileOrDie(ca);
  if (!cert.empty()) {
    ssl.pem_cert_chain = ReadFileOrDie(cert);
    ssl.pem_private_key = ReadFileOrDie(key);
  }
  return Keep(grpc::CreateChannel(address, grpc::SslCredentials(ssl)));
}

// One call, failing fast when no connection can be made.
template <typename Req, typename Reply>
grpc::Status Call(const std::shared_ptr<grpc::Channel>& channel,
                  grpc::Status (Rbfs::Stub::*method)(grpc::ClientContext*,
                                                     const Req&, Reply*),
                  const Req& req, Reply* reply, const std::string& token = "") {
  std::unique_ptr<Rbfs::Stub> stub = Rbfs::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  return (stub.get()->*method)(&ctx, req, reply);
}

grpc::Status StatFs(const std::shared_ptr<grpc::Channel>& channel,
                    const std::string& token = "") {
  StatFsReply reply;
  return Call(channel, &Rbfs::Stub::StatFs, StatFsRequest(), &reply, token);
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<TestPki> pki = testing::MakeTestPki(MakeTempDir("pki"));
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = new TestPki(*pki);
  }

  std::unique_ptr<ServerProcess> Start(std::vector<std::string> args,
                                       std::string data_dir = "") {
    if (data_dir.empty()) data_dir = MakeTempDir("data");
    args.push_back("--volume-size=268435456");
    auto server = std::make_unique<ServerProcess>(
        ServerProcess::Options{data_dir, std::move(args)});
    absl::Status started = server->Start();
    EXPECT_TRUE(started.ok()) << started;
    return server;
  }

  std::vector<std::string> TlsArgs() const {
    return {"--tls-cert=" + pki_->server_cert, "--tls-key=" + pki_->server_key};
  }

  static inline TestPki* pki_ = nullptr;
};

TEST_F(SecurityTest, TlsServerTalksOnlyToClientsThatTrustIt) {
  absl::StatusOr<int> health_port = testing::FreeLoopbackPort();
  ASSERT_TRUE(health_port.ok());
  const std::string health = absl::StrCat("127.0.0.1:", *health_port);
  std::vector<std::string> args = TlsArgs();
  args.push_back("--health-listen=" + health);
  auto server = Start(args);
  EXPECT_TRUE(StatFs(TlsChannel(server->address(), pki_->ca_cert)).ok());

  // The plaintext health port answers probes and nothing else.
  EXPECT_TRUE(ProbeHealth(health, absl::Seconds(10)).ok());
  EXPECT_EQ(StatFs(PlainChannel(health)).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);

  grpc::Status plain = StatFs(PlainChannel(server->address()));
  EXPECT_EQ(plain.error_code(), grpc::StatusCode::UNAVAILABLE)
      << plain.error_message();
  grpc::Status untrusted =
      StatFs(TlsChannel(server->address(), pki_->rogue_ca_cert));
  EXPECT_EQ(untrusted.error_code(), grpc::StatusCode::UNAVAILABLE)
      << untrusted.error_message();
}

TEST_F(SecurityTest, ReplacedCertificateIsServedWithoutRestart) {
  const std::string dir = MakeTempDir("rotating");
  const std::string cert = dir + "/server.pem", key = dir + "/server.key";
  auto install = [&](const std::string& from_cert,
                     const std::string& from_key) {
    // Like an operator: write beside, then rename over the served file.
    std::ofstream(cert + ".new") << ReadFileOrDie(from_cert);
    std::ofstream(key + ".new") << ReadFileOrDie(from_key);
    ASSERT_EQ(rename((key + ".new").c_str(), key.c_str()), 0);
    ASSERT_EQ(rename((cert + ".new").c_str(), cert.c_str()), 0);
  };
  install(pki_->server_cert, pki_->server_key);
  auto server = Start({"--tls-cert=" + cert, "--tls-key=" + key});
  auto before = TlsChannel(server->address(), pki_->ca_cert);
  ASSERT_TRUE(StatFs(before).ok());

  install(pki_->rogue_server_cert, pki_->rogue_server_key);
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!StatFs(TlsChannel(server->address(), pki_->rogue_ca_cert)).ok() &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(StatFs(TlsChannel(server->address(), pki_->rogue_ca_cert)).ok())
      << "new connections get the new certificate";
  EXPECT_TRUE(StatFs(before).ok()) << "the open connection keeps working";
  EXPECT_FALSE(StatFs(TlsChannel(server->address(), pki_->ca_cert)).ok())
      << "the old certificate is no longer offered";
}

TEST_F(SecurityTest, MutualTlsNeedsAClientCertificateFromItsCa) {
  std::vector<std::string> args = TlsArgs();
  args.push_back("--tls-client-ca=" + pki_->ca_cert);
  auto server = Start(args);
  EXPECT_TRUE(StatFs(TlsChannel(server->address(), pki_->ca_cert,
                                pki_->client_cert, pki_->client_key))
                  .ok());
  EXPECT_FALSE(StatFs(TlsChannel(server->address(), pki_->ca_cert)).ok());
  EXPECT_FALSE(
      StatFs(TlsChannel(server->address(), pki_->ca_cert,
                        pki_->rogue_client_cert, pki_->rogue_client_key))
          .ok());
  EXPECT_NE(server->Log().find("mutual TLS"), std::string::npos);
}

TEST_F(SecurityTest, TokenIsRequiredCheckedAndNeverLogged) {
  const std::string dir = MakeTempDir("token");
  const std::string token_file = WriteTokenFile(dir, "token", kGoodToken);
  auto server = Start({"--token-file=" + token_file});
  auto channel = PlainChannel(server->address());

  EXPECT_TRUE(StatFs(channel, kGoodToken).ok());
  grpc::Status none = StatFs(channel);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status wrong = StatFs(channel, kOtherToken);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(wrong.error_message().find(kOtherToken), std::string::npos);

  // A refused caller gets no data from any method, not only StatFs.
  ReadRequest read;
  *read.mutable_id() = Root();
  read.set_length(4096);
  ReadReply read_reply;
  EXPECT_EQ(Call(channel, &Rbfs::Stub::Read, read, &read_reply).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  MkDirRequest mkdir;
  *mkdir.mutable_parent() = Root();
  mkdir.set_name("intruder");
  mkdir.set_mode(0755);
  EntryReply entry;
  EXPECT_EQ(Call(channel, &Rbfs::Stub::MkDir, mkdir, &entry, kOtherToken)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  LookupRequest lookup;
  *lookup.mutable_parent() = Root();
  lookup.set_name("intruder");
  ASSERT_TRUE(
      Call(channel, &Rbfs::Stub::Lookup, lookup, &entry, kGoodToken).ok());
  EXPECT_EQ(entry.err(), ENOENT) << "a refused MkDir must change nothing";

  // Probes carry no token: the health service stays open.
  EXPECT_TRUE(ProbeHealth(server->address(), absl::Seconds(10)).ok());

  const std::string log = server->Log();
  EXPECT_NE(log.find("refused"), std::string::npos) << log;
  EXPECT_EQ(log.find(kGoodToken), std::string::npos) << log;
  EXPECT_EQ(log.find(kOtherToken), std::string::npos) << log;
}

TEST_F(SecurityTest, SighupRotatesTheToken) {
  const std::string dir = MakeTempDir("rotate");
  const std::string token_file = WriteTokenFile(dir, "token", kGoodToken);
  auto server = Start({"--token-file=" + token_file});
  auto channel = PlainChannel(server->address());
  ASSERT_TRUE(StatFs(channel, kGoodToken).ok());

  WriteTokenFile(dir, "token", kOtherToken);
  server->Signal(SIGHUP);
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!StatFs(channel, kOtherToken).ok() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(StatFs(channel, kOtherToken).ok());
  EXPECT_EQ(StatFs(channel, kGoodToken).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // A broken file on the next SIGHUP keeps the current token working.
  WriteTokenFile(dir, "token", "short");
  server->Signal(SIGHUP);
  const absl::Time logged_by = absl::Now() + absl::Seconds(10);
  while (server->Log().find("keeping the previous token") ==
             std::string::npos &&
         absl::Now() < logged_by) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_NE(server->Log().find("keeping the previous token"),
            std::string::npos);
  EXPECT_TRUE(StatFs(channel, kOtherToken).ok());
  EXPECT_EQ(server->Log().find("short"), std::string::npos);
}

TEST_F(SecurityTest, ReadOnlyExportRefusesEveryMutationAndServesReads) {
  const std::string data = MakeTempDir("ro");
  InodeId dir_id, file_id;
  {
    auto writable = Start({}, data);
    auto channel = PlainChannel(writable->address());
    MkDirRequest mkdir;
    *mkdir.mutable_parent() = Root();
    mkdir.set_name("d");
    mkdir.set_mode(0755);
    EntryReply dir;
    ASSERT_TRUE(Call(channel, &Rbfs::Stub::MkDir, mkdir, &dir).ok());
    MkNodRequest mknod;
    *mknod.mutable_parent() = Root();
    mknod.set_name("f");
    mknod.set_mode(S_IFREG | 0644);
    EntryReply file;
    ASSERT_TRUE(Call(channel, &Rbfs::Stub::MkNod, mknod, &file).ok());
    WriteRequest write;
    *write.mutable_id() = file.attr().id();
    write.set_data("kept");
    WriteReply written;
    ASSERT_TRUE(Call(channel, &Rbfs::Stub::Write, write, &written).ok());
    ASSERT_EQ(written.err(), 0);
    ASSERT_TRUE(writable->Stop().ok());
    dir_id = dir.attr().id();
    file_id = file.attr().id();
  }
  auto server = Start({"--read-only"}, data);
  auto channel = PlainChannel(server->address());

  auto expect_erofs = [&](auto method, const auto& req, auto reply,
                          const char* what) {
    grpc::Status s = Call(channel, method, req, &reply);
    ASSERT_TRUE(s.ok()) << what << ": " << s.error_message();
    EXPECT_EQ(reply.err(), EROFS) << what;
  };
  SetAttrRequest setattr;
  *setattr.mutable_id() = file_id;
  setattr.set_valid(SETATTR_SIZE);
  expect_erofs(&Rbfs::Stub::SetAttr, setattr, AttrReply(), "truncate");
  MkNodRequest mknod;
  *mknod.mutable_parent() = Root();
  mknod.set_name("new");
  mknod.set_mode(S_IFREG | 0644);
  expect_erofs(&Rbfs::Stub::MkNod, mknod, EntryReply(), "mknod");
  MkDirRequest mkdir;
  *mkdir.mutable_parent() = Root();
  mkdir.set_name("newdir");
  mkdir.set_mode(0755);
  expect_erofs(&Rbfs::Stub::MkDir, mkdir, EntryReply(), "mkdir");
  UnlinkRequest unlink;
  *unlink.mutable_parent() = Root();
  unlink.set_name("f");
  expect_erofs(&Rbfs::Stub::Unlink, unlink, ErrReply(), "unlink");
  RmDirRequest rmdir;
  *rmdir.mutable_parent() = Root();
  rmdir.set_name("d");
  expect_erofs(&Rbfs::Stub::RmDir, rmdir, ErrReply(), "rmdir");
  RenameRequest rename;
  *rename.mutable_parent() = Root();
  rename.set_name("f");
  *rename.mutable_new_parent() = dir_id;
  rename.set_new_name("g");
  expect_erofs(&Rbfs::Stub::Rename, rename, ErrReply(), "rename");
  LinkRequest link;
  *link.mutable_id() = file_id;
  *link.mutable_new_parent() = Root();
  link.set_new_name("h");
  expect_erofs(&Rbfs::Stub::Link, link, EntryReply(), "link");
  SymlinkRequest symlink;
  *symlink.mutable_parent() = Root();
  symlink.set_name("s");
  symlink.set_target("f");
  expect_erofs(&Rbfs::Stub::Symlink, symlink, EntryReply(), "symlink");
  WriteRequest write;
  *write.mutable_id() = file_id;
  write.set_data("lost");
  expect_erofs(&Rbfs::Stub::Write, write, WriteReply(), "write");
  OpenRequest open_rw;
  *open_rw.mutable_id() = file_id;
  open_rw.set_flags(O_RDWR);
  expect_erofs(&Rbfs::Stub::Open, open_rw, AttrReply(), "open O_RDWR");
  OpenRequest open_trunc;
  *open_trunc.mutable_id() = file_id;
  open_trunc.set_flags(O_RDONLY | O_TRUNC);
  expect_erofs(&Rbfs::Stub::Open, open_trunc, AttrReply(), "open O_TRUNC");

  OpenRequest open_ro;
  *open_ro.mutable_id() = file_id;
  open_ro.set_flags(O_RDONLY);
  AttrReply opened;
  ASSERT_TRUE(Call(channel, &Rbfs::Stub::Open, open_ro, &opened).ok());
  EXPECT_EQ(opened.err(), 0);
  ReadRequest read;
  *read.mutable_id() = file_id;
  read.set_length(100);
  ReadReply content;
  ASSERT_TRUE(Call(channel, &Rbfs::Stub::Read, read, &content).ok());
  EXPECT_EQ(content.data(), "kept");
  ReadDirRequest readdir;
  *readdir.mutable_id() = Root();
  readdir.set_max_entries(100);
  ReadDirReply listing;
  ASSERT_TRUE(Call(channel, &Rbfs::Stub::ReadDir, readdir, &listing).ok());
  EXPECT_EQ(listing.entries_size(), 2) << "d and f, nothing added";
}

TEST_F(SecurityTest, PlaintextOffLoopbackNeedsInsecureAndWarns) {
  absl::StatusOr<int> port = testing::FreeLoopbackPort();
  ASSERT_TRUE(port.ok());
  const std::string data = MakeTempDir("exposed");
  const std::string listen = absl::StrCat("--listen=0.0.0.0:", *port);
  testing::ProgramResult refused =
      RunProgram({RunfilePath("server/rbfs-server"), "--data=" + data, listen});
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("--insecure"), std::string::npos)
      << refused.output;

  const std::string token_file =
      WriteTokenFile(MakeTempDir("exposed-token"), "token", kGoodToken);
  testing::ProgramResult token_refused =
      RunProgram({RunfilePath("server/rbfs-server"), "--data=" + data, listen,
                  "--insecure", "--token-file=" + token_file});
  EXPECT_EQ(token_refused.exit_code, 2) << token_refused.output;
  EXPECT_NE(token_refused.output.find("--allow-insecure-token"),
            std::string::npos)
      << token_refused.output;

  ServerProcess::Options options{data, {"--insecure"}};
  options.listen_host = "0.0.0.0";
  ServerProcess insecure(options);
  ASSERT_TRUE(insecure.Start().ok());
  EXPECT_NE(insecure.Log().find("without TLS"), std::string::npos);
  EXPECT_TRUE(StatFs(PlainChannel(insecure.address())).ok());
  ASSERT_TRUE(insecure.Stop().ok());

  ServerProcess::Options tls_options{data, TlsArgs()};
  tls_options.listen_host = "0.0.0.0";
  ServerProcess tls(tls_options);
  ASSERT_TRUE(tls.Start().ok()) << "TLS needs no --insecure";
  EXPECT_TRUE(StatFs(TlsChannel(tls.address(), pki_->ca_cert)).ok());
}

TEST_F(SecurityTest, SquashRootHandsRootsFilesToNobody) {
  auto server = Start({"--squash-root"});
  auto channel = PlainChannel(server->address());
  MkNodRequest by_root;
  *by_root.mutable_parent() = Root();
  by_root.set_name("by-root");
  by_root.set_mode(S_IFREG | 04755);
  EntryReply root_file;
  ASSERT_TRUE(Call(channel, &Rbfs::Stub::MkNod, by_root, &root_file).ok());
  ASSERT_EQ(root_file.err(), 0);
  EXPECT_EQ(root_file.attr().uid(), 65534u);
  EXPECT_EQ(root_file.attr().gid(), 65534u);

  MkNodRequest by_user = by_root;
  by_user.set_name("by-user");
  by_user.mutable_caller()->set_uid(1000);
  by_user.mutable_caller()->set_gid(1000);
  EntryReply user_file;
  ASSERT_TRUE(Call(channel, &Rbfs::Stub::MkNod, by_user, &user_file).ok());
  EXPECT_EQ(user_file.attr().uid(), 1000u);

  SetAttrRequest chown;
  *chown.mutable_id() = user_file.attr().id();
  chown.set_valid(SETATTR_UID);
  chown.set_uid(0);
  AttrReply chowned;
  ASSERT_TRUE(Call(channel, &Rbfs::Stub::SetAttr, chown, &chowned).ok());
  EXPECT_EQ(chowned.err(), EPERM);
}

}  // namespace
}  // namespace rbfs
