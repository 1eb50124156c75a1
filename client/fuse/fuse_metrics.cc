#include "client/fuse/fuse_metrics.h"

#include <string>

namespace rbfs {

absl::string_view FuseMetrics::Name(Op op) {
  static constexpr std::array<absl::string_view, kOpCount> kNames = {
      "lookup",    "forget",      "forget_multi", "getattr",
      "setattr",   "readlink",    "mknod",        "mkdir",
      "unlink",    "rmdir",       "symlink",      "rename",
      "link",      "open",        "create",       "read",
      "write",     "flush",       "release",      "fsync",
      "opendir",   "readdir",     "readdirplus",  "releasedir",
      "fsyncdir",  "statfs",      "setxattr",     "getxattr",
      "listxattr", "removexattr", "fallocate",    "copy_file_range",
      "lseek",     "getlk",       "setlk",        "flock",
  };
  return kNames[op];
}

FuseMetrics::FuseMetrics() {
  for (auto& histogram : latency_) {
    histogram = std::make_unique<Histogram>(LatencyBuckets());
  }
}

void FuseMetrics::Export(MetricsRegistry* registry) const {
  for (int op = 0; op < kOpCount; ++op) {
    registry->AddHistogram(
        "rbfs_mount_fuse_request_seconds",
        "How long the mount took to answer each FUSE request, by operation; "
        "the count is the requests.",
        latency_[op].get(), {{"op", std::string(Name(static_cast<Op>(op)))}});
  }
  const char* kInvalidationsHelp =
      "Notifications sent to the kernel to drop what it caches, by kind "
      "(entry: a name; attr: an inode's attributes; data: its pages too).";
  const std::pair<const char*, const Counter*> kinds[] = {
      {"entry", &entry_invalidations_},
      {"attr", &attr_invalidations_},
      {"data", &data_invalidations_},
  };
  for (const auto& [kind, counter] : kinds) {
    registry->AddCounter("rbfs_mount_kernel_invalidations_total",
                         kInvalidationsHelp, counter, {{"kind", kind}});
  }
}

}  // namespace rbfs
