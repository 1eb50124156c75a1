// Clock: where code that keeps time (leases, grace periods, timestamps)
// reads it, so that tests can move time by hand (testing/fake_clock.h)
// instead of sleeping on the real clock.
#ifndef RBFS_COMMON_CLOCK_H_
#define RBFS_COMMON_CLOCK_H_

#include "absl/time/time.h"

namespace rbfs {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // The system's clock (absl::Now()); lives for the whole process.
  static const Clock* Real();
};

}  // namespace rbfs

#endif  // RBFS_COMMON_CLOCK_H_
