// LoadWorkload: mixed I/O from many threads on several mounts of one
// server for a bounded time, every byte checked.
//
// Each thread works through one mount and owns a file it writes, reads,
// truncates and fsyncs at random, checking every read against an in-memory
// copy; at the end the file is read whole through another mount. It also
// owns a "slot" file it rewrites whole (O_TRUNC, new content and size) under
// the slot's lock, while threads on other mounts open, read and close slots
// under the same lock: close-to-open consistency means the reader sees
// exactly the content published by the last close, whatever its own mount
// cached before. Hand-offs are new files written and closed on one mount and
// read whole and removed through another. Seeded; the schedule still
// depends on timing, the checks do not. Every descriptor is O_CLOEXEC: a
// server restarted (forked) meanwhile must not inherit files of the mounts.
#ifndef RBFS_TESTING_LOAD_WORKLOAD_H_
#define RBFS_TESTING_LOAD_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace rbfs {

struct LoadOptions {
  std::vector<std::string> mounts;  // mount points of one server, >= 2
  int threads_per_mount = 16;
  absl::Duration duration = absl::Seconds(10);
  uint64_t seed = 1;
};

struct LoadResult {
  uint64_t operations = 0;
  uint64_t bytes_written = 0;
  uint64_t bytes_verified = 0;      // read back and compared
  uint64_t slot_reads = 0;          // close-to-open checks across mounts
  uint64_t handoffs = 0;            // files read whole on another mount
  std::vector<std::string> errors;  // the first few
};

LoadResult RunLoad(const LoadOptions& options);

}  // namespace rbfs

#endif  // RBFS_TESTING_LOAD_WORKLOAD_H_
