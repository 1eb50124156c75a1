#include "client/fuse/rbfs_filesystem.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "client/core/grpc_chunk_sender.h"
#include "client/core/io_context.h"
#include "common/errno_status.h"
#include "common/log.h"
#include "common/wire_limits.h"

namespace rbfs {
namespace {

constexpr uint32_t kMaxIoBytes = 1 << 20;
// Offsets of "." and ".."; the server's cookies start above them.
constexpr off_t kDotOffset = 1;
constexpr off_t kDotDotOffset = 2;

RbfsFilesystem* Self(fuse_req_t req) {
  return static_cast<RbfsFilesystem*>(fuse_req_userdata(req));
}

void ReplyStatus(fuse_req_t req, const absl::Status& status) {
  fuse_reply_err(req, StatusToErrno(status));
}

Caller MakeCaller(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  Caller caller;
  caller.set_uid(ctx->uid);
  caller.set_gid(ctx->gid);
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

void SetTimespec(const struct timespec& ts, Timespec* out) {
  out->set_sec(ts.tv_sec);
  out->set_nsec(static_cast<uint32_t>(ts.tv_nsec));
}

// Builds a request's InodeId or answers ESTALE; returns false if answered.
bool ResolveId(fuse_req_t req, InodeTable& inodes, fuse_ino_t ino,
               InodeId* id) {
  absl::StatusOr<InodeId> resolved = inodes.Id(ino);
  if (!resolved.ok()) {
    ReplyStatus(req, resolved.status());
    return false;
  }
  *id = *std::move(resolved);
  return true;
}

}  // namespace

RbfsFilesystem::RbfsFilesystem(const MountOptions& options, uint32_t chunk_size,
                               RpcClient* rpc, ClientSession* client_session)
    : options_(options),
      chunk_size_(chunk_size),
      rpc_(rpc),
      client_session_(client_session),
      dir_attrs_(options.attr_timeout),
      // Enough idle buffers for every chunk in flight plus a request's worth.
      buffers_(options.max_inflight + kMaxIoBytes / chunk_size + 1),
      limiter_(options.max_inflight) {}

template <typename Request, typename Reply>
absl::Status RbfsFilesystem::NumberedCall(
    grpc::Status (Rbfs::Stub::*method)(grpc::ClientContext*, const Request&,
                                       Reply*),
    Request& request, Reply* reply) {
  client_session_->BeginCall(request.mutable_call());
  absl::Status status =
      rpc_->Call(method, request, reply, Idempotency::kIdempotent);
  client_session_->EndCall(request.call());
  if (status.ok()) {
    const absl::Time now = absl::Now();
    for (const Attr& dir : reply->dirs()) dir_attrs_.Put(dir, now);
  }
  return status;
}

bool RbfsFilesystem::WaitIdle(absl::Duration timeout) {
  absl::MutexLock lock(&requests_mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(requests_mu_) {
    return active_requests_ == 0;
  };
  return requests_mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

void RbfsFilesystem::BeginRequest() {
  absl::MutexLock lock(&requests_mu_);
  ++active_requests_;
}

void RbfsFilesystem::EndRequest() {
  absl::MutexLock lock(&requests_mu_);
  --active_requests_;
}

void RbfsFilesystem::Init(fuse_conn_info* conn) {
  conn->max_write = kMaxIoBytes;
  conn->max_read = kMaxIoBytes;
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
  // Writes must reach the server before they return (close-to-open).
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  conn->time_gran = 1;
}

fuse_entry_param RbfsFilesystem::MakeEntry(const Attr& attr) const {
  fuse_entry_param entry;
  memset(&entry, 0, sizeof(entry));
  entry.ino = attr.id().ino();
  entry.generation = attr.id().generation();
  entry.attr = ToStat(attr);
  entry.attr_timeout = absl::ToDoubleSeconds(options_.attr_timeout);
  entry.entry_timeout = absl::ToDoubleSeconds(options_.entry_timeout);
  return entry;
}

void RbfsFilesystem::ReplyEntry(fuse_req_t req, const absl::Status& status,
                                const EntryReply& reply) {
  if (!status.ok()) {
    ReplyStatus(req, status);
    return;
  }
  inodes_.Remember(reply.attr());
  fuse_entry_param entry = MakeEntry(reply.attr());
  if (fuse_reply_entry(req, &entry) != 0) {
    // The kernel dropped the request, so it holds no reference.
    inodes_.Forget(entry.ino, 1);
  }
}

void RbfsFilesystem::ReplyAttr(fuse_req_t req, const absl::Status& status,
                               const AttrReply& reply) {
  if (!status.ok()) {
    ReplyStatus(req, status);
    return;
  }
  inodes_.Refresh(reply.attr());
  struct stat st = ToStat(reply.attr());
  fuse_reply_attr(req, &st, absl::ToDoubleSeconds(options_.attr_timeout));
}

void RbfsFilesystem::Lookup(fuse_req_t req, fuse_ino_t parent,
                            const char* name) {
  LookupRequest request;
  if (!ResolveId(req, inodes_, parent, request.mutable_parent())) return;
  request.set_name(name);
  EntryReply reply;
  absl::Status status = rpc_->Call(&Rbfs::Stub::Lookup, request, &reply,
                                   Idempotency::kIdempotent);
  ReplyEntry(req, status, reply);
}

void RbfsFilesystem::Forget(fuse_ino_t ino, uint64_t nlookup) {
  inodes_.Forget(ino, nlookup);
}

void RbfsFilesystem::GetAttr(fuse_req_t req, fuse_ino_t ino) {
  GetAttrRequest request;
  if (!ResolveId(req, inodes_, ino, request.mutable_id())) return;
  AttrReply reply;
  std::optional<Attr> changed = dir_attrs_.Take(ino, absl::Now());
  if (changed && changed->id().generation() == request.id().generation()) {
    *reply.mutable_attr() = *std::move(changed);
    ReplyAttr(req, absl::OkStatus(), reply);
    return;
  }
  absl::Status status = rpc_->Call(&Rbfs::Stub::GetAttr, request, &reply,
                                   Idempotency::kIdempotent);
  ReplyAttr(req, status, reply);
}

void RbfsFilesystem::SetAttr(fuse_req_t req, fuse_ino_t ino,
                             const struct stat* attr, int to_set) {
  constexpr int kKnown =
      FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
      FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
      FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
  SetAttrRequest request;
  if (!ResolveId(req, inodes_, ino, request.mutable_id())) return;
  dir_attrs_.Erase(ino);
  request.set_valid(to_set & kKnown);
  request.set_mode(attr->st_mode);
  request.set_uid(attr->st_uid);
  request.set_gid(attr->st_gid);
  request.set_size(attr->st_size);
  SetTimespec(attr->st_atim, request.mutable_atime());
  SetTimespec(attr->st_mtim, request.mutable_mtime());
  *request.mutable_caller() = MakeCaller(req);
  AttrReply reply;
  // Absolute values (and "now") may be applied twice without harm.
  absl::Status status = rpc_->Call(&Rbfs::Stub::SetAttr, request, &reply,
                                   Idempotency::kIdempotent);
  ReplyAttr(req, status, reply);
}

void RbfsFilesystem::ReadLink(fuse_req_t req, fuse_ino_t ino) {
  ReadLinkRequest request;
  if (!ResolveId(req, inodes_, ino, request.mutable_id())) return;
  ReadLinkReply reply;
  absl::Status status = rpc_->Call(&Rbfs::Stub::ReadLink, request, &reply,
                                   Idempotency::kIdempotent);
  if (!status.ok()) {
    ReplyStatus(req, status);
    return;
  }
  fuse_reply_readlink(req, reply.target().c_str());
}

void RbfsFilesystem::MkNod(fuse_req_t req, fuse_ino_t parent, const char* name,
                           mode_t mode, dev_t rdev) {
  MkNodRequest request;
  if (!ResolveId(req, inodes_, parent, request.mutable_parent())) return;
  request.set_name(name);
  request.set_mode(mode);
  request.set_rdev(rdev);
  *request.mutable_caller() = MakeCaller(req);
  request.set_exclusive(true);
  EntryReply reply;
  absl::Status status = NumberedCall(&Rbfs::Stub::MkNod, request, &reply);
  ReplyEntry(req, status, reply);
}

void RbfsFilesystem::MkDir(fuse_req_t req, fuse_ino_t parent, const char* name,
                           mode_t mode) {
  MkDirRequest request;
  if (!ResolveId(req, inodes_, parent, request.mutable_parent())) return;
  request.set_name(name);
  request.set_mode(mode);
  *request.mutable_caller() = MakeCaller(req);
  EntryReply reply;
  absl::Status status = NumberedCall(&Rbfs::Stub::MkDir, request, &reply);
  ReplyEntry(req, status, reply);
}

void RbfsFilesystem::Unlink(fuse_req_t req, fuse_ino_t parent,
                            const char* name) {
  UnlinkRequest request;
  if (!ResolveId(req, inodes_, parent, request.mutable_parent())) return;
  request.set_name(name);
  ErrReply reply;
  ReplyStatus(req, NumberedCall(&Rbfs::Stub::Unlink, request, &reply));
}

void RbfsFilesystem::RmDir(fuse_req_t req, fuse_ino_t parent,
                           const char* name) {
  RmDirRequest request;
  if (!ResolveId(req, inodes_, parent, request.mutable_parent())) return;
  request.set_name(name);
  ErrReply reply;
  ReplyStatus(req, NumberedCall(&Rbfs::Stub::RmDir, request, &reply));
}

void RbfsFilesystem::Symlink(fuse_req_t req, const char* link,
                             fuse_ino_t parent, const char* name) {
  SymlinkRequest request;
  if (!ResolveId(req, inodes_, parent, request.mutable_parent())) return;
  request.set_name(name);
  request.set_target(link);
  *request.mutable_caller() = MakeCaller(req);
  EntryReply reply;
  absl::Status status = NumberedCall(&Rbfs::Stub::Symlink, request, &reply);
  ReplyEntry(req, status, reply);
}

void RbfsFilesystem::Rename(fuse_req_t req, fuse_ino_t parent, const char* name,
                            fuse_ino_t new_parent, const char* new_name,
                            unsigned flags) {
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  RenameRequest request;
  if (!ResolveId(req, inodes_, parent, request.mutable_parent()) ||
      !ResolveId(req, inodes_, new_parent, request.mutable_new_parent())) {
    return;
  }
  request.set_name(name);
  request.set_new_name(new_name);
  request.set_flags(flags);
  ErrReply reply;
  ReplyStatus(req, NumberedCall(&Rbfs::Stub::Rename, request, &reply));
}

void RbfsFilesystem::Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent,
                          const char* new_name) {
  LinkRequest request;
  if (!ResolveId(req, inodes_, ino, request.mutable_id()) ||
      !ResolveId(req, inodes_, new_parent, request.mutable_new_parent())) {
    return;
  }
  request.set_new_name(new_name);
  EntryReply reply;
  absl::Status status = NumberedCall(&Rbfs::Stub::Link, request, &reply);
  ReplyEntry(req, status, reply);
}

void RbfsFilesystem::SetOpenFlags(fuse_file_info* fi) const {
  fi->direct_io = options_.cache_auto ? 0 : 1;
  // cache=auto: dropping cached pages at every open gives close-to-open
  // consistency.
  fi->keep_cache = 0;
}

void RbfsFilesystem::Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  OpenRequest request;
  if (!ResolveId(req, inodes_, ino, request.mutable_id())) return;
  request.set_flags(fi->flags);
  *request.mutable_caller() = MakeCaller(req);
  // The handle number makes a repeated open count once.
  const uint64_t handle = client_session_->NewHandle();
  request.set_session(client_session_->id());
  request.set_handle(handle);
  AttrReply reply;
  absl::Status status =
      rpc_->Call(&Rbfs::Stub::Open, request, &reply, Idempotency::kIdempotent);
  if (!status.ok()) {
    ReplyStatus(req, status);
    return;
  }
  inodes_.Refresh(reply.attr());
  inodes_.Opened(ino);
  client_session_->Opened(handle, request.id(), fi->flags);
  SetOpenFlags(fi);
  fi->fh = handle;
  if (options_.cache_auto && session_ != nullptr) {
    // Close-to-open: the kernel's cached attributes (above all the size that
    // bounds page-cache reads) may predate another client's last close. The
    // notification is handled before it returns, so the open completes with
    // them invalidated.
    fuse_lowlevel_notify_inval_inode(session_, ino, -1, 0);
  }
  if (fuse_reply_open(req, fi) != 0) {
    // The opener was interrupted: no release will ever come for this open.
    inodes_.Released(ino);
    client_session_->Released(handle);
    ReleaseOnServer(request.id(), handle);
  }
}

void RbfsFilesystem::Create(fuse_req_t req, fuse_ino_t parent, const char* name,
                            mode_t mode, fuse_file_info* fi) {
  MkNodRequest request;
  if (!ResolveId(req, inodes_, parent, request.mutable_parent())) return;
  request.set_name(name);
  request.set_mode(S_IFREG | (mode & 07777));
  *request.mutable_caller() = MakeCaller(req);
  request.set_exclusive((fi->flags & O_EXCL) != 0);
  request.set_open(true);
  const uint64_t handle = client_session_->NewHandle();
  request.set_handle(handle);
  EntryReply reply;
  absl::Status status = NumberedCall(&Rbfs::Stub::MkNod, request, &reply);
  if (!status.ok()) {
    ReplyStatus(req, status);
    return;
  }
  inodes_.Remember(reply.attr());
  const fuse_ino_t ino = reply.attr().id().ino();
  inodes_.Opened(ino);
  client_session_->Opened(handle, reply.attr().id(), fi->flags);
  SetOpenFlags(fi);
  fi->fh = handle;
  fuse_entry_param entry = MakeEntry(reply.attr());
  if (fuse_reply_create(req, &entry, fi) != 0) {
    inodes_.Forget(ino, 1);
    inodes_.Released(ino);
    client_session_->Released(handle);
    ReleaseOnServer(reply.attr().id(), handle);
  }
}

void RbfsFilesystem::ReleaseOnServer(const InodeId& id, uint64_t handle) {
  ReleaseRequest request;
  *request.mutable_id() = id;
  request.set_session(client_session_->id());
  request.set_handle(handle);
  ErrReply reply;
  absl::Status status = rpc_->Call(&Rbfs::Stub::Release, request, &reply,
                                   Idempotency::kIdempotent);
  if (!status.ok()) {
    // The server releases it when the session ends.
    LogWarning("release of inode %d failed: %s", id.ino(), status.ToString());
  }
}

void RbfsFilesystem::Release(fuse_req_t req, fuse_ino_t ino, uint64_t handle) {
  // Read the id first: the last release may drop the table entry.
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  inodes_.Released(ino);
  client_session_->Released(handle);
  if (id.ok()) ReleaseOnServer(*id, handle);
  fuse_reply_err(req, 0);
}

void RbfsFilesystem::Fsync(fuse_req_t req, fuse_ino_t ino) {
  FsyncRequest request;
  if (!ResolveId(req, inodes_, ino, request.mutable_id())) return;
  ErrReply reply;
  ReplyStatus(req, rpc_->Call(&Rbfs::Stub::Fsync, request, &reply,
                              Idempotency::kIdempotent));
}

void RbfsFilesystem::Read(fuse_req_t req, fuse_ino_t ino, size_t size,
                          off_t offset) {
  InodeId id;
  if (!ResolveId(req, inodes_, ino, &id)) return;
  BeginRequest();
  std::shared_ptr<IoContext> context = IoContext::CreateRead(
      offset, size, chunk_size_, &buffers_,
      [this, req](IoContext& context, absl::StatusOr<size_t> result) {
        if (!result.ok()) {
          ReplyStatus(req, result.status());
        } else if (*result == 0) {
          fuse_reply_buf(req, nullptr, 0);
        } else {
          absl::InlinedVector<iovec, 16> iov = context.Gather(*result);
          fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
        }
      });
  context->SetReleaseHook([this] { EndRequest(); });
  GrpcChunkSender sender(rpc_, &limiter_, id);
  context->Start(sender);
}

void RbfsFilesystem::Write(fuse_req_t req, fuse_ino_t ino, const char* data,
                           size_t size, off_t offset) {
  InodeId id;
  if (!ResolveId(req, inodes_, ino, &id)) return;
  BeginRequest();
  std::shared_ptr<IoContext> context = IoContext::CreateWrite(
      offset, data, size, chunk_size_, &buffers_,
      [this, req](IoContext&, absl::StatusOr<size_t> result) {
        if (result.ok()) {
          fuse_reply_write(req, *result);
        } else {
          ReplyStatus(req, result.status());
        }
      },
      [this, ino](uint64_t end) { inodes_.RaiseSize(ino, end); });
  context->SetReleaseHook([this] { EndRequest(); });
  GrpcChunkSender sender(rpc_, &limiter_, id);
  context->Start(sender);
}

void RbfsFilesystem::ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size,
                             off_t offset, bool plus) {
  ReadDirRequest request;
  if (!ResolveId(req, inodes_, ino, request.mutable_id())) return;
  request.set_cookie(offset > kDotDotOffset ? offset : 0);
  request.set_with_attrs(plus);
  // A rough entry size keeps the server from sending far more than fits.
  const size_t estimate = size / (plus ? 160 : 32) + 1;
  request.set_max_entries(
      static_cast<uint32_t>(std::min<size_t>(estimate, kMaxDirEntriesPerCall)));

  std::string buffer(size, '\0');
  size_t used = 0;
  // Adds one entry; false when the kernel's buffer is full.
  auto add = [&](const std::string& name, fuse_entry_param* entry, off_t next) {
    char* out = buffer.data() + used;
    const size_t room = size - used;
    const size_t need =
        plus ? fuse_add_direntry_plus(req, out, room, name.c_str(), entry, next)
             : fuse_add_direntry(req, out, room, name.c_str(), &entry->attr,
                                 next);
    if (need > room) return false;
    used += need;
    return true;
  };

  bool first = true;
  bool full = false;
  while (!full) {
    ReadDirReply reply;
    absl::Status status = rpc_->Call(&Rbfs::Stub::ReadDir, request, &reply,
                                     Idempotency::kIdempotent);
    if (!status.ok()) {
      // Entries already placed are returned; the error shows on the next
      // call.
      if (used == 0) {
        ReplyStatus(req, status);
        return;
      }
      break;
    }
    if (first && offset < kDotDotOffset) {
      // The kernel takes no reference for "." and "..", so they carry no
      // node id.
      fuse_entry_param dot;
      memset(&dot, 0, sizeof(dot));
      dot.attr.st_mode = S_IFDIR;
      if (offset < kDotOffset) {
        dot.attr.st_ino = ino;
        full = !add(".", &dot, kDotOffset);
      }
      dot.attr.st_ino = reply.parent() ? reply.parent() : ino;
      full = full || !add("..", &dot, kDotDotOffset);
    }
    first = false;
    for (const DirEntry& dirent : reply.entries()) {
      if (full) break;
      fuse_entry_param entry;
      if (plus && dirent.has_attr()) {
        entry = MakeEntry(dirent.attr());
      } else {
        memset(&entry, 0, sizeof(entry));
        entry.attr.st_ino = dirent.ino();
        entry.attr.st_mode = dirent.type();
      }
      if (!add(dirent.name(), &entry, static_cast<off_t>(dirent.cookie()))) {
        full = true;
        break;
      }
      if (entry.ino != 0) inodes_.Remember(dirent.attr());
      request.set_cookie(dirent.cookie());
    }
    if (reply.eof() || reply.entries_size() == 0) break;
  }
  fuse_reply_buf(req, buffer.data(), used);
}

void RbfsFilesystem::StatFs(fuse_req_t req) {
  StatFsRequest request;
  StatFsReply reply;
  absl::Status status = rpc_->Call(&Rbfs::Stub::StatFs, request, &reply,
                                   Idempotency::kIdempotent);
  if (!status.ok()) {
    ReplyStatus(req, status);
    return;
  }
  struct statvfs st;
  memset(&st, 0, sizeof(st));
  st.f_bsize = reply.block_size();
  st.f_frsize = reply.block_size();
  st.f_blocks = reply.total_blocks();
  st.f_bfree = reply.free_blocks();
  st.f_bavail = reply.free_blocks();
  st.f_files = reply.total_inodes();
  st.f_ffree = reply.free_inodes();
  st.f_favail = reply.free_inodes();
  st.f_namemax = reply.max_name_length();
  fuse_reply_statfs(req, &st);
}

namespace {

fuse_lowlevel_ops MakeOperations() {
  fuse_lowlevel_ops ops;
  memset(&ops, 0, sizeof(ops));
  ops.init = [](void* userdata, fuse_conn_info* conn) {
    static_cast<RbfsFilesystem*>(userdata)->Init(conn);
  };
  ops.lookup = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    Self(req)->Lookup(req, parent, name);
  };
  ops.forget = [](fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
    Self(req)->Forget(ino, nlookup);
    fuse_reply_none(req);
  };
  ops.forget_multi = [](fuse_req_t req, size_t count,
                        fuse_forget_data* forgets) {
    for (size_t i = 0; i < count; ++i) {
      Self(req)->Forget(forgets[i].ino, forgets[i].nlookup);
    }
    fuse_reply_none(req);
  };
  ops.getattr = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    Self(req)->GetAttr(req, ino);
  };
  ops.setattr = [](fuse_req_t req, fuse_ino_t ino, struct stat* attr,
                   int to_set, fuse_file_info*) {
    Self(req)->SetAttr(req, ino, attr, to_set);
  };
  ops.readlink = [](fuse_req_t req, fuse_ino_t ino) {
    Self(req)->ReadLink(req, ino);
  };
  ops.mknod = [](fuse_req_t req, fuse_ino_t parent, const char* name,
                 mode_t mode, dev_t rdev) {
    Self(req)->MkNod(req, parent, name, mode, rdev);
  };
  ops.mkdir = [](fuse_req_t req, fuse_ino_t parent, const char* name,
                 mode_t mode) { Self(req)->MkDir(req, parent, name, mode); };
  ops.unlink = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    Self(req)->Unlink(req, parent, name);
  };
  ops.rmdir = [](fuse_req_t req, fuse_ino_t parent, const char* name) {
    Self(req)->RmDir(req, parent, name);
  };
  ops.symlink = [](fuse_req_t req, const char* link, fuse_ino_t parent,
                   const char* name) {
    Self(req)->Symlink(req, link, parent, name);
  };
  ops.rename = [](fuse_req_t req, fuse_ino_t parent, const char* name,
                  fuse_ino_t new_parent, const char* new_name,
                  unsigned int flags) {
    Self(req)->Rename(req, parent, name, new_parent, new_name, flags);
  };
  ops.link = [](fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent,
                const char* new_name) {
    Self(req)->Link(req, ino, new_parent, new_name);
  };
  ops.open = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Self(req)->Open(req, ino, fi);
  };
  ops.create = [](fuse_req_t req, fuse_ino_t parent, const char* name,
                  mode_t mode, fuse_file_info* fi) {
    Self(req)->Create(req, parent, name, mode, fi);
  };
  ops.read = [](fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                fuse_file_info*) { Self(req)->Read(req, ino, size, offset); };
  ops.write = [](fuse_req_t req, fuse_ino_t ino, const char* data, size_t size,
                 off_t offset, fuse_file_info*) {
    Self(req)->Write(req, ino, data, size, offset);
  };
  ops.flush = [](fuse_req_t req, fuse_ino_t, fuse_file_info*) {
    // Every write has reached the server before it returned.
    fuse_reply_err(req, 0);
  };
  ops.release = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Self(req)->Release(req, ino, fi->fh);
  };
  ops.fsync = [](fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
    Self(req)->Fsync(req, ino);
  };
  ops.opendir = [](fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    fi->fh = 0;
    fuse_reply_open(req, fi);
  };
  ops.readdir = [](fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                   fuse_file_info*) {
    Self(req)->ReadDir(req, ino, size, offset, false);
  };
  ops.readdirplus = [](fuse_req_t req, fuse_ino_t ino, size_t size,
                       off_t offset, fuse_file_info*) {
    Self(req)->ReadDir(req, ino, size, offset, true);
  };
  ops.releasedir = [](fuse_req_t req, fuse_ino_t, fuse_file_info*) {
    fuse_reply_err(req, 0);
  };
  ops.fsyncdir = [](fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
    Self(req)->Fsync(req, ino);
  };
  ops.statfs = [](fuse_req_t req, fuse_ino_t) { Self(req)->StatFs(req); };
  return ops;
}

}  // namespace

const fuse_lowlevel_ops& RbfsFilesystem::Operations() {
  static const fuse_lowlevel_ops ops = MakeOperations();
  return ops;
}

}  // namespace rbfs
