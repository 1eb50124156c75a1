// FakeClock: a Clock (common/clock.h) that only moves when a test says so.
// Thread-safe: the code under test may read it from its own threads.
#ifndef RBFS_TESTING_FAKE_CLOCK_H_
#define RBFS_TESTING_FAKE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace rbfs {

class FakeClock : public Clock {
 public:
  // A fixed start, so that runs are repeatable.
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000))
      : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration by) {
    absl::MutexLock lock(&mu_);
    now_ += by;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rbfs

#endif  // RBFS_TESTING_FAKE_CLOCK_H_
