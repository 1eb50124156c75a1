// rbfs-mount against a secured rbfs-server, through the kernel: a mutual-TLS
// and token mount reads and writes; a mount with the wrong credentials fails
// at once with a clear message and exit status; a read-only export answers
// EROFS to every change a program attempts.
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/file_contents.h"
#include "gtest/gtest.h"
#include "testing/mount_fixture.h"
#include "testing/process.h"
#include "testing/test_pki.h"

namespace rbfs {
namespace {

using ::rbfs::testing::MakeTempDir;
using ::rbfs::testing::RunProgram;

constexpr char kToken[] = "mount-token-0123456789abcdef";

std::string WriteTokenFile(const std::string& path, const std::string& token) {
  std::ofstream(path, std::ios::trunc) << token << "\n";
  chmod(path.c_str(), 0600);
  return path;
}

class MountSecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<testing::TestPki> pki =
        testing::MakeTestPki(MakeTempDir("pki"));
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = new testing::TestPki(*pki);
    const std::string dir = MakeTempDir("tokens");
    token_file_ = new std::string(WriteTokenFile(dir + "/good", kToken));
    wrong_token_file_ = new std::string(
        WriteTokenFile(dir + "/wrong", "wrong-token-0123456789abcdef"));
  }

  // A server with mutual TLS and a token.
  RbfsCluster::Options Secured(const std::string& mount_options) const {
    RbfsCluster::Options options;
    options.volume_bytes = uint64_t{256} << 20;
    options.server_args = {
        "--tls-cert=" + pki_->server_cert, "--tls-key=" + pki_->server_key,
        "--tls-client-ca=" + pki_->ca_cert, "--token-file=" + *token_file_};
    options.mount_options = mount_options;
    return options;
  }

  std::string ClientTls() const {
    return absl::StrCat("tls_ca=", pki_->ca_cert,
                        ",tls_cert=", pki_->client_cert,
                        ",tls_key=", pki_->client_key);
  }

  // Runs rbfs-mount in the foreground against `cluster` with `options`;
  // it is expected to fail, so it never mounts.
  testing::ProgramResult FailingMount(const RbfsCluster& cluster,
                                      const std::string& options) {
    return RunProgram(
        {RunfilePath("client/rbfs-mount"), "-f", "-o", "deadline=3," + options,
         cluster.ServerAddress(), MakeTempDir("refused-mount")},
        absl::Seconds(30));
  }

  static inline testing::TestPki* pki_ = nullptr;
  static inline std::string* token_file_ = nullptr;
  static inline std::string* wrong_token_file_ = nullptr;
};

TEST_F(MountSecurityTest, MutualTlsAndTokenMountReadsAndWrites) {
  auto cluster = RbfsCluster::Start(
      Secured(absl::StrCat(ClientTls(), ",token_file=", *token_file_)));
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::string path = (*cluster)->Path("secret.txt");
  const std::string content(300000, 'x');
  {
    std::ofstream out(path, std::ios::binary);
    out << content;
    ASSERT_TRUE(out.good());
  }
  absl::StatusOr<std::string> read_back = ReadFileContents(path);
  ASSERT_TRUE(read_back.ok()) << read_back.status();
  EXPECT_EQ(*read_back, content);
}

// `rbfs status` asks with the files a mount uses: it names the mount's
// session and its open file; without the token it is refused.
TEST_F(MountSecurityTest, TheStatusToolAsksWithTheMountsCredentials) {
  auto cluster = RbfsCluster::Start(
      Secured(absl::StrCat(ClientTls(), ",token_file=", *token_file_)));
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::string path = (*cluster)->Path("held");
  const int fd = open(path.c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(write(fd, "data", 4), 4);
  const std::vector<std::string> status = {
      RunfilePath("client/rbfs"), "status", "--tls-ca=" + pki_->ca_cert,
      "--tls-cert=" + pki_->client_cert, "--tls-key=" + pki_->client_key};
  std::vector<std::string> with_token = status;
  with_token.push_back("--token-file=" + *token_file_);
  with_token.push_back((*cluster)->ServerAddress());
  // The mount's session is listed once its first renewal is in: it renews
  // at once when it starts.
  testing::ProgramResult asked;
  for (const absl::Time deadline = absl::Now() + absl::Seconds(30);
       absl::Now() < deadline; absl::SleepFor(absl::Milliseconds(50))) {
    asked = RunProgram(with_token, absl::Seconds(30));
    if (asked.output.find("1 open file ") != std::string::npos) break;
  }
  EXPECT_EQ(asked.exit_code, 0) << asked.output;
  EXPECT_NE(asked.output.find(absl::StrCat(
                "rbfs-server ", (*cluster)->ServerAddress(), ": up ")),
            std::string::npos)
      << asked.output;
  EXPECT_NE(asked.output.find("commits ok"), std::string::npos) << asked.output;
  EXPECT_NE(asked.output.find("sessions: 1 (lease"), std::string::npos)
      << asked.output;
  EXPECT_NE(asked.output.find("ipv4:127.0.0.1:"), std::string::npos)
      << asked.output;
  EXPECT_NE(asked.output.find("1 open file "), std::string::npos)
      << asked.output;
  EXPECT_NE(asked.output.find("volume: "), std::string::npos) << asked.output;
  ASSERT_EQ(close(fd), 0);

  std::vector<std::string> without_token = status;
  without_token.push_back((*cluster)->ServerAddress());
  const testing::ProgramResult refused =
      RunProgram(without_token, absl::Seconds(30));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("refused"), std::string::npos)
      << refused.output;
}

TEST_F(MountSecurityTest, WrongCredentialsFailTheMountClearly) {
  // The cluster's own mount has the right credentials; the others do not.
  auto cluster = RbfsCluster::Start(
      Secured(absl::StrCat(ClientTls(), ",token_file=", *token_file_)));
  ASSERT_TRUE(cluster.ok()) << cluster.status();

  testing::ProgramResult wrong_token = FailingMount(
      **cluster, absl::StrCat(ClientTls(), ",token_file=", *wrong_token_file_));
  EXPECT_EQ(wrong_token.exit_code, 1) << wrong_token.output;
  EXPECT_NE(wrong_token.output.find("refused this mount's credentials"),
            std::string::npos)
      << wrong_token.output;
  EXPECT_NE(wrong_token.output.find("Permission denied"), std::string::npos)
      << wrong_token.output;
  EXPECT_EQ(wrong_token.output.find("wrong-token-"), std::string::npos);

  testing::ProgramResult no_token = FailingMount(**cluster, ClientTls());
  EXPECT_EQ(no_token.exit_code, 1) << no_token.output;
  EXPECT_NE(no_token.output.find("Permission denied"), std::string::npos)
      << no_token.output;

  testing::ProgramResult no_client_cert = FailingMount(
      **cluster,
      absl::StrCat("tls_ca=", pki_->ca_cert, ",token_file=", *token_file_));
  EXPECT_EQ(no_client_cert.exit_code, 1) << no_client_cert.output;
  EXPECT_NE(no_client_cert.output.find("cannot mount"), std::string::npos)
      << no_client_cert.output;

  testing::ProgramResult plaintext =
      FailingMount(**cluster, absl::StrCat("token_file=", *token_file_));
  EXPECT_EQ(plaintext.exit_code, 1) << plaintext.output;
}

TEST_F(MountSecurityTest, ReadOnlyExportAnswersErofs) {
  RbfsCluster::Options options;
  options.volume_bytes = uint64_t{256} << 20;
  options.server_args = {"--read-only"};
  auto cluster = RbfsCluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::string root = (*cluster)->mountpoint();

  errno = 0;
  EXPECT_EQ(open((root + "/new").c_str(), O_CREAT | O_WRONLY, 0644), -1);
  EXPECT_EQ(errno, EROFS);
  errno = 0;
  EXPECT_EQ(mkdir((root + "/dir").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS);
  errno = 0;
  EXPECT_EQ(symlink("x", (root + "/link").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  errno = 0;
  EXPECT_EQ(chmod(root.c_str(), 0700), -1);
  EXPECT_EQ(errno, EROFS);

  struct stat st;
  EXPECT_EQ(stat(root.c_str(), &st), 0);
  struct statvfs vfs;
  EXPECT_EQ(statvfs(root.c_str(), &vfs), 0);
  EXPECT_GT(vfs.f_blocks, 0u);
}

using ::rbfs::testing::RunAsNobody;

TEST_F(MountSecurityTest, AllowOtherMountEnforcesModesAndOwnsByCaller) {
  RbfsCluster::Options options;
  options.volume_bytes = uint64_t{256} << 20;
  options.mount_options = "allow_other";
  auto cluster = RbfsCluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::string secret = (*cluster)->Path("secret");
  const std::string shared = (*cluster)->Path("shared");
  const std::string drop = (*cluster)->Path("drop");
  for (const auto& [path, mode] : {std::pair{secret, 0600}, {shared, 0644}}) {
    const int fd = open(path.c_str(), O_CREAT | O_WRONLY, mode);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "data", 4), 4);
    ASSERT_EQ(close(fd), 0);
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
  }
  ASSERT_EQ(mkdir(drop.c_str(), 0777), 0);
  ASSERT_EQ(chmod(drop.c_str(), 0777), 0);

  // Exit codes: 0 = as expected; each check has its own code.
  const int result = RunAsNobody((*cluster)->mountpoint(), [] {
    if (open("secret", O_RDONLY) != -1 || errno != EACCES) return 1;
    const int fd = open("shared", O_RDONLY);
    char buf[4];
    if (fd < 0 || read(fd, buf, 4) != 4) return 2;
    close(fd);
    if (open("shared", O_WRONLY) != -1 || errno != EACCES) return 3;
    if (unlink("shared") != -1 || errno != EACCES) return 4;
    const int mine = open("drop/mine", O_CREAT | O_WRONLY, 0600);
    if (mine < 0) return 5;
    close(mine);
    return 0;
  });
  EXPECT_EQ(result, 0);
  struct stat st;
  ASSERT_EQ(stat((drop + "/mine").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u) << "the server records the caller as owner";
  EXPECT_EQ(st.st_gid, 65534u);
}

}  // namespace
}  // namespace rbfs
