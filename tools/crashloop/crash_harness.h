// CrashHarness: kill -9 the server at random moments under a mixed
// workload, restart it on the same data directory, and verify.
//
// Each iteration runs `threads` workers against a real rbfs-server over
// gRPC (no FUSE mount in between: the mount's behaviour across server
// restarts is tested on its own). Worker k owns directory "t<k>" and keeps
// a model of its files; it creates, writes (with and without fsync),
// truncates, renames (also over its own files), unlinks, and unlinks files
// it holds open. Once the workers have completed a seeded number of calls,
// the server gets SIGKILL while calls are in flight. Then:
// - `rbfs-server --check` must report the data directory clean;
// - the restarted server must log the orphans it reclaimed;
// - every file whose last call was acknowledged must hold exactly its
//   modelled content (a process crash loses nothing acknowledged), which
//   includes every file whose last fsync returned;
// - a file whose call was cut off may hold old or new bytes, but never a
//   byte that was not written to it.
// The model then adopts what survived, and the next iteration goes on.
#ifndef RBFS_TOOLS_CRASHLOOP_CRASH_HARNESS_H_
#define RBFS_TOOLS_CRASHLOOP_CRASH_HARNESS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace rbfs {

struct CrashLoopOptions {
  uint64_t seed = 1;
  int iterations = 3;
  int threads = 3;
  // Holds the server's data directory; must exist.
  std::string work_dir;
  // Bounds of the number of calls completed before each kill.
  int min_calls = 20;
  int max_calls = 200;
};

struct CrashLoopResult {
  int iterations = 0;
  int failures = 0;  // iterations with at least one problem
  std::vector<std::string> problems;
  uint64_t calls = 0;
  uint64_t files_verified = 0;
  uint64_t fsynced_files_verified = 0;
  uint64_t uncertain_files = 0;  // cut off mid-call, checked for origin
  uint64_t bytes_verified = 0;
  uint64_t orphans_reclaimed = 0;
};

// One line of counts: "4 iterations, 0 failures, 812 calls, ...".
std::string Summarize(const CrashLoopResult& result);

// Runs the loop with the rbfs-server binary from the runfiles. An error
// means the harness itself could not run (server would not start).
absl::StatusOr<CrashLoopResult> RunCrashLoop(const CrashLoopOptions& options);

}  // namespace rbfs

#endif  // RBFS_TOOLS_CRASHLOOP_CRASH_HARNESS_H_
