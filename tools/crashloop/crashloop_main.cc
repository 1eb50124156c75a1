// crashloop: the long form of the server crash-consistency harness.
//   bazel run //tools/crashloop -- --iterations=50 --seed=7
// Exits 0 when every iteration verified clean.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "tools/crashloop/crash_harness.h"

ABSL_FLAG(int, iterations, 50, "kill -9 / restart / verify rounds");
ABSL_FLAG(uint64_t, seed, 1, "seed of the workload and the kill moments");
ABSL_FLAG(int, threads, 4, "concurrent workers");
ABSL_FLAG(int, max_calls, 400, "most calls completed before a kill");
ABSL_FLAG(std::string, work_dir, "/tmp/rbfs-crashloop",
          "scratch directory (emptied first)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // The harness finds rbfs-server in the runfiles, as a test would.
  if (std::getenv("TEST_SRCDIR") == nullptr) {
    const char* runfiles = std::getenv("RUNFILES_DIR");
    const std::string dir =
        runfiles ? runfiles : std::string(argv[0]) + ".runfiles";
    setenv("TEST_SRCDIR", dir.c_str(), 1);
  }
  rbfs::CrashLoopOptions options;
  options.seed = absl::GetFlag(FLAGS_seed);
  options.iterations = absl::GetFlag(FLAGS_iterations);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.max_calls = absl::GetFlag(FLAGS_max_calls);
  options.work_dir = absl::GetFlag(FLAGS_work_dir);
  std::filesystem::remove_all(options.work_dir);
  std::filesystem::create_directories(options.work_dir);
  absl::StatusOr<rbfs::CrashLoopResult> result = rbfs::RunCrashLoop(options);
  if (!result.ok()) {
    std::fprintf(stderr, "crashloop could not run: %s\n",
                 result.status().ToString().c_str());
    return 2;
  }
  for (const std::string& p : result->problems) {
    std::fprintf(stderr, "PROBLEM %s\n", p.c_str());
  }
  std::printf("crashloop seed %llu: %s\n",
              static_cast<unsigned long long>(options.seed),
              Summarize(*result).c_str());
  return result->failures == 0 ? 0 : 1;
}
