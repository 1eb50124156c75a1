// FuseMetrics: what the FUSE adapter measures for the mount's metrics
// (issue 16):
//   rbfs_mount_fuse_request_seconds{op}   how long each request of each
//                                         operation took, from its handler's
//                                         start to its reply; the _count is
//                                         the number of requests
//   rbfs_mount_kernel_invalidations_total{kind}
//                                         notifications sent to the kernel
//                                         to drop what it caches: "entry"
//                                         (a name), "attr" (an inode's
//                                         attributes), "data" (its pages too)
// Every series exists from the start, so a scrape lists each operation.
// Recording is lock-free (atomics): it is always on, whether or not the
// metrics are served.
#ifndef RBFS_CLIENT_FUSE_FUSE_METRICS_H_
#define RBFS_CLIENT_FUSE_FUSE_METRICS_H_

#include <array>
#include <memory>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/metrics/metrics.h"

namespace rbfs {

class FuseMetrics {
 public:
  // The operations of the table FuseOps registers, named as libfuse's
  // fuse_lowlevel_ops names them.
  enum Op : int {
    kLookup,
    kForget,
    kForgetMulti,
    kGetAttr,
    kSetAttr,
    kReadLink,
    kMkNod,
    kMkDir,
    kUnlink,
    kRmDir,
    kSymlink,
    kRename,
    kLink,
    kOpen,
    kCreate,
    kRead,
    kWrite,
    kFlush,
    kRelease,
    kFsync,
    kOpenDir,
    kReadDir,
    kReadDirPlus,
    kReleaseDir,
    kFsyncDir,
    kStatFs,
    kSetXattr,
    kGetXattr,
    kListXattr,
    kRemoveXattr,
    kFallocate,
    kCopyFileRange,
    kLseek,
    kGetLk,
    kSetLk,
    kFlock,
    kOpCount,
  };
  static absl::string_view Name(Op op);

  FuseMetrics();

  void Record(Op op, absl::Duration took) {
    latency_[op]->ObserveDuration(took);
  }
  const Histogram& latency(Op op) const { return *latency_[op]; }

  Counter& entry_invalidations() { return entry_invalidations_; }
  Counter& attr_invalidations() { return attr_invalidations_; }
  Counter& data_invalidations() { return data_invalidations_; }

  // Registers every series in `registry`, which this must outlive.
  void Export(MetricsRegistry* registry) const;

 private:
  std::array<std::unique_ptr<Histogram>, kOpCount> latency_;
  Counter entry_invalidations_;
  Counter attr_invalidations_;
  Counter data_invalidations_;
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_FUSE_FUSE_METRICS_H_
