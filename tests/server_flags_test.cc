// The real rbfs-server binary's deployment hooks: settings from RBFS_*
// environment variables (the command line overriding them) and --probe
// against a running server.
#include <stdlib.h>
#include <sys/stat.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testing/process.h"
#include "testing/server_process.h"

namespace rbfs {
namespace {

using ::rbfs::testing::FreeLoopbackPort;
using ::rbfs::testing::MakeTempDir;
using ::rbfs::testing::ProgramResult;
using ::rbfs::testing::RunfilePath;
using ::rbfs::testing::RunProgram;
using ::rbfs::testing::ServerProcess;

off_t VolumeFileSize(const std::string& data_dir) {
  struct stat st;
  if (stat(absl::StrCat(data_dir, "/volume").c_str(), &st) != 0) return -1;
  return st.st_size;
}

// Children inherit the environment: each test sets what it needs and
// removes it again.
class ServerFlagsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    unsetenv("RBFS_VOLUME_SIZE");
    unsetenv("RBFS_BLOCK_SIZE");
  }
};

TEST_F(ServerFlagsTest, EnvironmentSetsFlagsAndTheCommandLineWins) {
  setenv("RBFS_VOLUME_SIZE", "2097152", 1);
  const std::string from_env = MakeTempDir("from_env");
  ServerProcess env_server({from_env, {}});
  ASSERT_TRUE(env_server.Start().ok()) << env_server.Log();
  EXPECT_EQ(VolumeFileSize(from_env), 2097152);
  ASSERT_TRUE(env_server.Stop().ok());

  const std::string from_flag = MakeTempDir("from_flag");
  ServerProcess flag_server({from_flag, {"--volume-size=3145728"}});
  ASSERT_TRUE(flag_server.Start().ok()) << flag_server.Log();
  EXPECT_EQ(VolumeFileSize(from_flag), 3145728);
  ASSERT_TRUE(flag_server.Stop().ok());
}

TEST_F(ServerFlagsTest, InvalidEnvironmentValueStopsTheServer) {
  setenv("RBFS_BLOCK_SIZE", "huge", 1);
  ProgramResult result =
      RunProgram({RunfilePath("server/rbfs-server"),
                  absl::StrCat("--data=", MakeTempDir("invalid"))});
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_TRUE(absl::StrContains(
      result.output, "RBFS_BLOCK_SIZE=huge is not a valid --block-size"))
      << result.output;
}

TEST_F(ServerFlagsTest, ProbeReportsWhetherTheServerServes) {
  ServerProcess server({MakeTempDir("probed"), {"--volume-size=1048576"}});
  ASSERT_TRUE(server.Start().ok()) << server.Log();
  const std::string probe = RunfilePath("server/rbfs-server");
  ProgramResult serving =
      RunProgram({probe, absl::StrCat("--probe=", server.address()),
                  "--probe-timeout=10s"});
  EXPECT_EQ(serving.exit_code, 0) << serving.output;
  EXPECT_TRUE(absl::StrContains(serving.output, "SERVING")) << serving.output;

  ASSERT_TRUE(server.Stop().ok());
  ProgramResult stopped =
      RunProgram({probe, absl::StrCat("--probe=", server.address()),
                  "--probe-timeout=10s"});
  EXPECT_EQ(stopped.exit_code, 1) << stopped.output;
  EXPECT_TRUE(absl::StrContains(stopped.output, "not serving"))
      << stopped.output;
}

}  // namespace
}  // namespace rbfs
