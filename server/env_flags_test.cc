#include "server/env_flags.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

ABSL_FLAG(std::string, env_test_path, "default", "a string flag");
ABSL_FLAG(uint64_t, env_test_size, 1, "an integer flag");
ABSL_FLAG(bool, env_test_insecure, false, "a boolean flag");
ABSL_FLAG(absl::Duration, env_test_interval, absl::Seconds(1), "a duration");

namespace rbfs {
namespace {

constexpr char kPrefix[] = "RBFS_TEST_";

bool DefinedHere(absl::string_view file) {
  return absl::EndsWith(file, "server/env_flags_test.cc");
}

// Each test starts from the flags' defaults and an environment without the
// test's variables, and leaves them so.
class EnvFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override { ClearVariables(); }
  void TearDown() override { ClearVariables(); }

  static void ClearVariables() {
    for (const char* name :
         {"RBFS_TEST_ENV_TEST_PATH", "RBFS_TEST_ENV_TEST_SIZE",
          "RBFS_TEST_ENV_TEST_INSECURE", "RBFS_TEST_ENV_TEST_INTERVAL"}) {
      unsetenv(name);
    }
  }

  absl::FlagSaver saver_;
};

TEST(FlagEnvironmentVariableTest, UpperSnakeCaseAfterThePrefix) {
  EXPECT_EQ(FlagEnvironmentVariable("RBFS_", "token_file"), "RBFS_TOKEN_FILE");
  EXPECT_EQ(FlagEnvironmentVariable("RBFS_", "health-listen"),
            "RBFS_HEALTH_LISTEN");
  EXPECT_EQ(FlagEnvironmentVariable("RBFS_", "listen"), "RBFS_LISTEN");
}

TEST_F(EnvFlagsTest, SetsFlagsOfEveryTypeFromTheirVariables) {
  setenv("RBFS_TEST_ENV_TEST_PATH", "/run/secrets/token", 1);
  setenv("RBFS_TEST_ENV_TEST_SIZE", "1073741824", 1);
  setenv("RBFS_TEST_ENV_TEST_INSECURE", "true", 1);
  setenv("RBFS_TEST_ENV_TEST_INTERVAL", "250ms", 1);
  ASSERT_TRUE(SetFlagsFromEnvironment(kPrefix, DefinedHere).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_path), "/run/secrets/token");
  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_size), 1073741824u);
  EXPECT_TRUE(absl::GetFlag(FLAGS_env_test_insecure));
  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_interval), absl::Milliseconds(250));
}

TEST_F(EnvFlagsTest, UnsetAndEmptyVariablesKeepTheDefaults) {
  setenv("RBFS_TEST_ENV_TEST_PATH", "", 1);
  ASSERT_TRUE(SetFlagsFromEnvironment(kPrefix, DefinedHere).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_path), "default");
  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_size), 1u);
}

TEST_F(EnvFlagsTest, CommandLineOverridesTheEnvironment) {
  setenv("RBFS_TEST_ENV_TEST_PATH", "/from/env", 1);
  setenv("RBFS_TEST_ENV_TEST_SIZE", "7", 1);
  ASSERT_TRUE(SetFlagsFromEnvironment(kPrefix, DefinedHere).ok());
  std::vector<std::string> args = {"program", "--env_test_size=42"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  absl::ParseCommandLine(static_cast<int>(argv.size()), argv.data());
  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_size), 42u);
  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_path), "/from/env");
}

TEST_F(EnvFlagsTest, InvalidValuesNameTheirVariables) {
  setenv("RBFS_TEST_ENV_TEST_SIZE", "lots", 1);
  setenv("RBFS_TEST_ENV_TEST_INSECURE", "maybe", 1);
  setenv("RBFS_TEST_ENV_TEST_PATH", "/still/applied", 1);
  absl::Status status = SetFlagsFromEnvironment(kPrefix, DefinedHere);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(),
                                "RBFS_TEST_ENV_TEST_SIZE=lots is not a valid "
                                "--env-test-size"))
      << status;
  EXPECT_TRUE(
      absl::StrContains(status.message(),
                        "RBFS_TEST_ENV_TEST_INSECURE=maybe is not a valid "
                        "--env-test-insecure"))
      << status;
  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_size), 1u);
  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_path), "/still/applied");
}

TEST_F(EnvFlagsTest, FlagsDefinedElsewhereAreLeftAlone) {
  setenv("RBFS_TEST_ENV_TEST_PATH", "/from/env", 1);
  ASSERT_TRUE(SetFlagsFromEnvironment(kPrefix, [](absl::string_view file) {
                return absl::EndsWith(file, "server/server_main.cc");
              }).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_path), "default");
}

}  // namespace
}  // namespace rbfs
