// The short form of the crash loop: a few seeded kill -9 iterations.
#include "tools/crashloop/crash_harness.h"

#include <cstdio>

#include "gtest/gtest.h"
#include "testing/process.h"

namespace rbfs {
namespace {

TEST(CrashHarnessTest, KillNineLosesNothingAcknowledged) {
  CrashLoopOptions options;
  options.seed = 20261124;
  options.iterations = 4;
  options.threads = 3;
  options.work_dir = testing::MakeTempDir("crashloop");
  absl::StatusOr<CrashLoopResult> result = RunCrashLoop(options);
  ASSERT_TRUE(result.ok()) << result.status();
  for (const std::string& p : result->problems) ADD_FAILURE() << p;
  EXPECT_EQ(result->failures, 0);
  EXPECT_EQ(result->iterations, 4);
  // The loop really exercised something.
  EXPECT_GT(result->files_verified, 0u);
  EXPECT_GT(result->bytes_verified, 0u);
  std::printf("crash loop: %s\n", Summarize(*result).c_str());
}

}  // namespace
}  // namespace rbfs
