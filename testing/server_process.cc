#include "testing/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/wire_limits.h"

namespace rbfs::testing {
ServerProcess::~ServerProcess() {
  if (pid_ > 0) Kill();
}

absl::Status ServerProcess::Start(absl::Duration timeout) {
  if (absl::Status s = Launch(); !s.ok()) return s;
  return WaitForLog("ready on", timeout);
}

absl::Status ServerProcess::Launch() {
  if (port_ == 0) {
    absl::StatusOr<int> port = FreeLoopbackPort();
    if (!port.ok()) return port.status();
    port_ = *port;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe");
  std::vector<std::string> argv = {
      RunfilePath(options_.binary),
      absl::StrCat("--listen=", options_.listen_host, ":", port_),
      absl::StrCat("--data=", options_.data_dir)};
  argv.insert(argv.end(), options_.extra_args.begin(),
              options_.extra_args.end());
  {
    absl::MutexLock lock(&mu_);
    log_.clear();
    log_closed_ = false;
  }
  pid_ = Spawn(argv, fds[1]);
  close(fds[1]);
  reader_ = std::thread([this, fd = fds[0]] { ReadLog(fd); });
  return absl::OkStatus();
}

absl::Status ServerProcess::WaitForLog(absl::string_view text,
                                       absl::Duration timeout) {
  const std::string wanted(text);
  absl::MutexLock lock(&mu_);
  auto seen = [this, &wanted]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> bool {
    return log_closed_ || log_.find(wanted) != std::string::npos;
  };
  mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
  if (log_.find(wanted) == std::string::npos) {
    return absl::UnavailableError(
        absl::StrCat("server did not log \"", text, "\"; its log:\n", log_));
  }
  return absl::OkStatus();
}

void ServerProcess::ReadLog(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::string chunk(buf, n);
    std::fprintf(stderr, "%s", chunk.c_str());
    absl::MutexLock lock(&mu_);
    log_ += chunk;
  }
  close(fd);
  absl::MutexLock lock(&mu_);
  log_closed_ = true;
}

absl::StatusOr<int> ServerProcess::Stop(absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("not running");
  kill(pid_, SIGTERM);
  absl::StatusOr<int> status = WaitForExit(pid_, timeout);
  if (!status.ok()) {
    Kill();
    return absl::DeadlineExceededError("server ignored SIGTERM");
  }
  pid_ = -1;
  reader_.join();
  return status;
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
}

void ServerProcess::Signal(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

std::string ServerProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

std::shared_ptr<grpc::Channel> ServerProcess::NewChannel() const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes * 2);
  args.SetMaxSendMessageSize(kMaxMessageBytes * 2);
  // Each test channel is its own connection, as separate clients would be.
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return grpc::CreateCustomChannel(address(),
                                   grpc::InsecureChannelCredentials(), args);
}

std::string ServerProcess::Log() {
  absl::MutexLock lock(&mu_);
  return log_;
}

}  // namespace rbfs::testing
