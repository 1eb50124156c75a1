// rbfs_load: the long form of //tests/mount:mount_load_test. Starts a real
// rbfs-server and several rbfs-mounts of it, runs the mixed, checked
// workload of testing/load_workload.h for --duration, and prints what
// was done and verified. Exits 1 on any mismatch or I/O error. (Server
// restarts under load are exercised by fio_restart.sh; a restarting mode
// here hung in its first restart and was taken out until understood.)
//
//   bazel build //tools/reliability:rbfs_load
//   sudo bazel-bin/tools/reliability/rbfs_load --duration=10m
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "testing/load_workload.h"
#include "testing/mount_fixture.h"

ABSL_FLAG(absl::Duration, duration, absl::Minutes(1), "how long to run");
ABSL_FLAG(int, mounts, 4, "mounts of the one server (every other cache=auto)");
ABSL_FLAG(int, threads, 16, "threads per mount");
ABSL_FLAG(uint64_t, seed, 1, "seed of the workload");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // The cluster finds rbfs-server and rbfs-mount in the runfiles.
  if (getenv("TEST_SRCDIR") == nullptr) {
    setenv("TEST_SRCDIR", absl::StrCat(argv[0], ".runfiles").c_str(), 1);
  }
  const int mounts = absl::GetFlag(FLAGS_mounts);
  if (mounts < 2) {
    fprintf(stderr, "--mounts must be at least 2\n");
    return 2;
  }
  absl::StatusOr<std::unique_ptr<rbfs::RbfsCluster>> cluster =
      rbfs::RbfsCluster::Start({});
  if (!cluster.ok()) {
    fprintf(stderr, "cannot start: %s\n", cluster.status().ToString().c_str());
    return 2;
  }
  rbfs::LoadOptions options;
  options.mounts.push_back((*cluster)->mountpoint());
  for (int i = 1; i < mounts; ++i) {
    const std::string mount_options = i % 2 == 1 ? "cache=auto" : "";
    absl::StatusOr<std::string> mount =
        (*cluster)->AddClient(absl::StrCat("client", i), mount_options);
    if (!mount.ok()) {
      fprintf(stderr, "cannot mount: %s\n", mount.status().ToString().c_str());
      return 2;
    }
    options.mounts.push_back(*mount);
  }
  options.threads_per_mount = absl::GetFlag(FLAGS_threads);
  options.duration = absl::GetFlag(FLAGS_duration);
  options.seed = absl::GetFlag(FLAGS_seed);
  const rbfs::LoadResult result = rbfs::RunLoad(options);
  for (const std::string& error : result.errors) {
    fprintf(stderr, "error: %s\n", error.c_str());
  }
  printf(
      "%d mounts x %d threads, %s: %llu operations, "
      "written %llu bytes, verified %llu bytes, %llu close-to-open reads, "
      "%llu hand-offs, %zu errors\n",
      mounts, options.threads_per_mount,
      absl::FormatDuration(options.duration).c_str(),
      static_cast<unsigned long long>(result.operations),
      static_cast<unsigned long long>(result.bytes_written),
      static_cast<unsigned long long>(result.bytes_verified),
      static_cast<unsigned long long>(result.slot_reads),
      static_cast<unsigned long long>(result.handoffs), result.errors.size());
  return result.errors.empty() ? 0 : 1;
}
