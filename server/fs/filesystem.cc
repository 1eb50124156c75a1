// Filesystem's namespace: lookups, creating, linking, removing and renaming
// entries, directory listings, and the call log's run-once wrappers.
#include "server/fs/filesystem.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <optional>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/errno_status.h"

namespace rbfs {
namespace {

constexpr uint32_t kRenameNoReplace = 1;
constexpr uint32_t kRenameExchange = 2;

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

// Holds the meta locks of the inodes an operation changes, taken in the
// order of the calls (lock_table.h says which), each once, released in
// reverse. The set is only known at run time (a name may resolve to an inode
// already held), which the thread-safety analysis cannot follow, hence the
// two unchecked members; nothing annotated is guarded by these locks (they
// serialise read-modify-writes of records in the store).
class MetaLocks {
 public:
  MetaLocks() = default;
  MetaLocks(const MetaLocks&) = delete;
  MetaLocks& operator=(const MetaLocks&) = delete;
  ~MetaLocks() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (auto it = held_.rbegin(); it != held_.rend(); ++it) {
      (*it)->meta.Unlock();
    }
  }
  void Lock(std::shared_ptr<InodeLock> lock) ABSL_NO_THREAD_SAFETY_ANALYSIS {
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

absl::StatusOr<Entry> Filesystem::RunEntryOnce(
    const CallRef& call, const std::function<absl::StatusOr<Entry>()>& op) {
  if (!call.numbered()) return RunEntryOptimistically(op);
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
  absl::StatusOr<Entry> result = RunEntryOptimistically(op);
  calls_.End(call);
  return result;
}

absl::Status Filesystem::RunOnce(const CallRef& call,
                                 const std::function<absl::Status()>& op) {
  if (!call.numbered()) return RunOptimistically(op);
  absl::StatusOr<std::optional<meta::CallRecord>> done = calls_.Begin(call);
  if (!done.ok()) return done.status();
  if (done->has_value()) return absl::OkStatus();
  absl::Status result = RunOptimistically(op);
  calls_.End(call);
  return result;
}

namespace {

// How often an operation is run again when another server changed what it
// read before it could commit; the pause before attempt n is up to n ms.
constexpr int kConflictAttempts = 20;

const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

template <typename Result>
Result Optimistically(MetaStore* meta, const std::function<Result()>& op) {
  for (int attempt = 1;; ++attempt) {
    Result result = [&] {
      MetaReadScope reads(meta);
      return op();
    }();
    absl::Status status = StatusOf(result);
    if (!absl::IsAborted(status)) return result;
    if (attempt == kConflictAttempts) {
      return ErrnoError(EIO, absl::StrCat("gave up after ", attempt,
                                          " conflicts with other servers: ",
                                          status.message()));
    }
    thread_local absl::BitGen jitter;
    absl::SleepFor(
        absl::Microseconds(absl::Uniform(jitter, 0, attempt * 1000)));
  }
}

}  // namespace

absl::Status Filesystem::RunOptimistically(
    const std::function<absl::Status()>& op) {
  return Optimistically<absl::Status>(meta_.get(), op);
}

absl::StatusOr<Entry> Filesystem::RunEntryOptimistically(
    const std::function<absl::StatusOr<Entry>()>& op) {
  return Optimistically<absl::StatusOr<Entry>>(meta_.get(), op);
}

absl::StatusOr<uint64_t> Filesystem::NewInodeNumber() {
  uint64_t floor;
  {
    absl::MutexLock lock(&ino_mu_);
    if (next_ino_ < reserved_end_) return next_ino_++;
    floor = reserved_end_;
  }
  // Not under ino_mu_: with several servers, reserving is a call to etcd.
  absl::StatusOr<uint64_t> first =
      meta_->ReserveInodes(floor, kInodesPerReservation);
  if (!first.ok()) return first.status();
  absl::MutexLock lock(&ino_mu_);
  // Unless another thread installed a range meanwhile (this one is then
  // skipped: numbers are plentiful).
  if (next_ino_ >= reserved_end_) {
    next_ino_ = *first;
    reserved_end_ = *first + kInodesPerReservation;
  }
  return next_ino_++;
}

absl::Status Filesystem::Commit(MetaBatch* batch) {
  absl::Status s = meta_->Commit(batch);
  if (s.ok()) committer_->MarkDirty();
  return s;
}

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

absl::StatusOr<Entry> Filesystem::CreateNode(InodeRef parent,
                                             absl::string_view name,
                                             meta::InodeRecord node,
                                             uint32_t umask, bool exclusive,
                                             bool open, const CallRef& call,
                                             const OpenHandle& handle) {
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
  absl::StatusOr<uint64_t> new_ino = NewInodeNumber();
  if (!new_ino.ok()) return new_ino.status();
  const uint64_t ino = *new_ino;
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

  std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
  if (absl::Status s =
          StageInheritedAcls(batch.get(), parent.ino, *dir, umask, ino, &node);
      !s.ok()) {
    return s;
  }
  batch->PutInode(ino, node);
  batch->PutInode(parent.ino, *dir);
  batch->PutDirent(parent.ino, name, d);
  CallLog::Record(batch.get(), call, ino, node);
  if (absl::Status s = Commit(batch.get()); !s.ok()) return s;
  inode_count_.fetch_add(1);
  if (open) CountOpen(ino, handle);
  return Entry{ino, node};
}

absl::StatusOr<Entry> Filesystem::MkNod(InodeRef parent, absl::string_view name,
                                        uint32_t mode, uint64_t rdev,
                                        Creator creator, bool exclusive,
                                        bool open, const CallRef& call,
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
  node.set_uid(creator.uid);
  node.set_gid(creator.gid);
  if (type == S_IFCHR || type == S_IFBLK) node.set_rdev(rdev);
  open = open && type == S_IFREG;
  absl::StatusOr<Entry> e = RunEntryOnce(call, [&] {
    return CreateNode(parent, name, node, creator.umask, exclusive, open, call,
                      handle);
  });
  // A repeat answered from the record still registers its handle, in case
  // the server restarted since the first attempt (a no-op otherwise).
  if (e.ok() && open && handle.tracked()) CountOpen(e->ino, handle);
  return e;
}

absl::StatusOr<Entry> Filesystem::MkDir(InodeRef parent, absl::string_view name,
                                        uint32_t mode, Creator creator,
                                        const CallRef& call) {
  meta::InodeRecord node;
  node.set_mode(S_IFDIR | (mode & 07777));
  node.set_nlink(2);
  node.set_uid(creator.uid);
  node.set_gid(creator.gid);
  node.set_parent(parent.ino);
  node.set_next_cookie(3);
  return RunEntryOnce(call, [&] {
    return CreateNode(parent, name, node, creator.umask, /*exclusive=*/true,
                      /*open=*/false, call, OpenHandle());
  });
}

absl::StatusOr<Entry> Filesystem::Symlink(InodeRef parent,
                                          absl::string_view name,
                                          absl::string_view target,
                                          Creator creator,
                                          const CallRef& call) {
  if (target.empty()) return ErrnoError(ENOENT, "empty symlink target");
  if (target.size() > kMaxSymlinkLength) return ErrnoError(ENAMETOOLONG);
  if (target.find('\0') != absl::string_view::npos) {
    return ErrnoError(EINVAL, "symlink target contains NUL");
  }
  meta::InodeRecord node;
  node.set_mode(S_IFLNK | 0777);
  node.set_nlink(1);
  node.set_uid(creator.uid);
  node.set_gid(creator.gid);
  node.set_size(target.size());
  node.set_target(std::string(target));
  return RunEntryOnce(call, [&] {
    // Symlinks take neither a umask nor an ACL: their mode means nothing.
    return CreateNode(parent, name, node, /*umask=*/0, /*exclusive=*/true,
                      /*open=*/false, call, OpenHandle());
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
  std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
  batch->PutInode(id.ino, *node);
  batch->PutInode(new_parent.ino, *dir);
  batch->PutDirent(new_parent.ino, new_name, d);
  CallLog::Record(batch.get(), call, id.ino, *node);
  if (absl::Status s = Commit(batch.get()); !s.ok()) return s;
  return Entry{id.ino, *node};
}

bool Filesystem::DropLink(MetaBatch* batch, uint64_t dir_ino,
                          meta::InodeRecord* dir, absl::string_view name,
                          const meta::DirentRecord& d, meta::InodeRecord* child,
                          int64_t now) {
  batch->DeleteDirent(dir_ino, name, d.cookie());
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
    batch->PutOrphan(d.ino(), shared_ ? shared_->member() : "");
  }
  batch->PutInode(d.ino(), *child);
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
    std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
    if (DropLink(batch.get(), parent.ino, &*dir, name, *d, &*child, NowNs())) {
      gone = d->ino();
    }
    batch->PutInode(parent.ino, *dir);
    CallLog::Record(batch.get(), call, d->ino(), *child);
    if (absl::Status s = Commit(batch.get()); !s.ok()) return s;
  }
  return gone ? ReclaimIfUnused(gone) : absl::OkStatus();
}

absl::StatusOr<bool> Filesystem::IsAncestor(uint64_t ancestor,
                                            uint64_t ino) const {
  // Directory depth is bounded by the inode limit (another server's inodes
  // are not in inode_count_); the walk ends at root.
  for (uint64_t cur = ino, steps = 0;; ++steps) {
    if (cur == ancestor) return true;
    if (cur == kRootIno || steps > superblock_.max_inodes()) return false;
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
  absl::StatusOr<uint64_t> gone;
  if (parent.ino == new_parent.ino) {
    gone = RenameEntries(parent, name, new_parent, new_name, flags, call);
  } else {
    absl::MutexLock rename_lock(&rename_mu_);
    gone = RenameEntries(parent, name, new_parent, new_name, flags, call);
  }
  if (!gone.ok()) return gone.status();
  return *gone != 0 ? ReclaimIfUnused(*gone) : absl::OkStatus();
}

absl::StatusOr<uint64_t> Filesystem::RenameEntries(
    InodeRef parent, absl::string_view name, InodeRef new_parent,
    absl::string_view new_name, uint32_t flags, const CallRef& call) {
  const bool same_dir = parent.ino == new_parent.ino;
  uint64_t gone = 0;
  MetaLocks held;
  if (same_dir) {
    held.Lock(locks_.Get(parent.ino));
  } else {
    absl::StatusOr<bool> new_under_old = IsAncestor(parent.ino, new_parent.ino);
    if (!new_under_old.ok()) return new_under_old.status();
    absl::StatusOr<bool> old_under_new = IsAncestor(new_parent.ino, parent.ino);
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
    return uint64_t{0};  // two names of one file: POSIX says no-op
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
  std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
  if (flags & kRenameExchange) {
    // Each name now points at the other inode; cookies stay with names.
    meta::DirentRecord a = *src;
    meta::DirentRecord b = *dst;
    a.set_ino(dst->ino());
    a.set_type(dst->type());
    b.set_ino(src->ino());
    b.set_type(src->type());
    batch->PutDirent(parent.ino, name, a);
    batch->PutDirent(new_parent.ino, new_name, b);
    if (!same_dir && src_is_dir != dst_is_dir) {
      const int delta = src_is_dir ? 1 : -1;
      src_dir->set_nlink(src_dir->nlink() - delta);
      dst_dir->set_nlink(dst_dir->nlink() + delta);
    }
    if (src_is_dir) moved->set_parent(new_parent.ino);
    if (dst_is_dir) target->set_parent(parent.ino);
    moved->set_ctime_ns(now);
    target->set_ctime_ns(now);
    batch->PutInode(dst->ino(), *target);
  } else {
    if (dst_exists) {
      if (DropLink(batch.get(), new_parent.ino, dst_dir, new_name, *dst,
                   &*target, now)) {
        gone = dst->ino();
      }
    }
    batch->DeleteDirent(parent.ino, name, src->cookie());
    src_dir->set_entries(src_dir->entries() - 1);
    meta::DirentRecord d = *src;
    d.set_cookie(dst_dir->next_cookie());
    dst_dir->set_next_cookie(dst_dir->next_cookie() + 1);
    dst_dir->set_entries(dst_dir->entries() + 1);
    batch->PutDirent(new_parent.ino, new_name, d);
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
  batch->PutInode(src->ino(), *moved);
  batch->PutInode(parent.ino, *src_dir);
  if (!same_dir) batch->PutInode(new_parent.ino, *dst_dir);
  CallLog::Record(batch.get(), call, src->ino(), *moved);
  if (absl::Status s = Commit(batch.get()); !s.ok()) return s;
  return gone;
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
  absl::Status scan = meta_->ForEachDirent(
      id.ino, cookie + 1, [&](const meta::DirentRecord& d) {
        if (listing.items.size() >= max_entries) {
          listing.eof = false;
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

}  // namespace rbfs
