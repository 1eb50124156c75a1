// RbfsCluster: a real rbfs-server on loopback plus a real rbfs-mount over it,
// for end-to-end tests that go through the kernel.
//
// The server runs as a child process on a free 127.0.0.1 port with its data
// under the test's temporary directory; Start() returns once it has logged
// "ready on". The mount runs in the foreground (-f) as a second child;
// StartMount() returns once the kernel lists the mount in
// /proc/self/mountinfo. Every wait is bounded. The destructor unmounts and
// stops both processes. With RBFS_TEST_VOLUME_ON_CEPH set in the
// environment (the _ceph variants of the mount tests, issue 17) the server
// keeps its volume in an RBD image of a private Ceph cluster of the
// cluster's own (deploy/ceph-dev.sh, about 2 s), stopped last; with
// RBFS_TEST_META_ON_ETCD set (the _etcd variants, issue 18) its metadata in
// a private etcd of the cluster's own (deploy/etcd-dev.sh, about 0.5 s).
#ifndef RBFS_TESTING_MOUNT_FIXTURE_H_
#define RBFS_TESTING_MOUNT_FIXTURE_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "testing/ceph_cluster.h"
#include "testing/etcd_server.h"
#include "testing/process.h"
#include "testing/server_process.h"

namespace rbfs {

class RbfsCluster {
 public:
  struct Options {
    // Extra -o options for rbfs-mount, e.g. "cache=auto,deadline=3".
    std::string mount_options;
    uint64_t volume_bytes = uint64_t{4} << 30;
    // Extra rbfs-server flags, e.g. "--threads=2".
    std::vector<std::string> server_args;
    // The server binary in the runfiles (tests of faults use another).
    std::string server_binary = "server/rbfs-server";
  };

  static absl::StatusOr<std::unique_ptr<RbfsCluster>> Start(
      const Options& options);

  ~RbfsCluster();

  RbfsCluster(const RbfsCluster&) = delete;
  RbfsCluster& operator=(const RbfsCluster&) = delete;

  // (Re)starts the server on the same port and data directory.
  absl::Status StartServer();
  // Stops the server: SIGKILL kills it, any other signal means SIGTERM.
  absl::Status StopServer(int signal);

  absl::Status StartMount();
  // Which of rbfs-mount's threads a signal is sent to.
  enum class SignalTo {
    kProcess,  // kill(2): the kernel picks a thread that does not block it
    kHelper,   // tgkill(2) to a thread other than the main one (gRPC's...)
  };
  // Sends `signal` to rbfs-mount, waits for it to exit and for the mount to
  // disappear; returns the exit status seen by waitpid.
  absl::StatusOr<int> StopMount(int signal, SignalTo to = SignalTo::kProcess);
  // Unmounts as a user would (fusermount3 -u: the kernel ends the FUSE
  // connection, the daemon gets no signal), then waits up to `timeout` for
  // rbfs-mount to exit; returns the exit status seen by waitpid.
  absl::StatusOr<int> Unmount(absl::Duration timeout);
  // SIGKILLs rbfs-mount and waits for it to exit; the kernel keeps its dead
  // mount (ENOTCONN) until the next StartMount() detaches it.
  absl::Status KillMount();

  // The etcd of the server's metadata (RBFS_TEST_META_ON_ETCD), or null.
  const testing::EtcdServer* etcd() const { return etcd_.get(); }
  // The second server (RBFS_TEST_SHARED_SERVERS), or null.
  testing::ServerProcess* second_server() const { return second_server_.get(); }

  // Everything the server logged so far.
  std::string ServerLog() { return server_->Log(); }

  const std::string& mountpoint() const { return mountpoint_; }
  // The server's data directory (for `rbfs-server --check`).
  std::string data_dir() const { return root_ + "/data"; }
  std::string ServerAddress() const;
  std::string Path(const std::string& name) const {
    return mountpoint_ + "/" + name;
  }
  bool Mounted() const;

  // Mounts the same server (the second server, when there is one) again
  // at a new directory named `name`, as a second client would; returns the
  // directory. It is unmounted with the cluster.
  absl::StatusOr<std::string> AddClient(const std::string& name,
                                        const std::string& options);
  // The same, reaching the server at `server_address` ("HOST:PORT"), e.g.
  // through a testing::TcpProxy.
  absl::StatusOr<std::string> AddClientAt(const std::string& name,
                                          const std::string& options,
                                          const std::string& server_address);

 private:
  RbfsCluster(const Options& options, std::string root);

  static bool IsMounted(const std::string& dir);
  // Starts rbfs-mount -f on `dir` and waits until the kernel lists it.
  absl::StatusOr<pid_t> SpawnMount(const std::string& dir,
                                   const std::string& options,
                                   const std::string& server_address);

  // The Ceph cluster of the volume, when on Ceph; stopped after the
  // server (the destructor's body stops that first).
  std::unique_ptr<testing::CephCluster> ceph_;
  // The etcd of the metadata, when in etcd; stopped after the server too.
  std::unique_ptr<testing::EtcdServer> etcd_;
  const Options options_;
  const std::string root_;
  const std::string mountpoint_;
  std::unique_ptr<testing::ServerProcess> server_;
  // With RBFS_TEST_SHARED_SERVERS (and RBFS_TEST_META_ON_ETCD): a second
  // server sharing the volume (--etcd-shared), which AddClient's mounts
  // use, so that the second client of a suite is another server's.
  std::unique_ptr<testing::ServerProcess> second_server_;
  pid_t mount_pid_ = -1;
  std::vector<std::pair<pid_t, std::string>> extra_mounts_;
};

using ::rbfs::testing::RunfilePath;
using ::rbfs::testing::WaitForExit;

// Base of a test suite whose tests share one server and mount, started once
// with the -o options the suite names in `Suite::kMountOptions`.
template <typename Suite>
class SharedClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<RbfsCluster>> cluster =
        RbfsCluster::Start({Suite::kMountOptions});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr); }

  static inline RbfsCluster* cluster_ = nullptr;
};

}  // namespace rbfs

#endif  // RBFS_TESTING_MOUNT_FIXTURE_H_
