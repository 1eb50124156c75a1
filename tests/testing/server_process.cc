#include "tests/testing/server_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/rbfs_service.h"

namespace rbfs::testing {
namespace {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

pid_t Spawn(const std::vector<std::string>& argv, int out_fd) {
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, STDOUT_FILENO);
    dup2(out_fd, STDERR_FILENO);
    std::vector<char*> args;
    for (const std::string& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// waitpid with a deadline; -1 if the child is still running after it.
int WaitFor(pid_t pid, absl::Duration timeout) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    close(pidfd);
  }
  int status = 0;
  return waitpid(pid, &status, WNOHANG) == pid ? status : -1;
}

}  // namespace

std::string RunfilePath(const std::string& relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir ? srcdir : ".", "/",
                      workspace ? workspace : "rbfs", "/", relative);
}

std::string MakeTempDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(tmp ? tmp : "/tmp", "/", name);
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Kill();
}

absl::Status ServerProcess::Start(absl::Duration timeout) {
  if (port_ == 0) port_ = FreePort();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe");
  std::vector<std::string> argv = {RunfilePath("server/rbfs-server"),
                                   absl::StrCat("--listen=127.0.0.1:", port_),
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
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return log_closed_ || log_.find("ready on") != std::string::npos;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (log_.find("ready on") == std::string::npos) {
    return absl::UnavailableError(
        absl::StrCat("server did not become ready; its log:\n", log_));
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
  int status = WaitFor(pid_, timeout);
  if (status == -1) {
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

std::string ServerProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

std::shared_ptr<grpc::Channel> ServerProcess::NewChannel() const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(RbfsService::kMaxMessageBytes * 2);
  args.SetMaxSendMessageSize(RbfsService::kMaxMessageBytes * 2);
  // Each test channel is its own connection, as separate clients would be.
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return grpc::CreateCustomChannel(address(),
                                   grpc::InsecureChannelCredentials(), args);
}

std::string ServerProcess::Log() {
  absl::MutexLock lock(&mu_);
  return log_;
}

ProgramResult RunProgram(const std::vector<std::string>& argv,
                         absl::Duration timeout) {
  ProgramResult result;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return result;
  pid_t pid = Spawn(argv, fds[1]);
  close(fds[1]);
  const absl::Time deadline = absl::Now() + timeout;
  char buf[4096];
  for (;;) {
    pollfd p{fds[0], POLLIN, 0};
    int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) == 0) {
      kill(pid, SIGKILL);
      result.output += "\n[killed: still running after the test's timeout]";
      break;
    }
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buf, n);
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace rbfs::testing
