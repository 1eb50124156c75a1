#include "common/log_pacer.h"

namespace rbfs {

std::optional<uint64_t> LogPacer::Admit() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  if (now - last_ < interval_) {
    ++held_back_;
    return std::nullopt;
  }
  last_ = now;
  const uint64_t held_back = held_back_;
  held_back_ = 0;
  return held_back;
}

}  // namespace rbfs
