// InflightLimiter: admits at most `limit` chunk transfers at a time.
//
// Every chunk of every request asks for a slot before its RPC starts. When
// all slots are taken the start is queued (FIFO) instead of blocking the
// caller, so a FUSE worker thread never waits here; the completion that
// frees a slot starts the oldest queued chunk. Invariant: in_flight() <=
// limit, and a queued start runs exactly once.
#ifndef RBFS_CLIENT_CORE_INFLIGHT_LIMITER_H_
#define RBFS_CLIENT_CORE_INFLIGHT_LIMITER_H_

#include <cstddef>
#include <deque>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rbfs {

class InflightLimiter {
 public:
  explicit InflightLimiter(size_t limit) : limit_(limit == 0 ? 1 : limit) {}

  InflightLimiter(const InflightLimiter&) = delete;
  InflightLimiter& operator=(const InflightLimiter&) = delete;

  // Runs `start` now if a slot is free, else when one is released. `start`
  // owns the slot and must lead to exactly one Release().
  void Submit(std::function<void()> start);

  // Gives a slot back; may run a queued start on the calling thread.
  void Release();

  // Waits until nothing is in flight or queued, or `timeout` passes.
  // Returns whether the limiter became idle.
  bool WaitIdle(absl::Duration timeout);

  size_t in_flight() const;
  size_t queued() const;

 private:
  const size_t limit_;
  mutable absl::Mutex mu_;
  // Guards in_flight_ and queue_.
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_CORE_INFLIGHT_LIMITER_H_
