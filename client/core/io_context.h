// IoContext: one FUSE read or write, split into chunks that travel as
// independent asynchronous calls, finalised by the kernel's direct-I/O rules.
//
// This is the userspace twin of the kernel's `struct fuse_io_priv`: the
// request [offset, offset + size) is cut on multiples of `chunk_size` (the
// server's block boundaries); a ChunkSender starts every chunk without
// waiting; each completion reports its status and transferred byte count.
// The context keeps the first error and the smallest end position of a short
// transfer. When the last chunk has returned, and only then, it computes
//   error, else EIO for a short write, else the bytes up to the first short
//   read, else the full size,
// raises the file size once (successful writes only) and calls the finisher
// exactly once, from the thread that saw the last completion.
//
// Ownership: the context is shared (std::shared_ptr); every in-flight chunk
// holds a reference, so chunk buffers (write payloads, read data) stay alive
// until every chunk has completed and the finisher has returned. Buffers come
// from and go back to a BufferPool. No lock is held while a chunk is sent or
// while the finisher runs.
#ifndef RBFS_CLIENT_CORE_IO_CONTEXT_H_
#define RBFS_CLIENT_CORE_IO_CONTEXT_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/core/buffer_pool.h"

namespace rbfs {

// A piece of a request that does not cross a chunk boundary.
struct ChunkSpan {
  uint64_t offset;
  uint32_t length;
};

// Cuts [offset, offset + size) at multiples of chunk_size (> 0).
std::vector<ChunkSpan> SplitIntoChunks(uint64_t offset, uint64_t size,
                                       uint32_t chunk_size);

class IoContext;

// Starts the transfer of one chunk. The sender keeps the shared context until
// it calls CompleteChunk(index, ...) exactly once, from any thread, possibly
// before Send() returns.
class ChunkSender {
 public:
  virtual ~ChunkSender() = default;
  virtual void Send(std::shared_ptr<IoContext> context, size_t index) = 0;
};

class IoContext : public std::enable_shared_from_this<IoContext> {
 public:
  enum class Direction { kRead, kWrite };

  struct Chunk {
    uint64_t offset;
    uint32_t length;
    // Write: the payload to send. Read: the data received, filled in by the
    // sender before it completes the chunk.
    std::string buffer;
  };

  // Receives the request's result: bytes transferred, or the error. For a
  // read, Gather() gives the data while the finisher runs.
  using Finisher =
      std::function<void(IoContext& context, absl::StatusOr<size_t> result)>;
  // Receives the new end of file after a write that transferred bytes.
  using SizeRaiser = std::function<void(uint64_t end)>;

  // A read of `size` bytes at `offset`.
  static std::shared_ptr<IoContext> CreateRead(uint64_t offset, size_t size,
                                               uint32_t chunk_size,
                                               BufferPool* pool,
                                               Finisher finisher);

  // A write of `data[0, size)` at `offset`. The payload is copied into the
  // chunk buffers here, so `data` may be reused as soon as this returns.
  static std::shared_ptr<IoContext> CreateWrite(
      uint64_t offset, const char* data, size_t size, uint32_t chunk_size,
      BufferPool* pool, Finisher finisher, SizeRaiser size_raiser);

  ~IoContext();

  IoContext(const IoContext&) = delete;
  IoContext& operator=(const IoContext&) = delete;

  // Runs once the context has given every buffer back to the pool, after
  // the finisher: from then on the context touches neither the pool nor
  // anything the finisher captured, so an owner waiting for this hook may
  // tear them down. Set before Start().
  void SetReleaseHook(std::function<void()> hook) {
    release_hook_ = std::move(hook);
  }

  // Hands every chunk to `sender`. The context finalises only after this has
  // returned and every chunk has completed, even if chunks complete inline.
  void Start(ChunkSender& sender);

  // Records the outcome of chunk `index`; `transferred` is the byte count the
  // server moved (for reads, the chunk buffer holds at least that much).
  void CompleteChunk(size_t index, const absl::Status& status,
                     size_t transferred);

  Direction direction() const { return direction_; }
  uint64_t offset() const { return offset_; }
  size_t size() const { return size_; }
  size_t num_chunks() const { return chunks_.size(); }
  Chunk& chunk(size_t index) { return chunks_[index]; }

  // The first `bytes` of read data as iovecs over the chunk buffers, for
  // fuse_reply_iov without a copy. Valid while the context lives.
  absl::InlinedVector<iovec, 16> Gather(size_t bytes);

 private:
  IoContext(Direction direction, uint64_t offset, size_t size,
            uint32_t chunk_size, BufferPool* pool, Finisher finisher,
            SizeRaiser size_raiser);

  // Drops one outstanding reference; the last one finalises.
  void Put();
  void Finalise();

  const Direction direction_;
  const uint64_t offset_;
  const size_t size_;
  BufferPool* const pool_;
  Finisher finisher_;
  SizeRaiser size_raiser_;
  std::function<void()> release_hook_;
  // Set by Finalise once the buffers are back in the pool.
  bool buffers_returned_ = false;
  // Written before Start() and by each chunk's own sender only.
  std::vector<Chunk> chunks_;

  absl::Mutex mu_;
  // Guards the aggregate outcome below.
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
  // Smallest absolute end position of a short transfer; UINT64_MAX if none.
  uint64_t short_end_ ABSL_GUARDED_BY(mu_) = UINT64_MAX;
  // Chunks not yet completed, plus one held by Start() while it sends.
  size_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_CORE_IO_CONTEXT_H_
