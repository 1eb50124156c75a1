// Child processes for tests: binaries from the runfiles, spawned with their
// output captured, waited for with a bound. Every wait here ends.
#ifndef RBFS_TESTING_PROCESS_H_
#define RBFS_TESTING_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rbfs::testing {

// Path of a file in the test's runfiles, e.g. "server/rbfs-server".
std::string RunfilePath(const std::string& relative);

// A fresh, empty directory under TEST_TMPDIR.
std::string MakeTempDir(const std::string& name);

// A TCP port on 127.0.0.1 that was free a moment ago.
absl::StatusOr<int> FreeLoopbackPort();

// fork + execvp; the child's stdout and stderr go to `out_fd` when >= 0.
pid_t Spawn(const std::vector<std::string>& argv, int out_fd);

// Waits at most `timeout` for `pid` to exit; returns its wait status.
absl::StatusOr<int> WaitForExit(pid_t pid, absl::Duration timeout);

// The uid and gid of "nobody", which tests act as to check permissions.
inline constexpr uid_t kNobody = 65534;

// Runs `body` in a child process as uid/gid kNobody with no supplementary
// groups, in directory `dir` (entered first: test directories under /root
// are closed to nobody), and returns its exit code (100: it could not
// become nobody; -1: it did not exit).
int RunAsNobody(const std::string& dir, const std::function<int()>& body);

// Runs a program to completion (killed after `timeout`); returns its exit
// code (-1 if killed) and captured output.
struct ProgramResult {
  int exit_code = -1;
  std::string output;
};
ProgramResult RunProgram(const std::vector<std::string>& argv,
                         absl::Duration timeout = absl::Seconds(60));

}  // namespace rbfs::testing

#endif  // RBFS_TESTING_PROCESS_H_
