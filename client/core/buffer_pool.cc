#include "client/core/buffer_pool.h"

#include <utility>

namespace rbfs {

std::string BufferPool::Get() {
  absl::MutexLock lock(&mu_);
  if (free_.empty()) return std::string();
  std::string buffer = std::move(free_.back());
  free_.pop_back();
  return buffer;
}

void BufferPool::Put(std::string buffer) {
  buffer.clear();
  absl::MutexLock lock(&mu_);
  ++returned_;
  // Buffers that never grew are not worth keeping.
  if (free_.size() < max_kept_ && buffer.capacity() > 0) {
    free_.push_back(std::move(buffer));
  }
}

size_t BufferPool::returned() const {
  absl::MutexLock lock(&mu_);
  return returned_;
}

}  // namespace rbfs
