// Filesystem's space calls: fallocate (allocate, punch a hole, zero a
// range), the server-side copy and the SEEK_DATA/SEEK_HOLE search. A
// mapped block is data; an unmapped one a hole that reads as zeros.
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "common/errno_status.h"
#include "server/fs/filesystem.h"
#include "server/fs/fresh_blocks.h"

namespace rbfs {

absl::StatusOr<Entry> Filesystem::Fallocate(InodeRef id, uint32_t mode,
                                            uint64_t offset, uint64_t length) {
  const uint32_t kind = mode & ~uint32_t{FALLOC_FL_KEEP_SIZE};
  if (kind != 0 && kind != FALLOC_FL_PUNCH_HOLE &&
      kind != FALLOC_FL_ZERO_RANGE) {
    return ErrnoError(EOPNOTSUPP, "fallocate mode not supported");
  }
  if (kind == FALLOC_FL_PUNCH_HOLE && (mode & FALLOC_FL_KEEP_SIZE) == 0) {
    return ErrnoError(EOPNOTSUPP, "a punched hole keeps the size");
  }
  if (length == 0) return ErrnoError(EINVAL, "empty range");
  if (offset > kMaxFileSize || length > kMaxFileSize - offset) {
    return ErrnoError(EFBIG);
  }
  if (absl::Status s = committer_->failure(); !s.ok()) return s;
  std::shared_ptr<InodeLock> lock = locks_.Get(id.ino);
  absl::MutexLock data_lock(&lock->data);
  absl::MutexLock meta_lock(&lock->meta);
  // Its commit stands on the inode as read (see Write).
  return RunEntryOptimistically(
      [&] { return FallocateLocked(id, mode, offset, length); });
}

absl::StatusOr<Entry> Filesystem::FallocateLocked(InodeRef id, uint32_t mode,
                                                  uint64_t offset,
                                                  uint64_t length) {
  const uint32_t kind = mode & ~uint32_t{FALLOC_FL_KEEP_SIZE};
  absl::StatusOr<meta::InodeRecord> r = Load(id);
  if (!r.ok()) return r.status();
  if (S_ISDIR(r->mode())) return ErrnoError(EISDIR);
  if (!S_ISREG(r->mode())) return ErrnoError(ENODEV);

  const uint64_t bs = blocks_->block_size();
  const uint64_t end = offset + length;  // exclusive
  const uint64_t first = offset / bs;
  const uint64_t last = (end - 1) / bs;
  // The range's block map, read once: 0 for a hole (or a block punched).
  absl::StatusOr<std::vector<uint64_t>> range =
      meta_->GetBlocks(id.ino, first, last - first + 1);
  if (!range.ok()) return range.status();
  std::vector<uint64_t> mapped = *std::move(range);
  std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
  std::vector<uint64_t> freed;
  // The covered parts of mapped edge blocks, zeroed only once the
  // allocation below succeeded, so that ENOSPC changes no byte.
  struct EdgeZeros {
    uint64_t block;
    uint64_t offset;
    uint64_t length;
  };
  std::vector<EdgeZeros> edges;
  if (kind != 0) {
    // Punch or zero: blocks wholly inside go back to the pool, the covered
    // parts of the edge blocks become zeros.
    for (uint64_t i = first; i <= last; ++i) {
      const uint64_t block = mapped[i - first];
      if (block == 0) continue;
      const uint64_t from = std::max(offset, i * bs);
      const uint64_t to = std::min(end, (i + 1) * bs);
      if (to - from == bs) {
        batch->DeleteBlock(id.ino, i);
        freed.push_back(block);
        mapped[i - first] = 0;
      } else {
        edges.push_back(EdgeZeros{block, from - i * bs, to - from});
      }
    }
    r->set_blocks_used(r->blocks_used() - freed.size());
  }
  FreshBlocks fresh(allocator_.get());
  if (kind != FALLOC_FL_PUNCH_HOLE) {
    // Allocate: every hole of the range gets a block of zeros, all of them
    // reserved before anything changes (ENOSPC leaves the file as it was).
    std::vector<uint64_t> holes;
    for (uint64_t i = first; i <= last; ++i) {
      if (mapped[i - first] == 0) holes.push_back(i);
    }
    if (!holes.empty()) {
      absl::StatusOr<bool> reused = AllocateFresh(holes.size(), &fresh);
      if (!reused.ok()) return reused.status();
      const std::string zeros(bs, '\0');
      for (size_t k = 0; k < holes.size(); ++k) {
        // A reused block may hold a deleted file's bytes.
        if (*reused) {
          if (absl::Status s = blocks_->Write(fresh.blocks()[k], 0, zeros);
              !s.ok()) {
            return s;
          }
        }
        batch->PutBlock(id.ino, holes[k], fresh.blocks()[k]);
      }
      if (*reused) {
        if (absl::Status s = blocks_->Sync(); !s.ok()) return s;
      }
      r->set_blocks_used(r->blocks_used() + holes.size());
    }
  }
  for (const EdgeZeros& edge : edges) {
    if (absl::Status s = blocks_->Write(edge.block, edge.offset,
                                        std::string(edge.length, '\0'));
        !s.ok()) {
      return s;
    }
  }
  const int64_t now = NowNs();
  if ((mode & FALLOC_FL_KEEP_SIZE) == 0 && end > r->size()) {
    r->set_size(end);
    r->set_mtime_ns(now);
  }
  if (kind != 0) r->set_mtime_ns(now);
  r->set_ctime_ns(now);
  batch->PutInode(id.ino, *r);
  if (absl::Status s = Commit(batch.get()); !s.ok()) return s;
  fresh.Mapped();
  allocator_->Free(freed);
  return Entry{id.ino, *std::move(r)};
}

absl::StatusOr<uint64_t> Filesystem::CopyRange(InodeRef in, uint64_t in_offset,
                                               InodeRef out,
                                               uint64_t out_offset,
                                               uint64_t length,
                                               meta::InodeRecord* after) {
  length = std::min<uint64_t>(length, kMaxCopyBytesPerCall);
  if (in.ino == out.ino && in_offset < out_offset + length &&
      out_offset < in_offset + length) {
    return ErrnoError(EINVAL, "overlapping ranges of one file");
  }
  // Piece by piece through the read and write paths: each piece is as
  // durable as a write, and a copy cut short has copied a prefix.
  constexpr uint32_t kPiece = 1u << 20;
  std::string buffer;
  uint64_t copied = 0;
  while (copied < length) {
    buffer.clear();
    const uint32_t want =
        static_cast<uint32_t>(std::min<uint64_t>(kPiece, length - copied));
    if (absl::Status s = Read(in, in_offset + copied, want, &buffer); !s.ok()) {
      if (copied > 0) break;
      return s;
    }
    if (buffer.empty()) break;
    absl::StatusOr<uint64_t> written =
        Write(out, out_offset + copied, buffer, after);
    if (!written.ok()) {
      if (copied > 0) break;
      return written.status();
    }
    copied += buffer.size();
    if (buffer.size() < want) break;
  }
  if (copied == 0 && after != nullptr) {
    absl::StatusOr<meta::InodeRecord> r = Load(out);
    if (!r.ok()) return r.status();
    *after = *std::move(r);
  }
  return copied;
}

absl::StatusOr<uint64_t> Filesystem::SeekData(InodeRef id, uint64_t offset,
                                              bool hole) {
  std::shared_ptr<InodeLock> lock = locks_.Get(id.ino);
  absl::ReaderMutexLock data_lock(&lock->data);
  absl::StatusOr<meta::InodeRecord> r = Load(id);
  if (!r.ok()) return r.status();
  if (!S_ISREG(r->mode())) return ErrnoError(EINVAL);
  if (offset >= r->size()) return ErrnoError(ENXIO);
  const uint64_t bs = blocks_->block_size();
  // The first mapped block from offset's on (data), or the first index the
  // consecutive run of mapped blocks from there misses (hole).
  uint64_t expected = offset / bs;
  std::optional<uint64_t> found;
  absl::Status scan =
      meta_->ForEachBlockOf(id.ino, offset / bs, [&](uint64_t index, uint64_t) {
        if (!hole) {
          found = index;
          return false;
        }
        if (index != expected) return false;
        ++expected;
        return true;
      });
  if (!scan.ok()) return scan;
  if (hole) {
    // Past the last block there is the hole every file ends with.
    return std::min(r->size(), std::max(offset, expected * bs));
  }
  if (!found.has_value() || *found * bs >= r->size()) {
    return ErrnoError(ENXIO, "no data after the offset");
  }
  return std::max(offset, *found * bs);
}

}  // namespace rbfs
