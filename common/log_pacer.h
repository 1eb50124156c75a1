// LogPacer: lets a kind of log record through at most once per interval
// and counts the ones held back, so a storm of the same failure (refused
// calls, a volume that stopped answering) is a line a second in the log,
// each saying how many were not written, instead of a flood.
//
// Thread-safe: its state is guarded by mu_.
#ifndef RBFS_COMMON_LOG_PACER_H_
#define RBFS_COMMON_LOG_PACER_H_

#include <cstdint>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace rbfs {

class LogPacer {
 public:
  // `clock` must outlive the pacer.
  explicit LogPacer(absl::Duration interval, const Clock* clock = Clock::Real())
      : interval_(interval), clock_(clock) {}

  // Whether a record may be written now: the number of records held back
  // since the last one let through, or nullopt to hold this one back too.
  std::optional<uint64_t> Admit() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const absl::Duration interval_;
  const Clock* const clock_;

  absl::Mutex mu_;
  absl::Time last_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t held_back_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rbfs

#endif  // RBFS_COMMON_LOG_PACER_H_
