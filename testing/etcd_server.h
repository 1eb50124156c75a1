// EtcdServer: a private etcd on 127.0.0.1 for the tests of the metadata
// store on etcd (issue 18), started with deploy/etcd-dev.sh (one member, its
// data in a new directory) and stopped with it. Starting takes about 0.5 s.
#ifndef RBFS_TESTING_ETCD_SERVER_H_
#define RBFS_TESTING_ETCD_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace rbfs::testing {

class EtcdServer {
 public:
  // deploy/etcd-dev.sh must be in the test's data.
  static absl::StatusOr<std::unique_ptr<EtcdServer>> Start();
  // Stops it (etcd-dev.sh down) and removes its data.
  ~EtcdServer();

  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  // 127.0.0.1:PORT, its client endpoint.
  const std::string& endpoint() const { return endpoint_; }

  // Deletes every key that starts with `prefix` (etcdctl del --prefix).
  absl::Status DeletePrefix(const std::string& prefix);

  // Stops it now (etcd gone under its clients).
  absl::Status Stop();

 private:
  EtcdServer(std::string dir, std::string endpoint)
      : dir_(std::move(dir)), endpoint_(std::move(endpoint)) {}

  const std::string dir_;
  const std::string endpoint_;
  bool stopped_ = false;
};

// One etcd for a whole test program, which its tests share (each under a
// key prefix of its own): started by the first call, stopped when the
// program's tests end. Null, with a test failure, if it cannot start.
EtcdServer* SharedEtcdServer();

}  // namespace rbfs::testing

#endif  // RBFS_TESTING_ETCD_SERVER_H_
