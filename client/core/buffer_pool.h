// BufferPool: a bounded free list of byte buffers that keep their capacity.
//
// Faulting in fresh pages is the dominant cost of a data path on these VMs,
// so chunk buffers (write payloads, read replies) are recycled instead of
// freed. A buffer handed out by Get() belongs to the caller until it is given
// back with Put(); at most `max_kept` idle buffers are retained, so memory
// held by the pool is bounded by max_kept times the largest chunk.
#ifndef RBFS_CLIENT_CORE_BUFFER_POOL_H_
#define RBFS_CLIENT_CORE_BUFFER_POOL_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace rbfs {

class BufferPool {
 public:
  explicit BufferPool(size_t max_kept) : max_kept_(max_kept) {}

  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // An empty buffer, with recycled capacity when one is available.
  std::string Get();

  // Takes a buffer back; its contents are discarded but its capacity kept.
  void Put(std::string buffer);

  // Buffers given back over the pool's lifetime (kept or not).
  size_t returned() const;

 private:
  const size_t max_kept_;
  mutable absl::Mutex mu_;
  // Guards free_ and returned_.
  std::vector<std::string> free_ ABSL_GUARDED_BY(mu_);
  size_t returned_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_CORE_BUFFER_POOL_H_
