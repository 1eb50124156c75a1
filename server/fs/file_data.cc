// Filesystem's data path: reading, writing and truncating a file's blocks
// (and SetAttr, whose size change is a truncation).
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "common/errno_status.h"
#include "protos/rbfs.pb.h"
#include "server/fs/filesystem.h"
#include "server/fs/fresh_blocks.h"

namespace rbfs {
namespace {

// `mode` without the set-id bits an unprivileged write or a chown drops:
// S_ISUID, and S_ISGID when group-executable (without it, S_ISGID marks
// mandatory locking, which Linux leaves alone).
uint32_t WithoutSetIds(uint32_t mode) {
  mode &= ~S_ISUID;
  if (mode & S_IXGRP) mode &= ~S_ISGID;
  return mode;
}

// Linux relatime: atime moves on read when older than mtime/ctime or a day.
constexpr int64_t kRelatimeNs = int64_t{24} * 3600 * 1000000000;

}  // namespace

absl::StatusOr<Entry> Filesystem::SetAttr(InodeRef id,
                                          const SetAttrArgs& args) {
  std::shared_ptr<InodeLock> lock = locks_.Get(id.ino);
  // A truncation reshapes the block map, so it excludes readers and
  // writers; other changes only touch the record.
  if (args.valid & SETATTR_SIZE) {
    absl::MutexLock data_lock(&lock->data);
    return RunEntryOptimistically(
        [&] { return SetAttrLocked(id, args, lock.get()); });
  }
  absl::ReaderMutexLock data_lock(&lock->data);
  return RunEntryOptimistically(
      [&] { return SetAttrLocked(id, args, lock.get()); });
}

absl::StatusOr<Entry> Filesystem::SetAttrLocked(InodeRef id,
                                                const SetAttrArgs& args,
                                                InodeLock* lock) {
  absl::MutexLock meta_lock(&lock->meta);
  absl::StatusOr<meta::InodeRecord> r = Load(id);
  if (!r.ok()) return r.status();
  const int64_t now = NowNs();
  std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
  std::vector<uint64_t> freed;
  if (args.valid & SETATTR_MODE) {
    r->set_mode((r->mode() & S_IFMT) | (args.mode & 07777));
    if (absl::Status s = StageAclChmod(batch.get(), id.ino, &*r); !s.ok()) {
      return s;
    }
  }
  if (args.valid & (SETATTR_UID | SETATTR_GID)) {
    if (args.valid & SETATTR_UID) r->set_uid(args.uid);
    if (args.valid & SETATTR_GID) r->set_gid(args.gid);
    // Like Linux: a change of owner drops set-id bits of non-directories.
    if (!S_ISDIR(r->mode()) && !(args.valid & SETATTR_MODE)) {
      r->set_mode(WithoutSetIds(r->mode()));
    }
  }
  if (args.valid & SETATTR_SIZE) {
    if (S_ISDIR(r->mode())) return ErrnoError(EISDIR);
    if (!S_ISREG(r->mode())) return ErrnoError(EINVAL);
    if (args.size > kMaxFileSize) return ErrnoError(EFBIG);
    if (absl::Status s = Truncate(id, args.size, &*r, batch.get(), &freed);
        !s.ok()) {
      return s;
    }
    if (args.size != r->size()) r->set_mtime_ns(now);
    r->set_size(args.size);
  }
  if (args.valid & SETATTR_ATIME_NOW) {
    r->set_atime_ns(now);
  } else if (args.valid & SETATTR_ATIME) {
    r->set_atime_ns(args.atime_ns);
  }
  if (args.valid & SETATTR_MTIME_NOW) {
    r->set_mtime_ns(now);
  } else if (args.valid & SETATTR_MTIME) {
    r->set_mtime_ns(args.mtime_ns);
  }
  r->set_ctime_ns(now);
  batch->PutInode(id.ino, *r);
  if (absl::Status s = Commit(batch.get()); !s.ok()) return s;
  allocator_->Free(freed);
  return Entry{id.ino, *r};
}

absl::Status Filesystem::Truncate(InodeRef id, uint64_t size,
                                  meta::InodeRecord* r, MetaBatch* batch,
                                  std::vector<uint64_t>* freed) {
  if (size >= r->size()) return absl::OkStatus();
  const uint64_t bs = blocks_->block_size();
  // Blocks wholly past the new end go; the tail of the last kept block is
  // zeroed so that growing the file later reads zeros there.
  const size_t freed_before = freed->size();
  if (absl::Status s = UnmapBlocks(id.ino, (size + bs - 1) / bs, batch, freed);
      !s.ok()) {
    return s;
  }
  if (size % bs != 0) {
    absl::StatusOr<uint64_t> last = meta_->GetBlock(id.ino, size / bs);
    if (!last.ok()) return last.status();
    if (*last != 0) {
      const uint32_t from = size % bs;
      std::string zeros(bs - from, '\0');
      // Durable before the new size, or after a power cut a later
      // extension could bring back the cut-off bytes.
      if (absl::Status s = blocks_->Write(*last, from, zeros); !s.ok()) {
        return s;
      }
      if (absl::Status s = blocks_->Sync(); !s.ok()) return s;
    }
  }
  r->set_blocks_used(r->blocks_used() - (freed->size() - freed_before));
  return absl::OkStatus();
}

absl::StatusOr<bool> Filesystem::AllocateFresh(size_t count,
                                               FreshBlocks* fresh) {
  absl::StatusOr<std::vector<uint64_t>> got = allocator_->Allocate(count);
  if (absl::IsResourceExhausted(got.status()) &&
      allocator_->has_quarantined()) {
    // Freed blocks become usable once their release is durable.
    if (absl::Status s = committer_->Sync(); !s.ok()) return s;
    got = allocator_->Allocate(count);
  }
  // Shared: the groups this server holds are full; claim more, the freest
  // first, until the blocks fit or every group is held.
  while (absl::IsResourceExhausted(got.status()) && shared_ != nullptr) {
    const std::vector<uint64_t> candidates = allocator_->GroupsToClaim();
    if (candidates.empty()) break;
    absl::StatusOr<uint64_t> claimed = shared_->ClaimGroup(candidates);
    if (absl::IsNotFound(claimed.status())) {
      return ErrnoError(ENOSPC,
                        "no allocation group left with room: the other "
                        "servers hold the rest");
    }
    if (!claimed.ok()) return claimed.status();
    allocator_->AllowGroup(*claimed);
    got = allocator_->Allocate(count);
  }
  if (!got.ok()) return got.status();
  fresh->Adopt(*std::move(got));
  return high_water_.PrepareForData(fresh->blocks());
}

absl::Status Filesystem::UnmapBlocks(uint64_t ino, uint64_t first,
                                     MetaBatch* batch,
                                     std::vector<uint64_t>* freed) {
  return meta_->ForEachBlockOf(ino, first, [&](uint64_t index, uint64_t block) {
    batch->DeleteBlock(ino, index);
    freed->push_back(block);
    return true;
  });
}

absl::Status Filesystem::Read(InodeRef id, uint64_t offset, uint32_t length,
                              std::string* out,
                              std::optional<meta::InodeRecord>* moved) {
  if (length > kMaxIoSize) return ErrnoError(EINVAL, "read larger than 4 MiB");
  std::shared_ptr<InodeLock> lock = locks_.Get(id.ino);
  meta::InodeRecord r;
  {
    absl::ReaderMutexLock data_lock(&lock->data);
    absl::StatusOr<meta::InodeRecord> loaded = Load(id);
    if (!loaded.ok()) return loaded.status();
    r = std::move(*loaded);
    if (S_ISDIR(r.mode())) return ErrnoError(EISDIR);
    if (!S_ISREG(r.mode())) return ErrnoError(EINVAL);
    if (offset >= r.size()) return absl::OkStatus();
    const uint64_t end = std::min<uint64_t>(r.size(), offset + length);
    const uint64_t bs = blocks_->block_size();
    const size_t base = out->size();
    out->resize(base + (end - offset));
    char* dst = out->data() + base;
    // The range's block map in one read, its mapped blocks all at once
    // (BlockDevice::ReadMany).
    const uint64_t first = offset / bs;
    absl::StatusOr<std::vector<uint64_t>> mapped =
        meta_->GetBlocks(id.ino, first, (end - 1) / bs - first + 1);
    if (!mapped.ok()) return mapped.status();
    std::vector<BlockDevice::ReadPiece> pieces;
    for (uint64_t pos = offset; pos < end;) {
      const uint64_t index = pos / bs;
      const uint32_t within = pos % bs;
      const uint32_t n = std::min<uint64_t>(bs - within, end - pos);
      const uint64_t block = (*mapped)[index - first];
      if (block == 0) {
        std::memset(dst, 0, n);
      } else {
        pieces.push_back({block, within, dst, n});
      }
      dst += n;
      pos += n;
    }
    if (absl::Status s = blocks_->ReadMany(pieces); !s.ok()) return s;
  }
  // relatime: update atime only when it is behind mtime/ctime or stale.
  const int64_t now = NowNs();
  if (r.atime_ns() <= r.mtime_ns() || r.atime_ns() <= r.ctime_ns() ||
      now - r.atime_ns() > kRelatimeNs) {
    absl::MutexLock meta_lock(&lock->meta);
    // Guarded like any change: another server's size or mode must not be
    // undone by an atime.
    return RunOptimistically([&] {
      absl::StatusOr<meta::InodeRecord> fresh = Load(id);
      if (!fresh.ok()) return absl::OkStatus();
      fresh->set_atime_ns(now);
      std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
      batch->PutInode(id.ino, *fresh);
      if (absl::Status s = Commit(batch.get()); !s.ok()) return s;
      if (moved != nullptr) *moved = std::move(*fresh);
      return absl::OkStatus();
    });
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Filesystem::Write(InodeRef id, uint64_t offset,
                                           absl::string_view data,
                                           meta::InodeRecord* after,
                                           bool kill_suidgid) {
  if (data.size() > kMaxIoSize) {
    return ErrnoError(EINVAL, "write larger than 4 MiB");
  }
  if (offset > kMaxFileSize || data.size() > kMaxFileSize - offset) {
    return ErrnoError(EFBIG);
  }
  // After a failed commit nothing written can be made durable any more:
  // say so at once rather than acknowledge writes that fsync would fail.
  if (absl::Status s = committer_->failure(); !s.ok()) return s;
  std::shared_ptr<InodeLock> lock = locks_.Get(id.ino);
  absl::ReaderMutexLock data_lock(&lock->data);
  {
    absl::StatusOr<meta::InodeRecord> r = Load(id);
    if (!r.ok()) return r.status();
    if (S_ISDIR(r->mode())) return ErrnoError(EISDIR);
    if (!S_ISREG(r->mode())) return ErrnoError(EINVAL);
    if (data.empty()) {
      if (after != nullptr) *after = *r;
      return r->size();
    }
  }
  const uint64_t bs = blocks_->block_size();
  const uint64_t first = offset / bs;
  const uint64_t last = (offset + data.size() - 1) / bs;

  // Concurrent writers of one file share the data lock; the meta lock
  // decides who maps a hole, so a block is allocated once. A new block is
  // written whole (zeros around the data) and mapped under it; overwrites
  // of mapped blocks then go out without it, in parallel.
  //
  // Another server may map the same holes or change the size meanwhile, so
  // each commit below stands on the inode as read under the meta lock
  // before the block map (every change of the map changes the inode too),
  // and its step runs again if it moved (RunOptimistically).
  std::vector<uint64_t> physical(last - first + 1);
  std::vector<bool> is_fresh(last - first + 1, false);
  auto piece = [&](uint64_t i) {
    const uint64_t block_start = i * bs;
    const uint64_t from = std::max(offset, block_start);
    const uint64_t to = std::min(offset + data.size(), block_start + bs);
    return std::make_pair(from - block_start,
                          data.substr(from - offset, to - from));
  };
  uint64_t size = 0;
  // Commits `batch` with the file's new size and `added` more blocks.
  auto finish = [&](MetaBatch* batch, uint64_t added) -> absl::Status {
    absl::StatusOr<meta::InodeRecord> r = Load(id);
    if (!r.ok()) return r.status();
    const int64_t now = NowNs();
    r->set_size(std::max<uint64_t>(r->size(), offset + data.size()));
    r->set_blocks_used(r->blocks_used() + added);
    r->set_mtime_ns(now);
    r->set_ctime_ns(now);
    if (kill_suidgid) r->set_mode(WithoutSetIds(r->mode()));
    batch->PutInode(id.ino, *r);
    if (absl::Status s = Commit(batch); !s.ok()) return s;
    if (after != nullptr) *after = *r;
    size = r->size();
    return absl::OkStatus();
  };
  // Whether `finish` ran with the holes' batch (all blocks were holes).
  bool finished = false;
  {
    absl::MutexLock meta_lock(&lock->meta);
    absl::Status mapped_holes = RunOptimistically([&]() -> absl::Status {
      std::fill(is_fresh.begin(), is_fresh.end(), false);
      absl::StatusOr<meta::InodeRecord> before = Load(id);
      if (!before.ok()) return before.status();
      absl::StatusOr<std::vector<uint64_t>> mapped =
          meta_->GetBlocks(id.ino, first, last - first + 1);
      if (!mapped.ok()) return mapped.status();
      physical = *std::move(mapped);
      std::vector<uint64_t> holes;
      for (uint64_t i = first; i <= last; ++i) {
        if (physical[i - first] == 0) holes.push_back(i);
      }
      if (holes.empty()) return absl::OkStatus();
      FreshBlocks fresh(allocator_.get());
      absl::StatusOr<bool> reused = AllocateFresh(holes.size(), &fresh);
      if (!reused.ok()) return reused.status();
      std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
      // At most the two edge blocks are partly covered.
      std::vector<std::string> padded;
      padded.reserve(2);
      std::vector<BlockDevice::WritePiece> pieces;
      pieces.reserve(holes.size());
      for (size_t k = 0; k < holes.size(); ++k) {
        const uint64_t i = holes[k];
        const uint64_t block = fresh.blocks()[k];
        auto [within, bytes] = piece(i);
        if (bytes.size() == bs) {
          pieces.push_back({block, 0, bytes});
        } else {
          std::string& buffer = padded.emplace_back(bs, '\0');
          std::memcpy(buffer.data() + within, bytes.data(), bytes.size());
          pieces.push_back({block, 0, buffer});
        }
        physical[i - first] = block;
        is_fresh[i - first] = true;
        batch->PutBlock(id.ino, i, block);
      }
      if (absl::Status s = blocks_->WriteMany(pieces); !s.ok()) return s;
      // Blocks below the high-water mark may still hold a deleted file's
      // bytes: their new data must be durable before the map that exposes
      // them, or a power cut could leave the map without the data.
      if (*reused) {
        if (absl::Status s = blocks_->Sync(); !s.ok()) return s;
      }
      if (holes.size() == physical.size()) {
        if (absl::Status s = finish(batch.get(), holes.size()); !s.ok()) {
          return s;
        }
        fresh.Mapped();
        finished = true;
        return absl::OkStatus();
      }
      // Map the new blocks now so that a concurrent writer sees them.
      before->set_blocks_used(before->blocks_used() + holes.size());
      batch->PutInode(id.ino, *before);
      if (absl::Status s = Commit(batch.get()); !s.ok()) return s;
      fresh.Mapped();
      return absl::OkStatus();
    });
    if (!mapped_holes.ok()) return mapped_holes;
    if (finished) return size;
  }
  std::vector<BlockDevice::WritePiece> overwrites;
  for (uint64_t i = first; i <= last; ++i) {
    if (is_fresh[i - first]) continue;
    auto [within, bytes] = piece(i);
    overwrites.push_back(
        {physical[i - first], static_cast<uint32_t>(within), bytes});
  }
  if (absl::Status s = blocks_->WriteMany(overwrites); !s.ok()) return s;
  absl::MutexLock meta_lock(&lock->meta);
  absl::Status finished_write = RunOptimistically([&] {
    std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
    return finish(batch.get(), 0);
  });
  if (!finished_write.ok()) return finished_write;
  return size;
}

}  // namespace rbfs
