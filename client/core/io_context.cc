#include "client/core/io_context.h"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "common/errno_status.h"

namespace rbfs {

std::vector<ChunkSpan> SplitIntoChunks(uint64_t offset, uint64_t size,
                                       uint32_t chunk_size) {
  std::vector<ChunkSpan> spans;
  uint64_t pos = offset;
  const uint64_t end = offset + size;
  while (pos < end) {
    const uint64_t boundary = (pos / chunk_size + 1) * chunk_size;
    const uint64_t stop = std::min(boundary, end);
    spans.push_back({pos, static_cast<uint32_t>(stop - pos)});
    pos = stop;
  }
  return spans;
}

IoContext::IoContext(Direction direction, uint64_t offset, size_t size,
                     uint32_t chunk_size, BufferPool* pool, Finisher finisher,
                     SizeRaiser size_raiser)
    : direction_(direction),
      offset_(offset),
      size_(size),
      pool_(pool),
      finisher_(std::move(finisher)),
      size_raiser_(std::move(size_raiser)) {
  for (const ChunkSpan& span : SplitIntoChunks(offset, size, chunk_size)) {
    chunks_.push_back({span.offset, span.length, pool_->Get()});
  }
}

std::shared_ptr<IoContext> IoContext::CreateRead(uint64_t offset, size_t size,
                                                 uint32_t chunk_size,
                                                 BufferPool* pool,
                                                 Finisher finisher) {
  return std::shared_ptr<IoContext>(
      new IoContext(Direction::kRead, offset, size, chunk_size, pool,
                    std::move(finisher), nullptr));
}

std::shared_ptr<IoContext> IoContext::CreateWrite(
    uint64_t offset, const char* data, size_t size, uint32_t chunk_size,
    BufferPool* pool, Finisher finisher, SizeRaiser size_raiser) {
  std::shared_ptr<IoContext> context(
      new IoContext(Direction::kWrite, offset, size, chunk_size, pool,
                    std::move(finisher), std::move(size_raiser)));
  // libfuse reuses its request buffer once the write handler returns.
  for (Chunk& chunk : context->chunks_) {
    chunk.buffer.assign(data + (chunk.offset - offset), chunk.length);
  }
  return context;
}

IoContext::~IoContext() {
  if (buffers_returned_) return;
  for (Chunk& chunk : chunks_) pool_->Put(std::move(chunk.buffer));
}

void IoContext::Start(ChunkSender& sender) {
  {
    absl::MutexLock lock(&mu_);
    outstanding_ = chunks_.size() + 1;
  }
  for (size_t i = 0; i < chunks_.size(); ++i) {
    sender.Send(shared_from_this(), i);
  }
  Put();
}

void IoContext::CompleteChunk(size_t index, const absl::Status& status,
                              size_t transferred) {
  const Chunk& chunk = chunks_[index];
  {
    absl::MutexLock lock(&mu_);
    if (!status.ok()) {
      if (first_error_.ok()) first_error_ = status;
    } else if (transferred > chunk.length) {
      if (first_error_.ok()) {
        first_error_ = ErrnoError(EIO, "server moved more than was asked");
      }
    } else if (transferred < chunk.length) {
      short_end_ = std::min(short_end_, chunk.offset + transferred);
    }
  }
  Put();
}

void IoContext::Put() {
  bool last;
  {
    absl::MutexLock lock(&mu_);
    last = --outstanding_ == 0;
  }
  if (last) Finalise();
}

void IoContext::Finalise() {
  absl::Status error;
  uint64_t short_end;
  {
    absl::MutexLock lock(&mu_);
    error = first_error_;
    short_end = short_end_;
  }
  absl::StatusOr<size_t> result;
  if (!error.ok()) {
    result = error;
  } else if (short_end != UINT64_MAX && direction_ == Direction::kWrite) {
    result = ErrnoError(EIO, "short write");
  } else if (short_end != UINT64_MAX) {
    result = static_cast<size_t>(short_end - offset_);
  } else {
    result = size_;
  }
  if (direction_ == Direction::kWrite && result.ok() && *result > 0 &&
      size_raiser_) {
    size_raiser_(offset_ + *result);
  }
  finisher_(*this, std::move(result));
  // Every chunk has completed and the reply has been sent: nothing reads
  // the buffers any more.
  for (Chunk& chunk : chunks_) pool_->Put(std::move(chunk.buffer));
  buffers_returned_ = true;
  if (release_hook_) release_hook_();
}

absl::InlinedVector<iovec, 16> IoContext::Gather(size_t bytes) {
  absl::InlinedVector<iovec, 16> iov;
  for (Chunk& chunk : chunks_) {
    if (bytes == 0) break;
    const size_t take = std::min(bytes, chunk.buffer.size());
    if (take == 0) break;
    iov.push_back({chunk.buffer.data(), take});
    bytes -= take;
  }
  return iov;
}

}  // namespace rbfs
