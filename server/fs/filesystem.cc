#include "server/fs/filesystem.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/errno_status.h"
#include "common/log.h"
#include "protos/rbfs.pb.h"

namespace rbfs {
namespace {

constexpr uint32_t kRenameNoReplace = 1;
constexpr uint32_t kRenameExchange = 2;
// Linux relatime: atime moves on read when older than mtime/ctime or a day.
constexpr int64_t kRelatimeNs = int64_t{24} * 3600 * 1000000000;

int64_t NowNs() { return absl::ToUnixNanos(absl::Now()); }

absl::Status ValidateName(absl::string_view name) {
  if (name.empty()) return ErrnoError(ENOENT, "empty name");
  if (name.size() > Filesystem::kMaxNameLength) {
    return ErrnoError(ENAMETOOLONG, "name longer than 255 bytes");
  }
  if (name.find('/') != absl::string_view::npos ||
      name.find('\0') != absl::string_view::npos) {
    return ErrnoError(EINVAL, "name contains '/' or NUL");
  }
  if (name == "." || name == "..") {
    return ErrnoError(EINVAL, "'.' and '..' cannot be created or removed");
  }
  return absl::OkStatus();
}

bool IsDir(const meta::InodeRecord& r) { return S_ISDIR(r.mode()); }

uint64_t Blocks512(const meta::InodeRecord& r, uint32_t block_size) {
  return r.blocks_used() * (block_size / 512);
}

// Locks a set of meta mutexes in the given order, skipping repeats.
class MetaLocks {
 public:
  MetaLocks() = default;
  MetaLocks(const MetaLocks&) = delete;
  MetaLocks& operator=(const MetaLocks&) = delete;
  ~MetaLocks() {
    for (auto it = held_.rbegin(); it != held_.rend(); ++it) {
      (*it)->meta.Unlock();
    }
  }
  void Lock(std::shared_ptr<InodeLock> lock) {
    for (const auto& h : held_) {
      if (h == lock) return;
    }
    lock->meta.Lock();
    held_.push_back(std::move(lock));
  }

 private:
  std::vector<std::shared_ptr<InodeLock>> held_;
};

}  // namespace

Filesystem::Filesystem(std::unique_ptr<BlockDevice> blocks,
                       std::unique_ptr<MetaStore> meta,
                       std::unique_ptr<BlockAllocator> allocator,
                       meta::Superblock sb, uint64_t next_ino,
                       uint64_t inode_count, absl::Duration commit_interval,
                       absl::Duration lease, absl::Time grace_end)
    : blocks_(std::move(blocks)),
      meta_(std::move(meta)),
      allocator_(std::move(allocator)),
      committer_(std::make_unique<Committer>(
          blocks_.get(), meta_.get(), allocator_.get(), commit_interval)),
      superblock_(std::move(sb)),
      high_water_(superblock_.high_water() == 0 ? superblock_.block_count()
                                                : superblock_.high_water()),
      maybe_used_below_(high_water_.load()),
      next_ino_(next_ino),
      inode_count_(inode_count),
      sessions_(lease),
      calls_(meta_.get()),
      grace_end_(grace_end),
      sweeper_([this] { SweepLoop(); }) {}

Filesystem::~Filesystem() {
  {
    absl::MutexLock lock(&sweep_mu_);
    stopping_ = true;
  }
  sweeper_.join();
  committer_.reset();  // final commit before the stores close
}

absl::StatusOr<std::unique_ptr<Filesystem>> Filesystem::Open(
    const Options& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return ErrnoError(ec.value(),
                      absl::StrCat("cannot create data directory ",
                                   options.data_dir, ": ", ec.message()));
  }
  const std::string meta_path = options.data_dir + "/meta";
  const bool fresh = !std::filesystem::exists(meta_path + "/CURRENT");
  const std::string volume_path = options.volume_path.empty()
                                      ? options.data_dir + "/volume"
                                      : options.volume_path;
  if (!fresh && !std::filesystem::exists(volume_path)) {
    return ErrnoError(ENOENT, absl::StrCat("volume ", volume_path,
                                           " is missing but metadata exists "
                                           "in ",
                                           meta_path));
  }
  BlockStore::Options block_options;
  block_options.block_size = options.block_size;
  block_options.volume_size = options.volume_size;
  absl::StatusOr<std::unique_ptr<BlockStore>> blocks =
      BlockStore::Open(volume_path, block_options, /*may_format=*/fresh);
  if (!blocks.ok()) return blocks.status();
  if (fresh && !(*blocks)->formatted()) {
    // Its data belongs to the metadata store that formatted it; adopting
    // the volume here would hand those blocks out a second time.
    return ErrnoError(
        EEXIST, absl::StrCat("volume ", volume_path,
                             " does not belong to the new "
                             "metadata store in ",
                             meta_path, "; it is already an rbfs volume"));
  }
  const uint64_t volume_id = (*blocks)->volume_id();
  const bool zeroed = (*blocks)->zeroed();
  std::unique_ptr<BlockDevice> device = *std::move(blocks);
  if (options.wrap_volume) device = options.wrap_volume(std::move(device));
  BlockDevice* block_device = device.get();
  absl::StatusOr<std::unique_ptr<MetaStore>> meta = MetaStore::Open(
      meta_path,
      [block_device] {
        if (absl::Status s = block_device->Sync(); !s.ok()) {
          LogError("volume sync before metadata flush failed: %s",
                   s.ToString());
        }
      },
      options.meta_env);
  if (!meta.ok()) return meta.status();

  absl::StatusOr<meta::Superblock> sb = (*meta)->GetSuperblock();
  rocksdb::WriteBatch batch;
  if (absl::IsNotFound(sb.status())) {
    sb = meta::Superblock();
    sb->set_block_size(device->block_size());
    sb->set_block_count(device->block_count());
    sb->set_volume_id(volume_id);
    sb->set_epoch(1);
    sb->set_max_inodes(
        std::max<uint64_t>(device->block_count() * 4, uint64_t{1} << 20));
    // A volume whose old content stayed (a raw device) has no block that is
    // known to hold nothing.
    sb->set_high_water(zeroed ? 1 : device->block_count());
    meta::InodeRecord root;
    int64_t now = NowNs();
    root.set_generation(kRootGeneration);
    root.set_mode(S_IFDIR | 0755);
    root.set_nlink(2);
    root.set_atime_ns(now);
    root.set_mtime_ns(now);
    root.set_ctime_ns(now);
    root.set_parent(kRootIno);
    root.set_next_cookie(3);
    MetaStore::PutInode(&batch, kRootIno, root);
  } else if (!sb.ok()) {
    return sb.status();
  } else if (sb->volume_id() != volume_id ||
             sb->block_size() != device->block_size()) {
    return ErrnoError(EINVAL, absl::StrCat("volume ", volume_path,
                                           " does not belong to the metadata "
                                           "store in ",
                                           meta_path));
  }
  sb->set_epoch(sb->epoch() + 1);
  MetaStore::PutSuperblock(&batch, *sb);
  if (absl::Status s = (*meta)->Commit(&batch); !s.ok()) return s;
  if (absl::Status s = (*meta)->Sync(); !s.ok()) return s;

  // Rebuild the allocator and counters from the durable records.
  auto allocator = std::make_unique<BlockAllocator>(sb->block_count());
  uint64_t max_ino = kRootIno;
  uint64_t inodes = 0;
  absl::Status scan =
      (*meta)->Scan("I", "I", [&](absl::string_view key, absl::string_view) {
        max_ino = std::max(max_ino, MetaStore::DecodeU64(key));
        ++inodes;
        return true;
      });
  if (!scan.ok()) return scan;
  uint64_t bad_blocks = 0;
  uint64_t used_blocks = 0;
  scan = (*meta)->Scan("B", "B", [&](absl::string_view, absl::string_view v) {
    ++used_blocks;
    if (!allocator->MarkUsed(MetaStore::DecodeU64(v))) ++bad_blocks;
    return true;
  });
  if (!scan.ok()) return scan;
  if (bad_blocks > 0) {
    return ErrnoError(EIO, absl::StrCat(bad_blocks,
                                        " block map entries are out of range "
                                        "or owned twice; run --check"));
  }

  allocator->StartSearchAt(sb->high_water() == 0 ? 1 : sb->high_water());
  // Blocks written but never mapped (a crash between the data and its
  // batch) are free already: free space is derived from the block maps.
  LogInfo("volume: %d of %d data blocks in use", used_blocks,
          allocator->data_blocks());
  // A new volume has no mounts from a previous run to wait for.
  const absl::Time grace_end =
      fresh ? absl::InfinitePast() : absl::Now() + options.lease_timeout;
  return std::unique_ptr<Filesystem>(
      new Filesystem(std::move(device), std::move(*meta), std::move(allocator),
                     *sb, max_ino + 1, inodes, options.commit_interval,
                     options.lease_timeout, grace_end));
}

absl::Status Filesystem::ReclaimOrphans() {
  std::vector<uint64_t> orphans;
  absl::Status scan =
      meta_->Scan("O", "O", [&](absl::string_view key, absl::string_view) {
        orphans.push_back(MetaStore::DecodeU64(key));
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

void Filesystem::SweepSessions() {
  SessionTable::Expired expired = sessions_.Expire(absl::Now());
  for (uint64_t ino : expired.inodes) {
    if (absl::Status s = DropOpen(ino); !s.ok()) {
      LogWarning("release of inode %d of an expired session: %s", ino,
                 s.ToString());
    }
  }
  if (!expired.sessions.empty()) {
    LogInfo("%d sessions expired: released their %d open handles",
            expired.sessions.size(), expired.inodes.size());
  }
  for (uint64_t session : expired.sessions) {
    if (absl::Status s = calls_.ForgetSession(session); !s.ok()) {
      LogWarning("cannot drop call records: %s", s.ToString());
    }
  }
  if (!grace_swept_ && absl::Now() >= grace_end_) {
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
    SweepSessions();
    sweep_mu_.Lock();
  }
}

absl::StatusOr<Entry> Filesystem::RunEntryOnce(
    const CallRef& call, const std::function<absl::StatusOr<Entry>()>& op) {
  if (!call.numbered()) return op();
  absl::StatusOr<std::optional<meta::CallRecord>> done = calls_.Begin(call);
  if (!done.ok()) return done.status();
  if (done->has_value()) {
    const meta::CallRecord& record = **done;
    // Fresher attributes if the inode is still the one answered.
    absl::StatusOr<meta::InodeRecord> now = meta_->GetInode(record.ino());
    if (now.ok() && now->generation() == record.inode().generation()) {
      return Entry{record.ino(), *std::move(now)};
    }
    return Entry{record.ino(), record.inode()};
  }
  absl::StatusOr<Entry> result = op();
  calls_.End(call);
  return result;
}

absl::Status Filesystem::RunOnce(const CallRef& call,
                                 const std::function<absl::Status()>& op) {
  if (!call.numbered()) return op();
  absl::StatusOr<std::optional<meta::CallRecord>> done = calls_.Begin(call);
  if (!done.ok()) return done.status();
  if (done->has_value()) return absl::OkStatus();
  absl::Status result = op();
  calls_.End(call);
  return result;
}

absl::Status Filesystem::Commit(rocksdb::WriteBatch* batch) {
  absl::Status s = meta_->Commit(batch);
  if (s.ok()) committer_->MarkDirty();
  return s;
}

absl::Status Filesystem::CoverByHighWater(uint64_t block) {
  if (block < high_water_.load()) return absl::OkStatus();
  absl::MutexLock lock(&high_water_mu_);
  const uint64_t mark = high_water_.load();
  if (block < mark) return absl::OkStatus();
  const uint64_t count = superblock_.block_count();
  const uint64_t step = std::max<uint64_t>(count / 64, 1024);
  meta::Superblock sb = superblock_;
  sb.set_high_water(std::min(count, std::max(block + 1, mark + step)));
  rocksdb::WriteBatch batch;
  MetaStore::PutSuperblock(&batch, sb);
  if (absl::Status s = meta_->Commit(&batch); !s.ok()) return s;
  // Durable before the data: a power cut must not leave data above a mark
  // that says there is none.
  if (absl::Status s = meta_->Sync(); !s.ok()) return s;
  high_water_.store(sb.high_water());
  return absl::OkStatus();
}

absl::Status Filesystem::SyncAll() { return committer_->Sync(); }

absl::StatusOr<meta::InodeRecord> Filesystem::Load(InodeRef id) const {
  if (id.ino == 0) return ErrnoError(ESTALE, "inode 0");
  absl::StatusOr<meta::InodeRecord> r = meta_->GetInode(id.ino);
  if (absl::IsNotFound(r.status())) return ErrnoError(ESTALE, "no such inode");
  if (!r.ok()) return r.status();
  if (r->generation() != id.generation) {
    return ErrnoError(ESTALE, "stale inode generation");
  }
  return r;
}

absl::StatusOr<meta::InodeRecord> Filesystem::LoadDir(InodeRef id) const {
  absl::StatusOr<meta::InodeRecord> r = Load(id);
  if (r.ok() && !IsDir(*r)) return ErrnoError(ENOTDIR);
  if (r.ok() && r->nlink() == 0) return ErrnoError(ENOENT, "directory removed");
  return r;
}

bool Filesystem::IsOpen(uint64_t ino) {
  absl::MutexLock lock(&open_mu_);
  auto it = open_counts_.find(ino);
  return it != open_counts_.end() && it->second > 0;
}

absl::StatusOr<Entry> Filesystem::Lookup(InodeRef parent,
                                         absl::string_view name) {
  absl::StatusOr<meta::InodeRecord> dir = LoadDir(parent);
  if (!dir.ok()) return dir.status();
  if (name == ".") return Entry{parent.ino, *dir};
  if (name == "..") {
    absl::StatusOr<meta::InodeRecord> up = meta_->GetInode(dir->parent());
    if (!up.ok()) return ErrnoError(ESTALE, "parent vanished");
    return Entry{dir->parent(), *up};
  }
  if (name.size() > kMaxNameLength) return ErrnoError(ENAMETOOLONG);
  if (absl::Status s = ValidateName(name); !s.ok()) return s;
  absl::StatusOr<meta::DirentRecord> d = meta_->GetDirent(parent.ino, name);
  if (absl::IsNotFound(d.status())) return ErrnoError(ENOENT);
  if (!d.ok()) return d.status();
  absl::StatusOr<meta::InodeRecord> child = meta_->GetInode(d->ino());
  // A concurrent unlink may have removed it between the two reads.
  if (absl::IsNotFound(child.status())) return ErrnoError(ENOENT);
  if (!child.ok()) return child.status();
  return Entry{d->ino(), *child};
}

absl::StatusOr<Entry> Filesystem::GetAttr(InodeRef id) {
  absl::StatusOr<meta::InodeRecord> r = Load(id);
  if (!r.ok()) return r.status();
  return Entry{id.ino, *r};
}

absl::StatusOr<Entry> Filesystem::SetAttr(InodeRef id,
                                          const SetAttrArgs& args) {
  const bool truncate = args.valid & SETATTR_SIZE;
  std::shared_ptr<InodeLock> lock = locks_.Get(id.ino);
  absl::Mutex* data_mu = &lock->data;
  if (truncate) {
    data_mu->Lock();
  } else {
    data_mu->ReaderLock();
  }
  absl::Cleanup unlock_data = [&] {
    if (truncate) {
      data_mu->Unlock();
    } else {
      data_mu->ReaderUnlock();
    }
  };
  absl::MutexLock meta_lock(&lock->meta);
  absl::StatusOr<meta::InodeRecord> r = Load(id);
  if (!r.ok()) return r.status();
  const int64_t now = NowNs();
  rocksdb::WriteBatch batch;
  std::vector<uint64_t> freed;
  if (args.valid & SETATTR_MODE) {
    r->set_mode((r->mode() & S_IFMT) | (args.mode & 07777));
  }
  if (args.valid & (SETATTR_UID | SETATTR_GID)) {
    if (args.valid & SETATTR_UID) r->set_uid(args.uid);
    if (args.valid & SETATTR_GID) r->set_gid(args.gid);
    // Like Linux: a change of owner drops set-id bits of non-directories.
    if (!IsDir(*r) && !(args.valid & SETATTR_MODE)) {
      uint32_t mode = r->mode() & ~S_ISUID;
      if (mode & S_IXGRP) mode &= ~S_ISGID;
      r->set_mode(mode);
    }
  }
  if (truncate) {
    if (IsDir(*r)) return ErrnoError(EISDIR);
    if (!S_ISREG(r->mode())) return ErrnoError(EINVAL);
    if (args.size > kMaxFileSize) return ErrnoError(EFBIG);
    const uint64_t bs = blocks_->block_size();
    if (args.size < r->size()) {
      // Blocks wholly past the new end go; the tail of the last kept block
      // is zeroed so that growing the file later reads zeros there.
      const uint64_t first_gone = (args.size + bs - 1) / bs;
      absl::Status scan = meta_->Scan(
          MetaStore::BlockPrefix(id.ino),
          MetaStore::BlockKey(id.ino, first_gone),
          [&](absl::string_view key, absl::string_view value) {
            batch.Delete(MetaStore::BlockKey(id.ino, MetaStore::DecodeU64(key)))
                .PermitUncheckedError();
            freed.push_back(MetaStore::DecodeU64(value));
            return true;
          });
      if (!scan.ok()) return scan;
      if (args.size % bs != 0) {
        absl::StatusOr<uint64_t> last = meta_->GetBlock(id.ino, args.size / bs);
        if (!last.ok()) return last.status();
        if (*last != 0) {
          const uint32_t from = args.size % bs;
          std::string zeros(bs - from, '\0');
          // Durable before the new size, or after a power cut a later
          // extension could bring back the cut-off bytes.
          if (absl::Status s = blocks_->Write(*last, from, zeros); !s.ok()) {
            return s;
          }
          if (absl::Status s = blocks_->Sync(); !s.ok()) return s;
        }
      }
      r->set_blocks_used(r->blocks_used() - freed.size());
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
  MetaStore::PutInode(&batch, id.ino, *r);
  if (absl::Status s = Commit(&batch); !s.ok()) return s;
  allocator_->Free(freed);
  return Entry{id.ino, *r};
}

absl::StatusOr<Entry> Filesystem::CreateNode(
    InodeRef parent, absl::string_view name, meta::InodeRecord node,
    bool exclusive, bool open, const CallRef& call, const OpenHandle& handle) {
  if (absl::Status s = ValidateName(name); !s.ok()) return s;
  std::shared_ptr<InodeLock> lock = locks_.Get(parent.ino);
  absl::MutexLock meta_lock(&lock->meta);
  absl::StatusOr<meta::InodeRecord> dir = LoadDir(parent);
  if (!dir.ok()) return dir.status();
  absl::StatusOr<meta::DirentRecord> existing =
      meta_->GetDirent(parent.ino, name);
  if (existing.ok()) {
    if (exclusive || !S_ISREG(node.mode())) return ErrnoError(EEXIST);
    absl::StatusOr<meta::InodeRecord> r = meta_->GetInode(existing->ino());
    if (!r.ok()) return r.status();
    if (IsDir(*r)) return ErrnoError(EISDIR);
    // Create may only answer with a regular file (the kernel checks).
    if (!S_ISREG(r->mode())) return ErrnoError(EEXIST);
    if (open) CountOpen(existing->ino(), handle);
    return Entry{existing->ino(), *r};
  }
  if (!absl::IsNotFound(existing.status())) return existing.status();
  if (inode_count_.load() >= superblock_.max_inodes()) {
    return ErrnoError(ENOSPC, "no free inodes");
  }

  const int64_t now = NowNs();
  const uint64_t ino = next_ino_.fetch_add(1);
  node.set_generation(superblock_.epoch());
  node.set_atime_ns(now);
  node.set_mtime_ns(now);
  node.set_ctime_ns(now);
  // BSD group semantics for set-group-ID directories, as Linux does.
  if (dir->mode() & S_ISGID) {
    node.set_gid(dir->gid());
    if (IsDir(node)) node.set_mode(node.mode() | S_ISGID);
  }
  meta::DirentRecord d;
  d.set_ino(ino);
  d.set_cookie(dir->next_cookie());
  d.set_type(node.mode() & S_IFMT);
  dir->set_next_cookie(dir->next_cookie() + 1);
  dir->set_entries(dir->entries() + 1);
  if (IsDir(node)) dir->set_nlink(dir->nlink() + 1);
  dir->set_mtime_ns(now);
  dir->set_ctime_ns(now);

  rocksdb::WriteBatch batch;
  MetaStore::PutInode(&batch, ino, node);
  MetaStore::PutInode(&batch, parent.ino, *dir);
  MetaStore::PutDirent(&batch, parent.ino, name, d);
  CallLog::Record(&batch, call, ino, node);
  if (absl::Status s = Commit(&batch); !s.ok()) return s;
  inode_count_.fetch_add(1);
  if (open) CountOpen(ino, handle);
  return Entry{ino, node};
}

absl::StatusOr<Entry> Filesystem::MkNod(InodeRef parent, absl::string_view name,
                                        uint32_t mode, uint64_t rdev,
                                        Owner owner, bool exclusive, bool open,
                                        const CallRef& call,
                                        const OpenHandle& handle) {
  uint32_t type = mode & S_IFMT;
  if (type == 0) type = S_IFREG;
  if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK &&
      type != S_IFCHR && type != S_IFBLK) {
    return ErrnoError(EINVAL, "mknod of a directory or symlink");
  }
  meta::InodeRecord node;
  node.set_mode(type | (mode & 07777));
  node.set_nlink(1);
  node.set_uid(owner.uid);
  node.set_gid(owner.gid);
  if (type == S_IFCHR || type == S_IFBLK) node.set_rdev(rdev);
  open = open && type == S_IFREG;
  absl::StatusOr<Entry> e = RunEntryOnce(call, [&] {
    return CreateNode(parent, name, node, exclusive, open, call, handle);
  });
  // A repeat answered from the record still registers its handle, in case
  // the server restarted since the first attempt (a no-op otherwise).
  if (e.ok() && open && handle.tracked()) CountOpen(e->ino, handle);
  return e;
}

absl::StatusOr<Entry> Filesystem::MkDir(InodeRef parent, absl::string_view name,
                                        uint32_t mode, Owner owner,
                                        const CallRef& call) {
  meta::InodeRecord node;
  node.set_mode(S_IFDIR | (mode & 07777));
  node.set_nlink(2);
  node.set_uid(owner.uid);
  node.set_gid(owner.gid);
  node.set_parent(parent.ino);
  node.set_next_cookie(3);
  return RunEntryOnce(call, [&] {
    return CreateNode(parent, name, node, /*exclusive=*/true, /*open=*/false,
                      call, OpenHandle());
  });
}

absl::StatusOr<Entry> Filesystem::Symlink(InodeRef parent,
                                          absl::string_view name,
                                          absl::string_view target, Owner owner,
                                          const CallRef& call) {
  if (target.empty()) return ErrnoError(ENOENT, "empty symlink target");
  if (target.size() > kMaxSymlinkLength) return ErrnoError(ENAMETOOLONG);
  if (target.find('\0') != absl::string_view::npos) {
    return ErrnoError(EINVAL, "symlink target contains NUL");
  }
  meta::InodeRecord node;
  node.set_mode(S_IFLNK | 0777);
  node.set_nlink(1);
  node.set_uid(owner.uid);
  node.set_gid(owner.gid);
  node.set_size(target.size());
  node.set_target(std::string(target));
  return RunEntryOnce(call, [&] {
    return CreateNode(parent, name, node, /*exclusive=*/true, /*open=*/false,
                      call, OpenHandle());
  });
}

absl::StatusOr<Entry> Filesystem::Link(InodeRef id, InodeRef new_parent,
                                       absl::string_view new_name,
                                       const CallRef& call) {
  return RunEntryOnce(
      call, [&] { return ApplyLink(id, new_parent, new_name, call); });
}

absl::StatusOr<Entry> Filesystem::ApplyLink(InodeRef id, InodeRef new_parent,
                                            absl::string_view new_name,
                                            const CallRef& call) {
  if (absl::Status s = ValidateName(new_name); !s.ok()) return s;
  MetaLocks held;
  held.Lock(locks_.Get(new_parent.ino));
  held.Lock(locks_.Get(id.ino));
  absl::StatusOr<meta::InodeRecord> dir = LoadDir(new_parent);
  if (!dir.ok()) return dir.status();
  absl::StatusOr<meta::InodeRecord> node = Load(id);
  if (!node.ok()) return node.status();
  if (IsDir(*node)) return ErrnoError(EPERM, "hard link to a directory");
  if (node->nlink() == 0) return ErrnoError(ENOENT, "file was removed");
  if (node->nlink() >= 65000) return ErrnoError(EMLINK);
  absl::StatusOr<meta::DirentRecord> existing =
      meta_->GetDirent(new_parent.ino, new_name);
  if (existing.ok()) return ErrnoError(EEXIST);
  if (!absl::IsNotFound(existing.status())) return existing.status();

  const int64_t now = NowNs();
  meta::DirentRecord d;
  d.set_ino(id.ino);
  d.set_cookie(dir->next_cookie());
  d.set_type(node->mode() & S_IFMT);
  dir->set_next_cookie(dir->next_cookie() + 1);
  dir->set_entries(dir->entries() + 1);
  dir->set_mtime_ns(now);
  dir->set_ctime_ns(now);
  node->set_nlink(node->nlink() + 1);
  node->set_ctime_ns(now);
  rocksdb::WriteBatch batch;
  MetaStore::PutInode(&batch, id.ino, *node);
  MetaStore::PutInode(&batch, new_parent.ino, *dir);
  MetaStore::PutDirent(&batch, new_parent.ino, new_name, d);
  CallLog::Record(&batch, call, id.ino, *node);
  if (absl::Status s = Commit(&batch); !s.ok()) return s;
  return Entry{id.ino, *node};
}

bool Filesystem::DropLink(rocksdb::WriteBatch* batch, uint64_t dir_ino,
                          meta::InodeRecord* dir, absl::string_view name,
                          const meta::DirentRecord& d, meta::InodeRecord* child,
                          int64_t now) {
  MetaStore::DeleteDirent(batch, dir_ino, name, d.cookie());
  dir->set_entries(dir->entries() - 1);
  dir->set_mtime_ns(now);
  dir->set_ctime_ns(now);
  child->set_ctime_ns(now);
  if (IsDir(*child)) {
    dir->set_nlink(dir->nlink() - 1);
    child->set_nlink(0);
  } else {
    child->set_nlink(child->nlink() - 1);
  }
  if (child->nlink() == 0) {
    batch->Put(MetaStore::OrphanKey(d.ino()), "").PermitUncheckedError();
  }
  MetaStore::PutInode(batch, d.ino(), *child);
  return child->nlink() == 0;
}

absl::Status Filesystem::Unlink(InodeRef parent, absl::string_view name,
                                const CallRef& call) {
  return RunOnce(call, [&] {
    return RemoveEntry(parent, name, /*directory=*/false, call);
  });
}

absl::Status Filesystem::RmDir(InodeRef parent, absl::string_view name,
                               const CallRef& call) {
  if (name == ".") return ErrnoError(EINVAL);
  if (name == "..") return ErrnoError(ENOTEMPTY);
  return RunOnce(call, [&] {
    return RemoveEntry(parent, name, /*directory=*/true, call);
  });
}

absl::Status Filesystem::RemoveEntry(InodeRef parent, absl::string_view name,
                                     bool directory, const CallRef& call) {
  if (absl::Status s = ValidateName(name); !s.ok()) return s;
  uint64_t gone = 0;
  {
    MetaLocks held;
    held.Lock(locks_.Get(parent.ino));
    absl::StatusOr<meta::InodeRecord> dir = LoadDir(parent);
    if (!dir.ok()) return dir.status();
    absl::StatusOr<meta::DirentRecord> d = meta_->GetDirent(parent.ino, name);
    if (absl::IsNotFound(d.status())) return ErrnoError(ENOENT);
    if (!d.ok()) return d.status();
    if ((d->type() == S_IFDIR) != directory) {
      return ErrnoError(directory ? ENOTDIR : EISDIR);
    }
    held.Lock(locks_.Get(d->ino()));
    absl::StatusOr<meta::InodeRecord> child = meta_->GetInode(d->ino());
    if (!child.ok()) return child.status();
    if (directory && child->entries() != 0) return ErrnoError(ENOTEMPTY);
    rocksdb::WriteBatch batch;
    if (DropLink(&batch, parent.ino, &*dir, name, *d, &*child, NowNs())) {
      gone = d->ino();
    }
    MetaStore::PutInode(&batch, parent.ino, *dir);
    CallLog::Record(&batch, call, d->ino(), *child);
    if (absl::Status s = Commit(&batch); !s.ok()) return s;
  }
  return gone ? ReclaimIfUnused(gone) : absl::OkStatus();
}

absl::StatusOr<bool> Filesystem::IsAncestor(uint64_t ancestor,
                                            uint64_t ino) const {
  // Directory depth is bounded by the inode count; the walk ends at root.
  for (uint64_t cur = ino, steps = 0;; ++steps) {
    if (cur == ancestor) return true;
    if (cur == kRootIno || steps > inode_count_.load() + 1) return false;
    absl::StatusOr<meta::InodeRecord> r = meta_->GetInode(cur);
    if (!r.ok()) return r.status();
    cur = r->parent();
  }
}

absl::Status Filesystem::Rename(InodeRef parent, absl::string_view name,
                                InodeRef new_parent, absl::string_view new_name,
                                uint32_t flags, const CallRef& call) {
  return RunOnce(call, [&] {
    return ApplyRename(parent, name, new_parent, new_name, flags, call);
  });
}

absl::Status Filesystem::ApplyRename(InodeRef parent, absl::string_view name,
                                     InodeRef new_parent,
                                     absl::string_view new_name, uint32_t flags,
                                     const CallRef& call) {
  if ((flags & ~(kRenameNoReplace | kRenameExchange)) != 0 ||
      flags == (kRenameNoReplace | kRenameExchange)) {
    return ErrnoError(EINVAL, "bad rename flags");
  }
  if (absl::Status s = ValidateName(name); !s.ok()) return s;
  if (absl::Status s = ValidateName(new_name); !s.ok()) return s;
  const bool same_dir = parent.ino == new_parent.ino;
  uint64_t gone = 0;
  {
    absl::Mutex* rename_mu = same_dir ? nullptr : &rename_mu_;
    if (rename_mu) rename_mu->Lock();
    absl::Cleanup unlock_rename = [rename_mu] {
      if (rename_mu) rename_mu->Unlock();
    };
    MetaLocks held;
    if (same_dir) {
      held.Lock(locks_.Get(parent.ino));
    } else {
      absl::StatusOr<bool> new_under_old =
          IsAncestor(parent.ino, new_parent.ino);
      if (!new_under_old.ok()) return new_under_old.status();
      absl::StatusOr<bool> old_under_new =
          IsAncestor(new_parent.ino, parent.ino);
      if (!old_under_new.ok()) return old_under_new.status();
      bool old_first =
          *new_under_old || (!*old_under_new && parent.ino < new_parent.ino);
      held.Lock(locks_.Get(old_first ? parent.ino : new_parent.ino));
      held.Lock(locks_.Get(old_first ? new_parent.ino : parent.ino));
    }
    absl::StatusOr<meta::InodeRecord> src_dir = LoadDir(parent);
    if (!src_dir.ok()) return src_dir.status();
    absl::StatusOr<meta::InodeRecord> dst_dir_loaded = LoadDir(new_parent);
    if (!dst_dir_loaded.ok()) return dst_dir_loaded.status();
    // With one directory, both names live in one record.
    meta::InodeRecord* dst_dir = same_dir ? &*src_dir : &*dst_dir_loaded;

    absl::StatusOr<meta::DirentRecord> src = meta_->GetDirent(parent.ino, name);
    if (absl::IsNotFound(src.status())) return ErrnoError(ENOENT);
    if (!src.ok()) return src.status();
    absl::StatusOr<meta::DirentRecord> dst =
        meta_->GetDirent(new_parent.ino, new_name);
    const bool dst_exists = dst.ok();
    if (!dst_exists && !absl::IsNotFound(dst.status())) return dst.status();
    if ((flags & kRenameNoReplace) && dst_exists) return ErrnoError(EEXIST);
    if ((flags & kRenameExchange) && !dst_exists) return ErrnoError(ENOENT);
    if (dst_exists && dst->ino() == src->ino()) {
      return absl::OkStatus();  // two names of one file: POSIX says no-op
    }
    const bool src_is_dir = src->type() == S_IFDIR;
    const bool dst_is_dir = dst_exists && dst->type() == S_IFDIR;
    if (!same_dir) {
      // A directory may not move below itself.
      if (src_is_dir) {
        absl::StatusOr<bool> loop = IsAncestor(src->ino(), new_parent.ino);
        if (!loop.ok()) return loop.status();
        if (*loop) return ErrnoError(EINVAL, "directory moved into itself");
      }
      if ((flags & kRenameExchange) && dst_is_dir) {
        absl::StatusOr<bool> loop = IsAncestor(dst->ino(), parent.ino);
        if (!loop.ok()) return loop.status();
        if (*loop) return ErrnoError(EINVAL, "directory moved into itself");
      }
    }
    if (!(flags & kRenameExchange) && dst_exists) {
      if (src_is_dir && !dst_is_dir) return ErrnoError(ENOTDIR);
      if (!src_is_dir && dst_is_dir) return ErrnoError(EISDIR);
    }

    std::shared_ptr<InodeLock> src_lock = locks_.Get(src->ino());
    std::shared_ptr<InodeLock> dst_lock =
        dst_exists ? locks_.Get(dst->ino()) : nullptr;
    if (dst_lock && dst->ino() < src->ino()) {
      held.Lock(dst_lock);
      held.Lock(src_lock);
    } else {
      held.Lock(src_lock);
      if (dst_lock) held.Lock(dst_lock);
    }
    absl::StatusOr<meta::InodeRecord> moved = meta_->GetInode(src->ino());
    if (!moved.ok()) return moved.status();
    absl::StatusOr<meta::InodeRecord> target =
        dst_exists ? meta_->GetInode(dst->ino())
                   : absl::StatusOr<meta::InodeRecord>(meta::InodeRecord());
    if (!target.ok()) return target.status();
    if (!(flags & kRenameExchange) && dst_is_dir && target->entries() != 0) {
      return ErrnoError(ENOTEMPTY);
    }

    const int64_t now = NowNs();
    rocksdb::WriteBatch batch;
    if (flags & kRenameExchange) {
      // Each name now points at the other inode; cookies stay with names.
      meta::DirentRecord a = *src;
      meta::DirentRecord b = *dst;
      a.set_ino(dst->ino());
      a.set_type(dst->type());
      b.set_ino(src->ino());
      b.set_type(src->type());
      MetaStore::PutDirent(&batch, parent.ino, name, a);
      MetaStore::PutDirent(&batch, new_parent.ino, new_name, b);
      if (!same_dir && src_is_dir != dst_is_dir) {
        const int delta = src_is_dir ? 1 : -1;
        src_dir->set_nlink(src_dir->nlink() - delta);
        dst_dir->set_nlink(dst_dir->nlink() + delta);
      }
      if (src_is_dir) moved->set_parent(new_parent.ino);
      if (dst_is_dir) target->set_parent(parent.ino);
      moved->set_ctime_ns(now);
      target->set_ctime_ns(now);
      MetaStore::PutInode(&batch, dst->ino(), *target);
    } else {
      if (dst_exists) {
        if (DropLink(&batch, new_parent.ino, dst_dir, new_name, *dst, &*target,
                     now)) {
          gone = dst->ino();
        }
      }
      MetaStore::DeleteDirent(&batch, parent.ino, name, src->cookie());
      src_dir->set_entries(src_dir->entries() - 1);
      meta::DirentRecord d = *src;
      d.set_cookie(dst_dir->next_cookie());
      dst_dir->set_next_cookie(dst_dir->next_cookie() + 1);
      dst_dir->set_entries(dst_dir->entries() + 1);
      MetaStore::PutDirent(&batch, new_parent.ino, new_name, d);
      if (src_is_dir && !same_dir) {
        src_dir->set_nlink(src_dir->nlink() - 1);
        dst_dir->set_nlink(dst_dir->nlink() + 1);
        moved->set_parent(new_parent.ino);
      }
      moved->set_ctime_ns(now);
    }
    src_dir->set_mtime_ns(now);
    src_dir->set_ctime_ns(now);
    dst_dir->set_mtime_ns(now);
    dst_dir->set_ctime_ns(now);
    MetaStore::PutInode(&batch, src->ino(), *moved);
    MetaStore::PutInode(&batch, parent.ino, *src_dir);
    if (!same_dir) MetaStore::PutInode(&batch, new_parent.ino, *dst_dir);
    CallLog::Record(&batch, call, src->ino(), *moved);
    if (absl::Status s = Commit(&batch); !s.ok()) return s;
  }
  return gone ? ReclaimIfUnused(gone) : absl::OkStatus();
}

absl::StatusOr<std::string> Filesystem::ReadLink(InodeRef id) {
  absl::StatusOr<meta::InodeRecord> r = Load(id);
  if (!r.ok()) return r.status();
  if (!S_ISLNK(r->mode())) return ErrnoError(EINVAL, "not a symlink");
  return r->target();
}

absl::StatusOr<DirListing> Filesystem::ReadDir(InodeRef id, uint64_t cookie,
                                               uint32_t max_entries,
                                               bool with_attrs) {
  absl::StatusOr<meta::InodeRecord> dir = Load(id);
  if (!dir.ok()) return dir.status();
  if (!IsDir(*dir)) return ErrnoError(ENOTDIR);
  max_entries = std::clamp<uint32_t>(max_entries, 1, kMaxDirEntriesPerCall);
  DirListing listing;
  listing.parent = dir->parent();
  listing.eof = true;
  // Nothing follows the largest cookie; cookie + 1 below would wrap to 0.
  if (cookie == std::numeric_limits<uint64_t>::max()) return listing;
  const std::string prefix = MetaStore::CookiePrefix(id.ino);
  absl::Status corrupt;
  absl::Status scan =
      meta_->Scan(prefix, MetaStore::CookieKey(id.ino, cookie + 1),
                  [&](absl::string_view, absl::string_view value) {
                    if (listing.items.size() >= max_entries) {
                      listing.eof = false;
                      return false;
                    }
                    meta::DirentRecord d;
                    if (!d.ParseFromArray(value.data(), value.size())) {
                      corrupt = ErrnoError(EIO, "corrupt directory entry");
                      return false;
                    }
                    DirItem item;
                    item.name = d.name();
                    item.cookie = d.cookie();
                    item.ino = d.ino();
                    item.type = d.type();
                    listing.items.push_back(std::move(item));
                    return true;
                  });
  if (!scan.ok()) return scan;
  if (!corrupt.ok()) return corrupt;
  if (with_attrs) {
    // An entry removed since the scan is dropped, as if read a moment later.
    std::vector<DirItem> kept;
    kept.reserve(listing.items.size());
    for (DirItem& item : listing.items) {
      absl::StatusOr<meta::InodeRecord> r = meta_->GetInode(item.ino);
      if (absl::IsNotFound(r.status())) continue;
      if (!r.ok()) return r.status();
      item.inode = std::move(*r);
      kept.push_back(std::move(item));
    }
    listing.items = std::move(kept);
  }
  return listing;
}

FsStats Filesystem::StatFs() {
  FsStats st;
  st.block_size = blocks_->block_size();
  st.total_blocks = allocator_->data_blocks();
  st.free_blocks = allocator_->reclaimable_blocks();
  st.total_inodes = superblock_.max_inodes();
  uint64_t used = inode_count_.load();
  st.free_inodes = used < st.total_inodes ? st.total_inodes - used : 0;
  return st;
}

absl::Status Filesystem::Fsync(InodeRef id) {
  absl::StatusOr<meta::InodeRecord> r = Load(id);
  if (!r.ok()) return r.status();
  return committer_->Sync();
}

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
  if (IsDir(*r) && (flags & O_ACCMODE) != O_RDONLY) return ErrnoError(EISDIR);
  // A new open names the file by a path, so an unlinked file can only be
  // reached through a client's stale name cache (say, after another mount
  // replaced it by rename). ESTALE makes the kernel look the name up again,
  // which gives close-to-open consistency across such replacements.
  if (r->nlink() == 0 && !handle.reclaim && !repeat) {
    return ErrnoError(ESTALE, "opened by a name it no longer has");
  }
  CountOpen(id.ino, handle);
  return Entry{id.ino, *r};
}

void Filesystem::CountOpen(uint64_t ino, const OpenHandle& handle) {
  if (handle.tracked() &&
      !sessions_.AddHandle(handle.session, handle.handle, ino, absl::Now())) {
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

absl::StatusOr<KeepAliveResult> Filesystem::KeepAlive(uint64_t session,
                                                      uint64_t answered_below) {
  if (session == 0) return ErrnoError(EINVAL, "session 0");
  KeepAliveResult result;
  result.known = sessions_.Renew(session, absl::Now());
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
  if (absl::Now() < grace_end_) return absl::OkStatus();
  std::shared_ptr<InodeLock> lock = locks_.Get(ino);
  absl::MutexLock data_lock(&lock->data);
  absl::MutexLock meta_lock(&lock->meta);
  if (IsOpen(ino)) return absl::OkStatus();
  absl::StatusOr<meta::InodeRecord> r = meta_->GetInode(ino);
  if (absl::IsNotFound(r.status())) return absl::OkStatus();
  if (!r.ok()) return r.status();
  if (r->nlink() != 0) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  std::vector<uint64_t> freed;
  const std::string block_prefix = MetaStore::BlockPrefix(ino);
  absl::Status scan = meta_->Scan(
      block_prefix, block_prefix,
      [&](absl::string_view key, absl::string_view value) {
        batch.Delete(MetaStore::BlockKey(ino, MetaStore::DecodeU64(key)))
            .PermitUncheckedError();
        freed.push_back(MetaStore::DecodeU64(value));
        return true;
      });
  if (!scan.ok()) return scan;
  batch.Delete(MetaStore::InodeKey(ino)).PermitUncheckedError();
  batch.Delete(MetaStore::OrphanKey(ino)).PermitUncheckedError();
  if (absl::Status s = Commit(&batch); !s.ok()) return s;
  allocator_->Free(freed);
  inode_count_.fetch_sub(1);
  return absl::OkStatus();
}

absl::Status Filesystem::Read(InodeRef id, uint64_t offset, uint32_t length,
                              std::string* out) {
  if (length > kMaxIoSize) return ErrnoError(EINVAL, "read larger than 4 MiB");
  std::shared_ptr<InodeLock> lock = locks_.Get(id.ino);
  meta::InodeRecord r;
  {
    absl::ReaderMutexLock data_lock(&lock->data);
    absl::StatusOr<meta::InodeRecord> loaded = Load(id);
    if (!loaded.ok()) return loaded.status();
    r = std::move(*loaded);
    if (IsDir(r)) return ErrnoError(EISDIR);
    if (!S_ISREG(r.mode())) return ErrnoError(EINVAL);
    if (offset >= r.size()) return absl::OkStatus();
    const uint64_t end = std::min<uint64_t>(r.size(), offset + length);
    const uint64_t bs = blocks_->block_size();
    const size_t base = out->size();
    out->resize(base + (end - offset));
    char* dst = out->data() + base;
    for (uint64_t pos = offset; pos < end;) {
      const uint64_t index = pos / bs;
      const uint32_t within = pos % bs;
      const uint32_t n = std::min<uint64_t>(bs - within, end - pos);
      absl::StatusOr<uint64_t> block = meta_->GetBlock(id.ino, index);
      if (!block.ok()) return block.status();
      if (*block == 0) {
        std::memset(dst, 0, n);
      } else if (absl::Status s = blocks_->Read(*block, within, dst, n);
                 !s.ok()) {
        return s;
      }
      dst += n;
      pos += n;
    }
  }
  // relatime: update atime only when it is behind mtime/ctime or stale.
  const int64_t now = NowNs();
  if (r.atime_ns() <= r.mtime_ns() || r.atime_ns() <= r.ctime_ns() ||
      now - r.atime_ns() > kRelatimeNs) {
    absl::MutexLock meta_lock(&lock->meta);
    absl::StatusOr<meta::InodeRecord> fresh = Load(id);
    if (fresh.ok()) {
      fresh->set_atime_ns(now);
      rocksdb::WriteBatch batch;
      MetaStore::PutInode(&batch, id.ino, *fresh);
      if (absl::Status s = Commit(&batch); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Filesystem::Write(InodeRef id, uint64_t offset,
                                           absl::string_view data) {
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
    if (IsDir(*r)) return ErrnoError(EISDIR);
    if (!S_ISREG(r->mode())) return ErrnoError(EINVAL);
    if (data.empty()) return r->size();
  }
  const uint64_t bs = blocks_->block_size();
  const uint64_t first = offset / bs;
  const uint64_t last = (offset + data.size() - 1) / bs;

  // Concurrent writers of one file share the data lock; the meta lock
  // decides who maps a hole, so a block is allocated once. A new block is
  // written whole (zeros around the data) and mapped under it; overwrites
  // of mapped blocks then go out without it, in parallel.
  std::vector<uint64_t> physical(last - first + 1);
  std::vector<bool> is_fresh(last - first + 1, false);
  std::vector<uint64_t> fresh;
  auto piece = [&](uint64_t i) {
    const uint64_t block_start = i * bs;
    const uint64_t from = std::max(offset, block_start);
    const uint64_t to = std::min(offset + data.size(), block_start + bs);
    return std::make_pair(from - block_start,
                          data.substr(from - offset, to - from));
  };
  auto finish = [&](rocksdb::WriteBatch* batch) -> absl::StatusOr<uint64_t> {
    absl::StatusOr<meta::InodeRecord> r = Load(id);
    if (!r.ok()) return r.status();
    const int64_t now = NowNs();
    r->set_size(std::max<uint64_t>(r->size(), offset + data.size()));
    r->set_blocks_used(r->blocks_used() + fresh.size());
    r->set_mtime_ns(now);
    r->set_ctime_ns(now);
    MetaStore::PutInode(batch, id.ino, *r);
    if (absl::Status s = Commit(batch); !s.ok()) return s;
    return r->size();
  };
  {
    absl::MutexLock meta_lock(&lock->meta);
    std::vector<uint64_t> holes;
    for (uint64_t i = first; i <= last; ++i) {
      absl::StatusOr<uint64_t> b = meta_->GetBlock(id.ino, i);
      if (!b.ok()) return b.status();
      physical[i - first] = *b;
      if (*b == 0) holes.push_back(i);
    }
    if (!holes.empty()) {
      absl::StatusOr<std::vector<uint64_t>> got =
          allocator_->Allocate(holes.size());
      if (absl::IsResourceExhausted(got.status()) &&
          allocator_->has_quarantined()) {
        // Freed blocks become usable once their release is durable.
        if (absl::Status s = committer_->Sync(); !s.ok()) return s;
        got = allocator_->Allocate(holes.size());
      }
      if (!got.ok()) return got.status();
      fresh = std::move(*got);
      // Blocks below the high-water mark may still hold a deleted file's
      // bytes: their new data must be durable before the map that exposes
      // them, or a power cut could leave the map without the data.
      bool reused = false;
      uint64_t top = 0;
      uint64_t used_below = maybe_used_below_.load();
      for (uint64_t b : fresh) {
        reused |= b < used_below;
        top = std::max(top, b);
      }
      while (top >= used_below &&
             !maybe_used_below_.compare_exchange_weak(used_below, top + 1)) {
      }
      if (absl::Status s = CoverByHighWater(top); !s.ok()) {
        allocator_->Free(fresh);
        return s;
      }
      rocksdb::WriteBatch batch;
      std::string buffer;
      for (size_t k = 0; k < holes.size(); ++k) {
        const uint64_t i = holes[k];
        auto [within, bytes] = piece(i);
        absl::Status s;
        if (bytes.size() == bs) {
          s = blocks_->Write(fresh[k], 0, bytes);
        } else {
          buffer.assign(bs, '\0');
          std::memcpy(buffer.data() + within, bytes.data(), bytes.size());
          s = blocks_->Write(fresh[k], 0, buffer);
        }
        if (!s.ok()) {
          allocator_->Free(fresh);
          return s;
        }
        physical[i - first] = fresh[k];
        is_fresh[i - first] = true;
        batch
            .Put(MetaStore::BlockKey(id.ino, i),
                 MetaStore::EncodeBlock(fresh[k]))
            .PermitUncheckedError();
      }
      if (reused) {
        if (absl::Status s = blocks_->Sync(); !s.ok()) {
          allocator_->Free(fresh);
          return s;
        }
      }
      if (holes.size() == physical.size()) {
        absl::StatusOr<uint64_t> size = finish(&batch);
        if (!size.ok()) allocator_->Free(fresh);
        return size;
      }
      // Map the new blocks now so that a concurrent writer sees them.
      absl::StatusOr<meta::InodeRecord> r = Load(id);
      if (!r.ok()) return r.status();
      r->set_blocks_used(r->blocks_used() + fresh.size());
      MetaStore::PutInode(&batch, id.ino, *r);
      if (absl::Status s = Commit(&batch); !s.ok()) {
        allocator_->Free(fresh);
        return s;
      }
      fresh.clear();
    }
  }
  for (uint64_t i = first; i <= last; ++i) {
    if (is_fresh[i - first]) continue;
    auto [within, bytes] = piece(i);
    if (absl::Status s = blocks_->Write(physical[i - first], within, bytes);
        !s.ok()) {
      return s;
    }
  }
  absl::MutexLock meta_lock(&lock->meta);
  rocksdb::WriteBatch batch;
  return finish(&batch);
}

}  // namespace rbfs
