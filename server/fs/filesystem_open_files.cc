// Filesystem's open files: open counts, the sessions that hold tracked
// handles, the reclaim of unlinked inodes once nobody has them open, and
// the sweeper thread that expires sessions and, after the grace period of
// a restart, reclaims the orphans no mount re-registered.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/errno_status.h"
#include "common/log.h"
#include "protos/rbfs.pb.h"
#include "server/fs/filesystem.h"

namespace rbfs {
namespace {

// A session's peer for the log: gRPC's name of it, or a word when none is
// known (the session was brought back by a call other than KeepAlive).
std::string PeerOrUnknown(absl::string_view peer) {
  return peer.empty() ? std::string("an unknown peer") : std::string(peer);
}

}  // namespace

absl::StatusOr<Entry> Filesystem::Open(InodeRef id, uint32_t flags,
                                       const OpenHandle& handle) {
  // A repeated open of a registered handle must not truncate again: the
  // opener may have written since.
  const bool repeat =
      handle.tracked() && sessions_.HasHandle(handle.session, handle.handle);
  const bool truncate = (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY &&
                        !handle.reclaim && !repeat;
  if (truncate) {
    SetAttrArgs args;
    args.valid = SETATTR_SIZE;
    args.size = 0;
    absl::StatusOr<meta::InodeRecord> r = Load(id);
    if (!r.ok()) return r.status();
    if (S_ISREG(r->mode()) && r->size() != 0 && r->nlink() != 0) {
      absl::StatusOr<Entry> e = SetAttr(id, args);
      if (!e.ok()) return e.status();
    }
  }
  std::shared_ptr<InodeLock> lock = locks_.Get(id.ino);
  absl::MutexLock meta_lock(&lock->meta);
  absl::StatusOr<meta::InodeRecord> r = Load(id);
  if (!r.ok()) return r.status();
  if (S_ISDIR(r->mode()) && (flags & O_ACCMODE) != O_RDONLY) {
    return ErrnoError(EISDIR);
  }
  // A new open names the file by a path, so an unlinked file can only be
  // reached through a client's stale name cache (say, after another mount
  // replaced it by rename). ESTALE makes the kernel look the name up again,
  // which gives close-to-open consistency across such replacements.
  if (r->nlink() == 0 && !handle.reclaim && !repeat) {
    return ErrnoError(ESTALE, "opened by a name it no longer has");
  }
  if (r->nlink() == 0 && shared_ != nullptr && handle.reclaim) {
    // A mount brought its handle here from another server: this one keeps
    // the orphan now, and reclaims it at the last close.
    std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
    batch->PutOrphan(id.ino, shared_->member());
    if (absl::Status s = Commit(batch.get()); !s.ok()) return s;
  }
  CountOpen(id.ino, handle);
  return Entry{id.ino, *r};
}

void Filesystem::CountOpen(uint64_t ino, const OpenHandle& handle) {
  if (handle.tracked() &&
      !sessions_.AddHandle(handle.session, handle.handle, ino, clock_->Now())) {
    return;
  }
  absl::MutexLock open_lock(&open_mu_);
  ++open_counts_[ino];
}

absl::Status Filesystem::Release(InodeRef id, const OpenHandle& handle) {
  if (!handle.tracked()) return DropOpen(id.ino);
  std::optional<uint64_t> ino =
      sessions_.RemoveHandle(handle.session, handle.handle);
  return ino ? DropOpen(*ino) : absl::OkStatus();
}

absl::Status Filesystem::DropOpen(uint64_t ino) {
  {
    std::shared_ptr<InodeLock> lock = locks_.Get(ino);
    absl::MutexLock meta_lock(&lock->meta);
    absl::MutexLock open_lock(&open_mu_);
    auto it = open_counts_.find(ino);
    if (it == open_counts_.end()) return absl::OkStatus();
    if (--it->second > 0) return absl::OkStatus();
    open_counts_.erase(it);
  }
  return ReclaimIfUnused(ino);
}

bool Filesystem::IsOpen(uint64_t ino) {
  absl::MutexLock lock(&open_mu_);
  auto it = open_counts_.find(ino);
  return it != open_counts_.end() && it->second > 0;
}

absl::StatusOr<KeepAliveResult> Filesystem::KeepAlive(uint64_t session,
                                                      uint64_t answered_below,
                                                      absl::string_view peer) {
  if (session == 0) return ErrnoError(EINVAL, "session 0");
  KeepAliveResult result;
  const SessionTable::Renewed renewed =
      sessions_.Renew(session, clock_->Now(), peer);
  result.known = renewed == SessionTable::Renewed::kKnown;
  if (renewed == SessionTable::Renewed::kNew) {
    LogInfo("session %016x from %s began", session, PeerOrUnknown(peer));
  } else if (renewed == SessionTable::Renewed::kUnconfirmed) {
    LogInfo(
        "session %016x from %s is back after the restart: it "
        "re-registers its open files and locks",
        session, PeerOrUnknown(peer));
  }
  result.lease = sessions_.lease();
  if (answered_below > 1) {
    if (absl::Status s = calls_.ForgetBelow(session, answered_below); !s.ok()) {
      return s;
    }
  }
  return result;
}

absl::Status Filesystem::ReclaimIfUnused(uint64_t ino) {
  // Its "O" record keeps it for the sweep at the end of the grace period.
  if (clock_->Now() < grace_end_) return absl::OkStatus();
  // Another server sharing the store may reclaim it at the same time.
  return RunOptimistically([&] { return ReclaimUnused(ino); });
}

absl::Status Filesystem::ReclaimUnused(uint64_t ino) {
  std::shared_ptr<InodeLock> lock = locks_.Get(ino);
  absl::MutexLock data_lock(&lock->data);
  absl::MutexLock meta_lock(&lock->meta);
  if (IsOpen(ino)) return absl::OkStatus();
  absl::StatusOr<meta::InodeRecord> r = meta_->GetInode(ino);
  if (absl::IsNotFound(r.status())) return absl::OkStatus();
  if (!r.ok()) return r.status();
  if (r->nlink() != 0) return absl::OkStatus();
  std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
  std::vector<uint64_t> freed;
  if (absl::Status s = UnmapBlocks(ino, 0, batch.get(), &freed); !s.ok())
    return s;
  if (absl::Status s = DropXattrs(ino, *r, batch.get()); !s.ok()) return s;
  batch->DeleteInode(ino);
  batch->DeleteOrphan(ino);
  if (absl::Status s = Commit(batch.get()); !s.ok()) return s;
  allocator_->Free(freed);
  file_locks_.DropFile(ino);
  // Not below 0: another server sharing the store counted its creation.
  uint64_t count = inode_count_.load();
  while (count > 0 && !inode_count_.compare_exchange_weak(count, count - 1)) {
  }
  return absl::OkStatus();
}

absl::Status Filesystem::ReclaimOrphans() {
  std::vector<uint64_t> orphans;
  absl::Status scan =
      meta_->ForEachOrphan([&](uint64_t ino, absl::string_view) {
        orphans.push_back(ino);
        return true;
      });
  if (!scan.ok()) return scan;
  const uint64_t free_before = allocator_->reclaimable_blocks();
  const size_t before = inode_count_.load();
  for (uint64_t ino : orphans) {
    if (absl::Status s = ReclaimIfUnused(ino); !s.ok()) return s;
  }
  if (!orphans.empty()) {
    LogInfo(
        "reclaimed %d of %d unlinked inodes nobody re-opened since the "
        "start (%d blocks)",
        before - inode_count_.load(), orphans.size(),
        allocator_->reclaimable_blocks() - free_before);
  }
  return absl::OkStatus();
}

absl::Status Filesystem::ReclaimDepartedOrphans() {
  std::vector<std::pair<uint64_t, std::string>> orphans;
  absl::Status scan =
      meta_->ForEachOrphan([&](uint64_t ino, absl::string_view holder) {
        orphans.emplace_back(ino, std::string(holder));
        return true;
      });
  if (!scan.ok()) return scan;
  const absl::Time now = clock_->Now();
  absl::flat_hash_map<std::string, bool> serving;
  absl::flat_hash_map<uint64_t, absl::Time> departed;
  for (const auto& [ino, holder] : orphans) {
    if (holder == shared_->member()) continue;  // released here
    auto known = serving.find(holder);
    if (known == serving.end()) {
      absl::StatusOr<bool> serves = holder.empty() ? absl::StatusOr<bool>(false)
                                                   : shared_->Serves(holder);
      if (!serves.ok()) return serves.status();
      known = serving.emplace(holder, *serves).first;
    }
    if (known->second) continue;
    auto seen = departed_orphans_.find(ino);
    const absl::Time since =
        seen == departed_orphans_.end() ? now : seen->second;
    // Its keeper's mounts had a lease to re-open it on this server (which
    // then keeps it: Open re-points the record).
    if (now - since >= sessions_.lease()) {
      if (absl::Status s = ReclaimIfUnused(ino); !s.ok()) return s;
      continue;
    }
    departed.emplace(ino, since);
  }
  departed_orphans_ = std::move(departed);
  return absl::OkStatus();
}

void Filesystem::SweepNow() {
  absl::MutexLock sweep_lock(&sweep_run_mu_);
  const absl::Time now = clock_->Now();
  SessionTable::Expired expired = sessions_.Expire(now);
  for (uint64_t ino : expired.inodes) {
    if (absl::Status s = DropOpen(ino); !s.ok()) {
      LogWarning("release of inode %d of an expired session: %s (%s)", ino,
                 s.message(), ErrnoName(StatusToErrno(s)));
    }
  }
  for (const SessionTable::Info& session : expired.sessions) {
    const size_t locked = file_locks_.DropSession(session.session);
    LogInfo(
        "session %016x from %s expired (no renewal for %s): released its %d "
        "open files and its locks on %d files",
        session.session, PeerOrUnknown(session.peer),
        absl::FormatDuration(now - session.renewed), session.handles, locked);
    if (absl::Status s = calls_.ForgetSession(session.session); !s.ok()) {
      LogWarning("session %016x: cannot drop its call records: %s (%s)",
                 session.session, s.message(), ErrnoName(StatusToErrno(s)));
    }
  }
  if (shared_ != nullptr) {
    // Others' orphans and call records are theirs: only those of servers
    // that are gone are this one's to reclaim.
    if (clock_->Now() < grace_end_) return;
    if (absl::Status s = ReclaimDepartedOrphans(); !s.ok()) {
      LogWarning("reclaiming the orphans of departed servers: %s",
                 s.ToString());
    }
    return;
  }
  if (!grace_swept_ && clock_->Now() >= grace_end_) {
    absl::Status s = ReclaimOrphans();
    if (s.ok()) {
      s = calls_.ForgetSessionsExcept(
          [this](uint64_t session) { return sessions_.Live(session); });
    }
    if (s.ok()) {
      grace_swept_ = true;
    } else {
      LogWarning("sweep after the grace period failed: %s", s.ToString());
    }
  }
}

void Filesystem::SweepLoop() {
  const absl::Duration interval = std::clamp(
      sessions_.lease() / 4, absl::Milliseconds(10), absl::Seconds(1));
  absl::MutexLock lock(&sweep_mu_);
  for (;;) {
    auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(sweep_mu_) {
      return stopping_;
    };
    if (sweep_mu_.AwaitWithTimeout(absl::Condition(&stopping), interval)) {
      return;
    }
    sweep_mu_.Unlock();
    SweepNow();
    sweep_mu_.Lock();
  }
}

}  // namespace rbfs
