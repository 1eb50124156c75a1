// ServerProcess: a real rbfs-server child process for tests.
//
// Starts the binary from the test's runfiles on a free loopback port, waits
// (bounded) for its "ready on" log line, and can stop it politely (SIGTERM),
// kill it (SIGKILL) or restart it on the same port and data directory. The
// child's stderr is echoed to the test log, prefixed, and kept for asserts.
#ifndef RBFS_TESTING_SERVER_PROCESS_H_
#define RBFS_TESTING_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "protos/rbfs.grpc.pb.h"
#include "testing/process.h"

namespace rbfs::testing {

class ServerProcess {
 public:
  struct Options {
    std::string data_dir;
    std::vector<std::string> extra_args;  // e.g. {"--volume-size=1048576"}
    // Address to listen on; clients still connect through 127.0.0.1.
    std::string listen_host = "127.0.0.1";
    // The server binary in the runfiles.
    std::string binary = "server/rbfs-server";
  };

  explicit ServerProcess(Options options) : options_(std::move(options)) {}
  ~ServerProcess();

  // Starts the server (on the port of the previous run, if any).
  // `timeout` bounds the wait for its "ready" line.
  absl::Status Start(absl::Duration timeout = absl::Seconds(30));
  // Starts it without waiting (a standby is ready only once it takes over);
  // its port is known at once.
  absl::Status Launch();
  // Waits until it logged `text` ("ready on" for ready); UNAVAILABLE with
  // its log if it did not within `timeout` or exited first.
  absl::Status WaitForLog(absl::string_view text, absl::Duration timeout);
  // SIGTERM and wait; returns the exit status as from waitpid.
  absl::StatusOr<int> Stop(absl::Duration timeout = absl::Seconds(30));
  // SIGKILL and wait.
  void Kill();
  // Sends `signal` (e.g. SIGHUP) and returns at once.
  void Signal(int signal);

  bool running() const { return pid_ > 0; }
  std::string address() const;
  std::shared_ptr<grpc::Channel> NewChannel() const;
  // Everything the server wrote to stderr so far.
  std::string Log();

 private:
  void ReadLog(int fd);

  Options options_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::thread reader_;
  absl::Mutex mu_;
  std::string log_ ABSL_GUARDED_BY(mu_);
  bool log_closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace rbfs::testing

#endif  // RBFS_TESTING_SERVER_PROCESS_H_
