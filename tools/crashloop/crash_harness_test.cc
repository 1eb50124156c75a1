// The short form of the crash loop: a few seeded kill -9 iterations.
#include "tools/crashloop/crash_harness.h"

#include "gtest/gtest.h"
#include "tests/testing/process.h"

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
  std::printf(
      "crash loop: %d iterations, %llu calls, %llu files exact "
      "(%llu fsync'd), %llu cut off mid-call, %llu bytes verified, "
      "%llu orphans reclaimed\n",
      result->iterations, static_cast<unsigned long long>(result->calls),
      static_cast<unsigned long long>(result->files_verified),
      static_cast<unsigned long long>(result->fsynced_files_verified),
      static_cast<unsigned long long>(result->uncertain_files),
      static_cast<unsigned long long>(result->bytes_verified),
      static_cast<unsigned long long>(result->orphans_reclaimed));
}

}  // namespace
}  // namespace rbfs
