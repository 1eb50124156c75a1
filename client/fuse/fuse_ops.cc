#include "client/fuse/fuse_ops.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cstring>
#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/inlined_vector.h"
#include "client/core/io_size.h"
#include "client/fuse/read_ahead.h"
#include "common/errno_status.h"
#include "common/log.h"

namespace rbfs {
namespace {

FuseOps* Self(fuse_req_t req) {
  return static_cast<FuseOps*>(fuse_req_userdata(req));
}

void ReplyStatus(fuse_req_t req, const absl::Status& status) {
  fuse_reply_err(req, StatusToErrno(status));
}

Caller MakeCaller(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  Caller caller;
  caller.set_uid(ctx->uid);
  caller.set_gid(ctx->gid);
  caller.set_umask(ctx->umask);
  return caller;
}

struct stat ToStat(const Attr& attr) {
  struct stat st;
  memset(&st, 0, sizeof(st));
  st.st_ino = attr.id().ino();
  st.st_mode = attr.mode();
  st.st_nlink = attr.nlink();
  st.st_uid = attr.uid();
  st.st_gid = attr.gid();
  st.st_size = attr.size();
  st.st_blocks = attr.blocks();
  st.st_blksize = attr.blksize();
  st.st_rdev = attr.rdev();
  st.st_atim = {attr.atime().sec(), attr.atime().nsec()};
  st.st_mtim = {attr.mtime().sec(), attr.mtime().nsec()};
  st.st_ctim = {attr.ctime().sec(), attr.ctime().nsec()};
  return st;
}

// Records a request's time from its handler's start to the handler's return,
// for the operations whose handler sends the reply before it returns.
class Timed {
 public:
  Timed(fuse_req_t req, FuseMetrics::Op op)
      : self_(Self(req)), op_(op), began_(absl::Now()) {}
  ~Timed() { self_->metrics().Record(op_, absl::Now() - began_); }

  Timed(const Timed&) = delete;
  Timed& operator=(const Timed&) = delete;

 private:
  // Taken at the start: `req` is gone once answered.
  FuseOps* const self_;
  const FuseMetrics::Op op_;
  const absl::Time began_;
};

}  // namespace

FuseOps::FuseOps(const MountOptions& options, MountCore* core,
                 std::string mount_point)
    : options_(options), core_(core), mount_point_(std::move(mount_point)) {}

void FuseOps::Init(fuse_conn_info* conn) {
  conn->max_write = kMaxRequestBytes;
  conn->max_read = kMaxRequestBytes;
  // Let AIO/io_uring submitters keep many direct requests in flight.
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) {
    conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  }
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) {
    conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  }
  // Writes reach the server before they return. With the writeback cache
  // the kernel (Linux 6.x, fuse_get_cache_mask) would no longer take a regular
  // file's size and mtime from the server while it caches the inode, so
  // another mount's truncate or append would stay unseen.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  // Locks are the server's to arbitrate among mounts; without these the
  // kernel would grant them per mount.
  if (conn->capable & FUSE_CAP_POSIX_LOCKS) conn->want |= FUSE_CAP_POSIX_LOCKS;
  if (conn->capable & FUSE_CAP_FLOCK_LOCKS) conn->want |= FUSE_CAP_FLOCK_LOCKS;
  // POSIX ACLs: the kernel enforces and caches them; the server keeps them
  // with the mode and applies a directory's default ACL, or else the umask,
  // at creation (which the kernel must then leave to it: DONT_MASK).
  if (server_keeps_acls_ && (conn->capable & FUSE_CAP_POSIX_ACL) &&
      (conn->capable & FUSE_CAP_DONT_MASK)) {
    conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
  }
  conn->time_gran = 1;
  if (options_.read_ahead_kib > 0) {
    // The kernel takes the smaller of this reply's window and the device's
    // when it reads the reply, so both are raised before it is sent.
    conn->max_readahead = options_.read_ahead_kib * 1024;
    if (absl::Status set = SetReadAhead(mount_point_, options_.read_ahead_kib);
        !set.ok()) {
      LogWarning("readahead stays the kernel's (-o read_ahead): %s",
                 set.ToString());
    }
  }
}

fuse_entry_param FuseOps::MakeEntry(const Attr& attr,
                                    const CacheTimeouts& timeouts) {
  fuse_entry_param entry;
  memset(&entry, 0, sizeof(entry));
  entry.ino = attr.id().ino();
  entry.generation = attr.id().generation();
  entry.attr = ToStat(attr);
  entry.attr_timeout = absl::ToDoubleSeconds(timeouts.attr);
  entry.entry_timeout = absl::ToDoubleSeconds(timeouts.entry);
  return entry;
}

void FuseOps::ReplyEntry(fuse_req_t req, uint64_t parent,
                         absl::string_view name,
                         const absl::StatusOr<Attr>& attr, bool negative) {
  if (!attr.ok()) {
    if (negative && absl::IsNotFound(attr.status()) &&
        options_.negative_timeout > absl::ZeroDuration()) {
      // Node id 0: the kernel caches that the name does not exist.
      fuse_entry_param entry;
      memset(&entry, 0, sizeof(entry));
      entry.entry_timeout = absl::ToDoubleSeconds(
          core_->coherence().ForNegativeEntry(parent, name).entry);
      fuse_reply_entry(req, &entry);
      return;
    }
    ReplyStatus(req, attr.status());
    return;
  }
  fuse_entry_param entry = MakeEntry(
      *attr, core_->coherence().ForEntry(parent, name, attr->id().ino()));
  if (fuse_reply_entry(req, &entry) != 0) {
    // The kernel dropped the request, so it holds no reference.
    core_->Forget(entry.ino, 1);
  }
}

void FuseOps::ReplyAttr(fuse_req_t req, const absl::StatusOr<Attr>& attr) {
  if (!attr.ok()) {
    ReplyStatus(req, attr.status());
    return;
  }
  struct stat st = ToStat(*attr);
  fuse_reply_attr(req, &st,
                  absl::ToDoubleSeconds(core_->coherence().AttrTimeout()));
}

void FuseOps::InvalidateEntry(uint64_t parent, absl::string_view name) {
  if (session_ == nullptr) return;
  metrics_.entry_invalidations().Add();
  // ENOENT (the kernel no longer caches it) is the common answer.
  fuse_lowlevel_notify_inval_entry(session_, parent, name.data(), name.size());
}

void FuseOps::InvalidateInode(uint64_t ino, bool data) {
  if (session_ == nullptr) return;
  (data ? metrics_.data_invalidations() : metrics_.attr_invalidations()).Add();
  // Offset -1 drops the attributes only; 0 with length 0 all the pages too.
  fuse_lowlevel_notify_inval_inode(session_, ino, data ? 0 : -1, 0);
}

void FuseOps::Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyEntry(req, parent, name, core_->Lookup(parent, name),
             /*negative=*/true);
}

void FuseOps::GetAttr(fuse_req_t req, fuse_ino_t ino) {
  ReplyAttr(req, core_->GetAttr(ino));
}

void FuseOps::SetAttr(fuse_req_t req, fuse_ino_t ino, const struct stat* attr,
                      int to_set) {
  // The wire's bits are FUSE's (SetAttrRequest.valid).
  constexpr int kKnown =
      FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
      FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
      FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
  AttrChanges changes;
  changes.valid = to_set & kKnown;
  changes.mode = attr->st_mode;
  changes.uid = attr->st_uid;
  changes.gid = attr->st_gid;
  changes.size = attr->st_size;
  changes.atime = attr->st_atim;
  changes.mtime = attr->st_mtim;
  ReplyAttr(req, core_->SetAttr(ino, changes, MakeCaller(req)));
}

void FuseOps::ReadLink(fuse_req_t req, fuse_ino_t ino) {
  absl::StatusOr<std::string> target = core_->ReadLink(ino);
  if (!target.ok()) {
    ReplyStatus(req, target.status());
    return;
  }
  fuse_reply_readlink(req, target->c_str());
}

void FuseOps::MkNod(fuse_req_t req, fuse_ino_t parent, const char* name,
                    mode_t mode, dev_t rdev) {
  ReplyEntry(req, parent, name,
             core_->MkNod(parent, name, mode, rdev, MakeCaller(req)));
}

void FuseOps::MkDir(fuse_req_t req, fuse_ino_t parent, const char* name,
                    mode_t mode) {
  ReplyEntry(req, parent, name,
             core_->MkDir(parent, name, mode, MakeCaller(req)));
}

void FuseOps::Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyStatus(req, core_->Unlink(parent, name));
}

void FuseOps::RmDir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyStatus(req, core_->RmDir(parent, name));
}

void FuseOps::Symlink(fuse_req_t req, const char* link, fuse_ino_t parent,
                      const char* name) {
  ReplyEntry(req, parent, name,
             core_->Symlink(link, parent, name, MakeCaller(req)));
}

void FuseOps::Rename(fuse_req_t req, fuse_ino_t parent, const char* name,
                     fuse_ino_t new_parent, const char* new_name,
                     unsigned flags) {
  ReplyStatus(req, core_->Rename(parent, name, new_parent, new_name, flags));
}

void FuseOps::Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent,
                   const char* new_name) {
  ReplyEntry(req, new_parent, new_name, core_->Link(ino, new_parent, new_name));
}

void FuseOps::SetOpenFlags(fuse_file_info* fi) const {
  // cache=auto: an O_DIRECT open still bypasses the page cache, through the
  // kernel's asynchronous direct I/O (FUSE_CAP_ASYNC_DIO).
  fi->direct_io = options_.cache_auto ? 0 : 1;
  // While invalidations arrive, cached pages are dropped when another mount
  // changes the file, so they may outlive a close; otherwise dropping them
  // at every open gives close-to-open consistency.
  fi->keep_cache = core_->coherence().KeepPages() ? 1 : 0;
}

void FuseOps::Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  absl::StatusOr<OpenedFile> file =
      core_->Open(ino, fi->flags, MakeCaller(req));
  if (!file.ok()) {
    ReplyStatus(req, file.status());
    return;
  }
  SetOpenFlags(fi);
  // Close-to-open: the server's answer is the truth after every other
  // mount's close; if it is not what the mount knew, the kernel's cache of
  // the file is not kept, even before the invalidation arrives.
  if (file->changed) fi->keep_cache = 0;
  fi->fh = file->handle;
  if (options_.cache_auto && session_ != nullptr && !fi->keep_cache) {
    // The kernel's cached attributes (above all the size that bounds
    // page-cache reads) may predate another client's last close. The
    // notification is handled before it returns, so the open completes
    // with them invalidated.
    fuse_lowlevel_notify_inval_inode(session_, ino, -1, 0);
  }
  if (fuse_reply_open(req, fi) != 0) {
    // The opener was interrupted: no release will ever come for this open.
    core_->CancelOpen(ino, *file);
  }
}

void FuseOps::Create(fuse_req_t req, fuse_ino_t parent, const char* name,
                     mode_t mode, fuse_file_info* fi) {
  absl::StatusOr<CreatedFile> file =
      core_->Create(parent, name, mode, fi->flags, MakeCaller(req));
  if (!file.ok()) {
    ReplyStatus(req, file.status());
    return;
  }
  SetOpenFlags(fi);
  fi->fh = file->handle;
  fuse_entry_param entry = MakeEntry(
      file->attr,
      core_->coherence().ForEntry(parent, name, file->attr.id().ino()));
  if (fuse_reply_create(req, &entry, fi) != 0) core_->CancelCreate(*file);
}

void FuseOps::OpenDir(fuse_req_t req, fuse_file_info* fi) {
  fi->fh = 0;
  // While invalidations arrive the kernel may keep listings across opens:
  // another mount's change to the directory drops them.
  const bool keep = core_->coherence().KeepPages();
  fi->cache_readdir = keep ? 1 : 0;
  fi->keep_cache = keep ? 1 : 0;
  fuse_reply_open(req, fi);
}

void FuseOps::Release(fuse_req_t req, fuse_ino_t ino, uint64_t handle) {
  core_->Release(ino, handle);
  fuse_reply_err(req, 0);
}

void FuseOps::Fsync(fuse_req_t req, fuse_ino_t ino) {
  ReplyStatus(req, core_->Fsync(ino));
}

void FuseOps::Read(fuse_req_t req, fuse_ino_t ino, uint64_t handle, size_t size,
                   off_t offset) {
  // Answered when the last chunk is back, so timed from there.
  const absl::Time began = absl::Now();
  absl::Status started = core_->Read(
      ino, handle, offset, size,
      [this, req, began](IoContext& context, absl::StatusOr<size_t> result) {
        absl::Cleanup timed = [this, began] {
          metrics_.Record(FuseMetrics::kRead, absl::Now() - began);
        };
        if (!result.ok()) {
          ReplyStatus(req, result.status());
        } else if (*result == 0) {
          fuse_reply_buf(req, nullptr, 0);
        } else {
          absl::InlinedVector<iovec, 16> iov = context.Gather(*result);
          fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
        }
      });
  if (!started.ok()) {
    ReplyStatus(req, started);
    metrics_.Record(FuseMetrics::kRead, absl::Now() - began);
  }
}

void FuseOps::Write(fuse_req_t req, fuse_ino_t ino, const char* data,
                    size_t size, off_t offset) {
  // The kernel clears set-id bits itself (a SETATTR) before buffered and
  // O_DIRECT writes, but not before those of a direct_io open; libfuse 3.14
  // drops the FUSE_WRITE_KILL_SUIDGID flag it sends then. Root stands for
  // CAP_FSETID, which the request does not carry.
  const bool kill_suidgid = fuse_req_ctx(req)->uid != 0;
  const absl::Time began = absl::Now();
  absl::Status started = core_->Write(
      ino, offset, data, size,
      [this, req, began](IoContext&, absl::StatusOr<size_t> result) {
        if (result.ok()) {
          fuse_reply_write(req, *result);
        } else {
          ReplyStatus(req, result.status());
        }
        metrics_.Record(FuseMetrics::kWrite, absl::Now() - began);
      },
      kill_suidgid);
  if (!started.ok()) {
    ReplyStatus(req, started);
    metrics_.Record(FuseMetrics::kWrite, absl::Now() - began);
  }
}

void FuseOps::ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                      bool plus) {
  std::string buffer(size, '\0');
  size_t used = 0;
  auto add = [&](const DirSlot& slot) {
    fuse_entry_param entry;
    if (slot.attr != nullptr) {
      entry = MakeEntry(*slot.attr,
                        core_->coherence().ForEntry(ino, slot.name, slot.ino));
    } else {
      memset(&entry, 0, sizeof(entry));
      entry.attr.st_ino = slot.ino;
      entry.attr.st_mode = slot.type;
    }
    char* out = buffer.data() + used;
    const size_t room = size - used;
    const size_t need = plus ? fuse_add_direntry_plus(req, out, room, slot.name,
                                                      &entry, slot.next_offset)
                             : fuse_add_direntry(req, out, room, slot.name,
                                                 &entry.attr, slot.next_offset);
    if (need > room) return false;
    used += need;
    return true;
  };
  absl::Status status = core_->ReadDir(ino, offset, size, plus, add);
  if (!status.ok()) {
    ReplyStatus(req, status);
    return;
  }
  fuse_reply_buf(req, buffer.data(), used);
}

void FuseOps::StatFs(fuse_req_t req) {
  absl::StatusOr<StatFsReply> reply = core_->StatFs();
  if (!reply.ok()) {
    ReplyStatus(req, reply.status());
    return;
  }
  struct statvfs st;
  memset(&st, 0, sizeof(st));
  st.f_bsize = reply->block_size();
  st.f_frsize = reply->block_size();
  st.f_blocks = reply->total_blocks();
  st.f_bfree = reply->free_blocks();
  st.f_bavail = reply->free_blocks();
  st.f_files = reply->total_inodes();
  st.f_ffree = reply->free_inodes();
  st.f_favail = reply->free_inodes();
  st.f_namemax = reply->max_name_length();
  fuse_reply_statfs(req, &st);
}

void FuseOps::SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name,
                       const char* value, size_t size, int flags) {
  ReplyStatus(req, core_->SetXattr(ino, name, absl::string_view(value, size),
                                   static_cast<uint32_t>(flags)));
}

void FuseOps::GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name,
                       size_t size) {
  ReplyXattr(req, core_->GetXattr(ino, name), size);
}

void FuseOps::ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  ReplyXattr(req, core_->ListXattr(ino), size);
}

void FuseOps::RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  ReplyStatus(req, core_->RemoveXattr(ino, name));
}

void FuseOps::ReplyXattr(fuse_req_t req,
                         const absl::StatusOr<std::string>& value,
                         size_t size) {
  if (!value.ok()) {
    ReplyStatus(req, value.status());
  } else if (size == 0) {
    // The caller asks how large a buffer it needs.
    fuse_reply_xattr(req, value->size());
  } else if (value->size() > size) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, value->data(), value->size());
  }
}

namespace {

// libfuse's struct flock (l_len 0: to the end) as a LockSpec.
LockSpec SpecOf(const fuse_file_info* fi, const struct flock* lock) {
  LockSpec spec;
  spec.owner = fi->lock_owner;
  spec.type = lock->l_type;
  spec.start = lock->l_start;
  spec.end = lock->l_len == 0 ? kLockToEnd : lock->l_start + lock->l_len - 1;
  spec.pid = lock->l_pid;
  return spec;
}

}  // namespace

void FuseOps::GetLock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi,
                      struct flock* lock) {
  absl::StatusOr<LockReply> held = core_->TestLock(ino, SpecOf(fi, lock));
  if (!held.ok()) {
    ReplyStatus(req, held.status());
    return;
  }
  lock->l_type = held->type();
  if (held->type() != F_UNLCK) {
    lock->l_whence = SEEK_SET;
    lock->l_start = held->start();
    lock->l_len =
        held->end() == kLockToEnd ? 0 : held->end() - held->start() + 1;
    lock->l_pid = held->pid();
  }
  fuse_reply_lock(req, lock);
}

void FuseOps::SetLock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi,
                      const struct flock* lock, bool sleep) {
  ReplyStatus(req, core_->SetLock(ino, SpecOf(fi, lock), sleep, [req] {
    return fuse_req_interrupted(req) != 0;
  }));
}

void FuseOps::Flock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi,
                    int op) {
  LockSpec spec;
  spec.flock = true;
  spec.owner = fi->lock_owner;
  switch (op & ~LOCK_NB) {
    case LOCK_SH:
      spec.type = F_RDLCK;
      break;
    case LOCK_EX:
      spec.type = F_WRLCK;
      break;
    default:
      spec.type = F_UNLCK;
      break;
  }
  const bool wait = (op & LOCK_NB) == 0 && spec.type != F_UNLCK;
  ReplyStatus(req, core_->SetLock(ino, spec, wait, [req] {
    return fuse_req_interrupted(req) != 0;
  }));
}

namespace {

fuse_lowlevel_ops MakeOperations() {
  fuse_lowlevel_ops ops;
  memset(&ops, 0, sizeof(ops));
  ops.init = [](void* userdata, fuse_conn_info* conn) {
    static_cast<FuseOps*>(userdata)->Init(conn);
  };
  ops.lookup = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    const Timed timed(req, FuseMetrics::kLookup);
    Self(req)->Lookup(req, parent, name);
  };
  ops.forget = [](fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
    const Timed timed(req, FuseMetrics::kForget);
    Self(req)->core().Forget(ino, nlookup);
    fuse_reply_none(req);
  };
  ops.forget_multi = [](fuse_req_t req, size_t count,
                        fuse_forget_data* forgets) {
    const Timed timed(req, FuseMetrics::kForgetMulti);
    for (size_t i = 0; i < count; ++i) {
      Self(req)->core().Forget(forgets[i].ino, forgets[i].nlookup);
    }
    fuse_reply_none(req);
  };
  ops.getattr = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    const Timed timed(req, FuseMetrics::kGetAttr);
    Self(req)->GetAttr(req, ino);
  };
  ops.setattr = [](fuse_req_t req, fuse_ino_t ino, struct stat* attr,
                   int to_set, fuse_file_info*) {
    const Timed timed(req, FuseMetrics::kSetAttr);
    Self(req)->SetAttr(req, ino, attr, to_set);
  };
  ops.readlink = [](fuse_req_t req, fuse_ino_t ino) {
    const Timed timed(req, FuseMetrics::kReadLink);
    Self(req)->ReadLink(req, ino);
  };
  ops.mknod = [](fuse_req_t req, fuse_ino_t parent, const char* name,
                 mode_t mode, dev_t rdev) {
    const Timed timed(req, FuseMetrics::kMkNod);
    Self(req)->MkNod(req, parent, name, mode, rdev);
  };
  ops.mkdir = [](fuse_req_t req, fuse_ino_t parent, const char* name,
                 mode_t mode) {
    const Timed timed(req, FuseMetrics::kMkDir);
    Self(req)->MkDir(req, parent, name, mode);
  };
  ops.unlink = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    const Timed timed(req, FuseMetrics::kUnlink);
    Self(req)->Unlink(req, parent, name);
  };
  ops.rmdir = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    const Timed timed(req, FuseMetrics::kRmDir);
    Self(req)->RmDir(req, parent, name);
  };
  ops.symlink = [](fuse_req_t req, const char* link, fuse_ino_t parent,
                   const char* name) {
    const Timed timed(req, FuseMetrics::kSymlink);
    Self(req)->Symlink(req, link, parent, name);
  };
  ops.rename = [](fuse_req_t req, fuse_ino_t parent, const char* name,
                  fuse_ino_t new_parent, const char* new_name,
                  unsigned int flags) {
    const Timed timed(req, FuseMetrics::kRename);
    Self(req)->Rename(req, parent, name, new_parent, new_name, flags);
  };
  ops.link = [](fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent,
                const char* new_name) {
    const Timed timed(req, FuseMetrics::kLink);
    Self(req)->Link(req, ino, new_parent, new_name);
  };
  ops.open = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    const Timed timed(req, FuseMetrics::kOpen);
    Self(req)->Open(req, ino, fi);
  };
  ops.create = [](fuse_req_t req, fuse_ino_t parent, const char* name,
                  mode_t mode, fuse_file_info* fi) {
    const Timed timed(req, FuseMetrics::kCreate);
    Self(req)->Create(req, parent, name, mode, fi);
  };
  ops.read = [](fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                fuse_file_info* fi) {
    Self(req)->Read(req, ino, fi->fh, size, offset);
  };
  ops.write = [](fuse_req_t req, fuse_ino_t ino, const char* data, size_t size,
                 off_t offset, fuse_file_info*) {
    Self(req)->Write(req, ino, data, size, offset);
  };
  ops.flush = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    const Timed timed(req, FuseMetrics::kFlush);
    // A close lets go of the closing owner's POSIX locks on the file, and
    // reports a commit failure the server told of since it was written.
    Self(req)->core().UnlockAll(ino, /*flock=*/false, fi->lock_owner);
    const absl::Status flushed = Self(req)->core().Flush(ino);
    fuse_reply_err(req, flushed.ok() ? 0 : StatusToErrno(flushed));
  };
  ops.release = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    const Timed timed(req, FuseMetrics::kRelease);
    // The last close of an open file: its owner id is the file's, which
    // owns its OFD locks and (flock_release) its flock.
    Self(req)->core().UnlockAll(ino, /*flock=*/false, fi->lock_owner);
    if (fi->flock_release) {
      Self(req)->core().UnlockAll(ino, /*flock=*/true, fi->lock_owner);
    }
    Self(req)->Release(req, ino, fi->fh);
  };
  ops.fsync = [](fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
    const Timed timed(req, FuseMetrics::kFsync);
    Self(req)->Fsync(req, ino);
  };
  ops.opendir = [](fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    const Timed timed(req, FuseMetrics::kOpenDir);
    Self(req)->OpenDir(req, fi);
  };
  ops.readdir = [](fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                   fuse_file_info*) {
    const Timed timed(req, FuseMetrics::kReadDir);
    Self(req)->ReadDir(req, ino, size, offset, false);
  };
  ops.readdirplus = [](fuse_req_t req, fuse_ino_t ino, size_t size,
                       off_t offset, fuse_file_info*) {
    const Timed timed(req, FuseMetrics::kReadDirPlus);
    Self(req)->ReadDir(req, ino, size, offset, true);
  };
  ops.releasedir = [](fuse_req_t req, fuse_ino_t, fuse_file_info*) {
    const Timed timed(req, FuseMetrics::kReleaseDir);
    fuse_reply_err(req, 0);
  };
  ops.fsyncdir = [](fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
    const Timed timed(req, FuseMetrics::kFsyncDir);
    Self(req)->Fsync(req, ino);
  };
  ops.statfs = [](fuse_req_t req, fuse_ino_t) {
    const Timed timed(req, FuseMetrics::kStatFs);
    Self(req)->StatFs(req);
  };
  ops.setxattr = [](fuse_req_t req, fuse_ino_t ino, const char* name,
                    const char* value, size_t size, int flags) {
    const Timed timed(req, FuseMetrics::kSetXattr);
    Self(req)->SetXattr(req, ino, name, value, size, flags);
  };
  ops.getxattr = [](fuse_req_t req, fuse_ino_t ino, const char* name,
                    size_t size) {
    const Timed timed(req, FuseMetrics::kGetXattr);
    Self(req)->GetXattr(req, ino, name, size);
  };
  ops.listxattr = [](fuse_req_t req, fuse_ino_t ino, size_t size) {
    const Timed timed(req, FuseMetrics::kListXattr);
    Self(req)->ListXattr(req, ino, size);
  };
  ops.removexattr = [](fuse_req_t req, fuse_ino_t ino, const char* name) {
    const Timed timed(req, FuseMetrics::kRemoveXattr);
    Self(req)->RemoveXattr(req, ino, name);
  };
  ops.fallocate = [](fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
                     off_t length, fuse_file_info*) {
    const Timed timed(req, FuseMetrics::kFallocate);
    ReplyStatus(req, Self(req)->core().Fallocate(ino, mode, offset, length));
  };
  ops.copy_file_range = [](fuse_req_t req, fuse_ino_t in, off_t in_offset,
                           fuse_file_info*, fuse_ino_t out, off_t out_offset,
                           fuse_file_info*, size_t length, int) {
    const Timed timed(req, FuseMetrics::kCopyFileRange);
    absl::StatusOr<size_t> copied =
        Self(req)->core().CopyRange(in, in_offset, out, out_offset, length);
    if (copied.ok()) {
      fuse_reply_write(req, *copied);
    } else {
      ReplyStatus(req, copied.status());
    }
  };
  ops.lseek = [](fuse_req_t req, fuse_ino_t ino, off_t offset, int whence,
                 fuse_file_info*) {
    const Timed timed(req, FuseMetrics::kLseek);
    // The kernel sends only SEEK_DATA and SEEK_HOLE.
    absl::StatusOr<uint64_t> found =
        Self(req)->core().Seek(ino, offset, whence);
    if (found.ok()) {
      fuse_reply_lseek(req, static_cast<off_t>(*found));
    } else {
      ReplyStatus(req, found.status());
    }
  };
  ops.getlk = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi,
                 struct flock* lock) {
    const Timed timed(req, FuseMetrics::kGetLk);
    Self(req)->GetLock(req, ino, fi, lock);
  };
  ops.setlk = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi,
                 struct flock* lock, int sleep) {
    const Timed timed(req, FuseMetrics::kSetLk);
    Self(req)->SetLock(req, ino, fi, lock, sleep != 0);
  };
  ops.flock = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, int op) {
    const Timed timed(req, FuseMetrics::kFlock);
    Self(req)->Flock(req, ino, fi, op);
  };
  return ops;
}

}  // namespace

const fuse_lowlevel_ops& FuseOps::Operations() {
  static const fuse_lowlevel_ops ops = MakeOperations();
  return ops;
}

}  // namespace rbfs
