// CephCluster: a private Ceph cluster on 127.0.0.1 for the tests of the
// RBD volume (issue 17), started with deploy/ceph-dev.sh (one monitor and
// OSDs on sparse bluestore files, pool size = OSDs) and stopped with it.
// Starting takes 10-25 s, so a test suite starts one and shares it.
#ifndef RBFS_TESTING_CEPH_CLUSTER_H_
#define RBFS_TESTING_CEPH_CLUSTER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace rbfs::testing {

class CephCluster {
 public:
  // Starts a cluster of `osds` OSDs in a new directory; deploy/ceph-dev.sh
  // must be in the test's data.
  static absl::StatusOr<std::unique_ptr<CephCluster>> Start(int osds = 1);
  // Stops it (ceph-dev.sh down).
  ~CephCluster();

  CephCluster(const CephCluster&) = delete;
  CephCluster& operator=(const CephCluster&) = delete;

  const std::string& conf() const { return conf_; }
  const std::string& pool() const { return pool_; }

  // Stops every daemon now (a cluster gone under its clients); the
  // destructor then has nothing left to stop.
  absl::Status Stop();

  // Removes RBD image `image` of the pool, if there is one.
  absl::Status RemoveImage(const std::string& image);

  // Sends `signal` to daemon `name` ("osd.1", "mon.a"), found by the pid
  // deploy/ceph-dev.sh recorded.
  absl::Status Signal(const std::string& name, int signal);

 private:
  CephCluster(std::string dir, std::string conf, std::string pool)
      : dir_(std::move(dir)), conf_(std::move(conf)), pool_(std::move(pool)) {}

  const std::string dir_;
  const std::string conf_;
  const std::string pool_;
  bool stopped_ = false;
};

}  // namespace rbfs::testing

#endif  // RBFS_TESTING_CEPH_CLUSTER_H_
