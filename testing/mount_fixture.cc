#include "testing/mount_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace rbfs {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(60);
constexpr absl::Duration kPollInterval = absl::Milliseconds(20);

}  // namespace

RbfsCluster::RbfsCluster(const Options& options, std::string root)
    : options_(options), root_(std::move(root)), mountpoint_(root_ + "/mnt") {
  testing::ServerProcess::Options server;
  server.data_dir = data_dir();
  server.binary = options_.server_binary;
  server.extra_args = {absl::StrCat("--volume-size=", options_.volume_bytes)};
  server.extra_args.insert(server.extra_args.end(),
                           options_.server_args.begin(),
                           options_.server_args.end());
  server_ = std::make_unique<testing::ServerProcess>(std::move(server));
}

absl::StatusOr<std::unique_ptr<RbfsCluster>> RbfsCluster::Start(
    const Options& options) {
  const char* tmp = getenv("TEST_TMPDIR");
  std::string root_template = absl::StrCat(tmp ? tmp : "/tmp", "/rbfsXXXXXX");
  if (mkdtemp(root_template.data()) == nullptr) {
    return absl::InternalError("mkdtemp failed");
  }
  std::unique_ptr<testing::CephCluster> ceph;
  Options with_volume = options;
  if (const char* on = getenv("RBFS_TEST_VOLUME_ON_CEPH");
      on != nullptr && *on != '\0') {
    absl::StatusOr<std::unique_ptr<testing::CephCluster>> started =
        testing::CephCluster::Start();
    if (!started.ok()) return started.status();
    ceph = *std::move(started);
    with_volume.server_args.push_back("--ceph-conf=" + ceph->conf());
    with_volume.server_args.push_back("--ceph-pool=" + ceph->pool());
  }
  std::unique_ptr<testing::EtcdServer> etcd;
  if (const char* on = getenv("RBFS_TEST_META_ON_ETCD");
      on != nullptr && *on != '\0') {
    absl::StatusOr<std::unique_ptr<testing::EtcdServer>> started =
        testing::EtcdServer::Start();
    if (!started.ok()) return started.status();
    etcd = *std::move(started);
    with_volume.server_args.push_back("--etcd-endpoints=" + etcd->endpoint());
  }
  const char* shared = getenv("RBFS_TEST_SHARED_SERVERS");
  const bool two_servers = etcd != nullptr && ceph == nullptr &&
                           shared != nullptr && *shared != '\0';
  if (two_servers) with_volume.server_args.push_back("--etcd-shared");
  std::unique_ptr<RbfsCluster> cluster(
      new RbfsCluster(with_volume, root_template));
  cluster->ceph_ = std::move(ceph);
  cluster->etcd_ = std::move(etcd);
  mkdir((cluster->root_ + "/data").c_str(), 0755);
  mkdir(cluster->mountpoint_.c_str(), 0755);
  absl::Status status = cluster->StartServer();
  if (status.ok() && cluster->etcd_ != nullptr &&
      cluster->ServerLog().find("metadata in etcd " +
                                cluster->etcd_->endpoint()) ==
          std::string::npos) {
    status = absl::InternalError("the server does not keep its metadata in " +
                                 cluster->etcd_->endpoint() + ": " +
                                 cluster->ServerLog());
  }
  if (status.ok() && two_servers) {
    // The second server: the same volume file and etcd prefix, a data
    // directory of its own (it keeps nothing there).
    testing::ServerProcess::Options second;
    second.data_dir = cluster->root_ + "/second";
    mkdir(second.data_dir.c_str(), 0755);
    second.binary = options.server_binary;
    second.extra_args = with_volume.server_args;
    second.extra_args.push_back("--volume=" + cluster->data_dir() + "/volume");
    cluster->second_server_ =
        std::make_unique<testing::ServerProcess>(std::move(second));
    status = cluster->second_server_->Start(kStartTimeout);
  }
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
  if (server_->running()) StopServer(SIGTERM).IgnoreError();
  if (second_server_ != nullptr && second_server_->running()) {
    second_server_->Stop().IgnoreError();
  }
}

absl::Status RbfsCluster::StartServer() {
  return server_->Start(kStartTimeout);
}

absl::Status RbfsCluster::StopServer(int signal) {
  if (!server_->running()) return absl::OkStatus();
  if (signal == SIGKILL) {
    server_->Kill();
    return absl::OkStatus();
  }
  return server_->Stop().status();
}

std::string RbfsCluster::ServerAddress() const { return server_->address(); }

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

absl::StatusOr<pid_t> RbfsCluster::SpawnMount(
    const std::string& dir, const std::string& options,
    const std::string& server_address) {
  std::string mount_options = "deadline=10";
  if (!options.empty()) absl::StrAppend(&mount_options, ",", options);
  const pid_t pid = testing::Spawn({RunfilePath("client/rbfs-mount"), "-f",
                                    "-o", mount_options, server_address, dir},
                                   -1);
  const absl::Time deadline = absl::Now() + kStartTimeout;
  // A dead mount (ENOTCONN) on `dir` is listed too, until rbfs-mount
  // detaches it.
  auto alive = [&dir] {
    struct stat st;
    return IsMounted(dir) && stat(dir.c_str(), &st) == 0;
  };
  while (!alive()) {
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
  absl::StatusOr<pid_t> pid =
      SpawnMount(mountpoint_, options_.mount_options, ServerAddress());
  if (!pid.ok()) return pid.status();
  mount_pid_ = *pid;
  return absl::OkStatus();
}

absl::StatusOr<std::string> RbfsCluster::AddClient(const std::string& name,
                                                   const std::string& options) {
  return AddClientAt(
      name, options,
      second_server_ != nullptr ? second_server_->address() : ServerAddress());
}

absl::StatusOr<std::string> RbfsCluster::AddClientAt(
    const std::string& name, const std::string& options,
    const std::string& server_address) {
  const std::string dir = absl::StrCat(root_, "/", name);
  mkdir(dir.c_str(), 0755);
  absl::StatusOr<pid_t> pid = SpawnMount(dir, options, server_address);
  if (!pid.ok()) return pid.status();
  extra_mounts_.push_back({*pid, dir});
  return dir;
}

absl::Status RbfsCluster::KillMount() {
  if (mount_pid_ <= 0) return absl::FailedPreconditionError("not mounted");
  kill(mount_pid_, SIGKILL);
  absl::StatusOr<int> status = WaitForExit(mount_pid_, absl::Seconds(30));
  if (!status.ok()) return status.status();
  mount_pid_ = -1;
  return absl::OkStatus();
}

absl::StatusOr<int> RbfsCluster::StopMount(int signal, SignalTo to) {
  if (mount_pid_ <= 0) return absl::FailedPreconditionError("not mounted");
  if (to == SignalTo::kProcess) {
    kill(mount_pid_, signal);
  } else {
    std::error_code error;
    pid_t helper = -1;
    for (const auto& task : std::filesystem::directory_iterator(
             absl::StrCat("/proc/", mount_pid_, "/task"), error)) {
      pid_t tid;
      if (absl::SimpleAtoi(task.path().filename().string(), &tid) &&
          tid != mount_pid_) {
        helper = tid;
        break;
      }
    }
    if (helper < 0) {
      return absl::FailedPreconditionError("rbfs-mount has one thread");
    }
    if (syscall(SYS_tgkill, mount_pid_, helper, signal) != 0) {
      return absl::InternalError(absl::StrCat("tgkill: ", strerror(errno)));
    }
  }
  absl::StatusOr<int> status = WaitForExit(mount_pid_, absl::Seconds(30));
  if (!status.ok()) return status;
  mount_pid_ = -1;
  if (Mounted()) return absl::InternalError("still mounted after exit");
  return status;
}

absl::StatusOr<int> RbfsCluster::Unmount(absl::Duration timeout) {
  if (mount_pid_ <= 0) return absl::FailedPreconditionError("not mounted");
  const testing::ProgramResult unmounted =
      testing::RunProgram({"fusermount3", "-u", mountpoint_});
  if (unmounted.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("fusermount3 -u: ", unmounted.output));
  }
  absl::StatusOr<int> status = WaitForExit(mount_pid_, timeout);
  if (status.ok()) mount_pid_ = -1;
  return status;
}

}  // namespace rbfs
