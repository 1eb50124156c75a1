#include "client/core/inflight_limiter.h"

#include <utility>

namespace rbfs {

void InflightLimiter::Submit(std::function<void()> start) {
  {
    absl::MutexLock lock(&mu_);
    if (in_flight_ >= limit_) {
      queue_.push_back(std::move(start));
      return;
    }
    ++in_flight_;
  }
  start();
}

void InflightLimiter::Release() {
  std::function<void()> next;
  {
    absl::MutexLock lock(&mu_);
    if (queue_.empty()) {
      --in_flight_;
      return;
    }
    // The slot passes straight to the oldest waiter.
    next = std::move(queue_.front());
    queue_.pop_front();
  }
  next();
}

bool InflightLimiter::WaitIdle(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return in_flight_ == 0 && queue_.empty();
  };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

size_t InflightLimiter::in_flight() const {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

size_t InflightLimiter::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

}  // namespace rbfs
