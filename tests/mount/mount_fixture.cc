#include "tests/mount/mount_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace rbfs {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(60);
constexpr absl::Duration kPollInterval = absl::Milliseconds(20);

absl::StatusOr<int> FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError("bind to port 0 failed");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// fork+exec with stderr optionally redirected to `stderr_fd`.
pid_t Spawn(const std::vector<std::string>& argv, int stderr_fd) {
  std::vector<char*> args;
  for (const std::string& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    if (stderr_fd >= 0) {
      dup2(stderr_fd, STDERR_FILENO);
      close(stderr_fd);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

std::string RunfilePath(const std::string& relative) {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir ? srcdir : ".", "/",
                      workspace ? workspace : "rbfs", "/", relative);
}

absl::StatusOr<int> WaitForExit(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return status;
    if (done < 0) return absl::InternalError(strerror(errno));
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("process ", pid, " did not exit"));
    }
    absl::SleepFor(kPollInterval);
  }
}

RbfsCluster::RbfsCluster(const Options& options, std::string root, int port)
    : options_(options),
      root_(std::move(root)),
      port_(port),
      mountpoint_(root_ + "/mnt") {}

absl::StatusOr<std::unique_ptr<RbfsCluster>> RbfsCluster::Start(
    const Options& options) {
  const char* tmp = getenv("TEST_TMPDIR");
  std::string root_template = absl::StrCat(tmp ? tmp : "/tmp", "/rbfsXXXXXX");
  if (mkdtemp(root_template.data()) == nullptr) {
    return absl::InternalError("mkdtemp failed");
  }
  absl::StatusOr<int> port = FreePort();
  if (!port.ok()) return port.status();
  std::unique_ptr<RbfsCluster> cluster(
      new RbfsCluster(options, root_template, *port));
  mkdir((cluster->root_ + "/data").c_str(), 0755);
  mkdir(cluster->mountpoint_.c_str(), 0755);
  absl::Status status = cluster->StartServer();
  if (status.ok()) status = cluster->StartMount();
  if (!status.ok()) return status;
  return cluster;
}

RbfsCluster::~RbfsCluster() {
  for (const auto& [pid, dir] : extra_mounts_) {
    kill(pid, SIGTERM);
    if (!WaitForExit(pid, absl::Seconds(30)).ok()) {
      kill(pid, SIGKILL);
      WaitForExit(pid, absl::Seconds(10)).IgnoreError();
    }
    if (IsMounted(dir)) umount2(dir.c_str(), MNT_DETACH);
  }
  if (mount_pid_ > 0) {
    absl::StatusOr<int> stopped = StopMount(SIGTERM);
    if (!stopped.ok()) {
      kill(mount_pid_, SIGKILL);
      WaitForExit(mount_pid_, absl::Seconds(10)).IgnoreError();
    }
  }
  if (Mounted()) umount2(mountpoint_.c_str(), MNT_DETACH);
  if (server_pid_ > 0) StopServer(SIGTERM).IgnoreError();
}

absl::Status RbfsCluster::StartServer() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  std::vector<std::string> argv = {RunfilePath("server/rbfs-server"),
                                   "--listen",
                                   ServerAddress(),
                                   "--data",
                                   root_ + "/data",
                                   "--volume-size",
                                   absl::StrCat(options_.volume_bytes)};
  argv.insert(argv.end(), options_.server_args.begin(),
              options_.server_args.end());
  server_pid_ = Spawn(argv, fds[1]);
  close(fds[1]);
  const int log_fd = fds[0];
  // Read the server's stderr until it is ready, echoing it for the test log.
  std::string pending;
  const absl::Time deadline = absl::Now() + kStartTimeout;
  bool ready = false;
  while (!ready) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    pollfd pfd = {log_fd, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(left))) <= 0) {
      break;
    }
    char buf[4096];
    const ssize_t n = read(log_fd, buf, sizeof(buf));
    if (n <= 0) break;
    ssize_t ignored = write(STDERR_FILENO, buf, n);
    (void)ignored;
    pending.append(buf, n);
    ready = absl::StrContains(pending, "ready on");
  }
  if (server_log_.joinable()) server_log_.join();
  server_log_ = std::thread([log_fd] {
    char buf[4096];
    ssize_t n;
    while ((n = read(log_fd, buf, sizeof(buf))) > 0) {
      ssize_t ignored = write(STDERR_FILENO, buf, n);
      (void)ignored;
    }
    close(log_fd);
  });
  if (!ready) {
    kill(server_pid_, SIGKILL);
    WaitForExit(server_pid_, absl::Seconds(10)).IgnoreError();
    server_pid_ = -1;
    return absl::UnavailableError("rbfs-server did not become ready");
  }
  return absl::OkStatus();
}

absl::Status RbfsCluster::StopServer(int signal) {
  if (server_pid_ <= 0) return absl::OkStatus();
  kill(server_pid_, signal);
  absl::StatusOr<int> status = WaitForExit(server_pid_, absl::Seconds(30));
  server_pid_ = -1;
  if (server_log_.joinable()) server_log_.join();
  return status.status();
}

std::string RbfsCluster::ServerAddress() const {
  return absl::StrCat("127.0.0.1:", port_);
}

bool RbfsCluster::IsMounted(const std::string& dir) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  const std::string needle = absl::StrCat(" ", dir, " ");
  while (std::getline(mountinfo, line)) {
    if (absl::StrContains(line, needle) &&
        absl::StrContains(line, " fuse.rbfs ")) {
      return true;
    }
  }
  return false;
}

bool RbfsCluster::Mounted() const { return IsMounted(mountpoint_); }

absl::StatusOr<pid_t> RbfsCluster::SpawnMount(const std::string& dir,
                                              const std::string& options) {
  std::string mount_options = "deadline=10";
  if (!options.empty()) absl::StrAppend(&mount_options, ",", options);
  const pid_t pid = Spawn({RunfilePath("client/rbfs-mount"), "-f", "-o",
                           mount_options, ServerAddress(), dir},
                          -1);
  const absl::Time deadline = absl::Now() + kStartTimeout;
  while (!IsMounted(dir)) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return absl::InternalError(
          absl::StrCat("rbfs-mount exited with status ", status));
    }
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      WaitForExit(pid, absl::Seconds(10)).IgnoreError();
      return absl::DeadlineExceededError("mount did not come up");
    }
    absl::SleepFor(kPollInterval);
  }
  return pid;
}

absl::Status RbfsCluster::StartMount() {
  absl::StatusOr<pid_t> pid = SpawnMount(mountpoint_, options_.mount_options);
  if (!pid.ok()) return pid.status();
  mount_pid_ = *pid;
  return absl::OkStatus();
}

absl::StatusOr<std::string> RbfsCluster::AddClient(const std::string& name,
                                                   const std::string& options) {
  const std::string dir = absl::StrCat(root_, "/", name);
  mkdir(dir.c_str(), 0755);
  absl::StatusOr<pid_t> pid = SpawnMount(dir, options);
  if (!pid.ok()) return pid.status();
  extra_mounts_.push_back({*pid, dir});
  return dir;
}

absl::StatusOr<int> RbfsCluster::StopMount(int signal) {
  if (mount_pid_ <= 0) return absl::FailedPreconditionError("not mounted");
  kill(mount_pid_, signal);
  absl::StatusOr<int> status = WaitForExit(mount_pid_, absl::Seconds(30));
  if (!status.ok()) return status;
  mount_pid_ = -1;
  if (Mounted()) return absl::InternalError("still mounted after exit");
  return status;
}

}  // namespace rbfs
