#include "client/core/mount_core.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>
#include <utility>

#include "client/core/grpc_chunk_sender.h"
#include "client/core/io_size.h"
#include "client/core/open_data_cache.h"
#include "common/errno_status.h"
#include "common/log.h"
#include "common/wire_limits.h"

namespace rbfs {
namespace {

// Offsets of "." and ".."; the server's cookies start above them.
constexpr off_t kDotOffset = 1;
constexpr off_t kDotDotOffset = 2;

void SetTimespec(const timespec& ts, Timespec* out) {
  out->set_sec(ts.tv_sec);
  out->set_nsec(static_cast<uint32_t>(ts.tv_nsec));
}

void SetName(absl::string_view name, std::string* out) {
  out->assign(name.data(), name.size());
}

// Bytes of file contents the Open replies' data may hold at once.
constexpr size_t kOpenDataCacheBytes = size_t{64} << 20;

// Answers a read's chunks from a file's contents kept with its open.
class ContentsSender : public ChunkSender {
 public:
  explicit ContentsSender(const std::string& data) : data_(data) {}

  void Send(std::shared_ptr<IoContext> context, size_t index) override {
    IoContext::Chunk& chunk = context->chunk(index);
    size_t n = 0;
    if (chunk.offset < data_.size()) {
      n = std::min<size_t>(chunk.length, data_.size() - chunk.offset);
    }
    chunk.buffer.assign(data_, n == 0 ? 0 : chunk.offset, n);
    context->CompleteChunk(index, absl::OkStatus(), n);
  }

 private:
  const std::string& data_;
};

}  // namespace

MountCore::MountCore(const Options& options, RpcClient* rpc,
                     ClientSession* session)
    : chunk_size_(options.chunk_size),
      open_data_up_to_(options.open_data_up_to),
      rpc_(rpc),
      session_(session),
      attrs_(options.cache.fallback_timeout),
      coherence_(options.cache, &inodes_, &attrs_),
      // Enough idle buffers for every chunk in flight plus a request's worth.
      buffers_(options.max_inflight + kMaxRequestBytes / options.chunk_size +
               1),
      limiter_(options.max_inflight),
      open_data_(options.open_data_up_to == 0 ? 0 : kOpenDataCacheBytes) {}

template <typename Request, typename Reply>
absl::Status MountCore::NumberedCall(
    grpc::Status (Rbfs::StubInterface::*method)(grpc::ClientContext*,
                                                const Request&, Reply*),
    Request& request, Reply* reply) {
  session_->BeginCall(request.mutable_call());
  const uint64_t ticket = attrs_.Ticket();
  absl::Status status =
      rpc_->Call(method, request, reply, Idempotency::kIdempotent);
  session_->EndCall(request.call());
  if (status.ok()) {
    const absl::Time now = absl::Now();
    for (const Attr& dir : reply->dirs()) attrs_.Put(dir, now, ticket);
  }
  return status;
}

absl::StatusOr<Attr> MountCore::Remembered(const absl::Status& status,
                                           const EntryReply& reply,
                                           uint64_t ticket) {
  if (!status.ok()) return status;
  inodes_.Remember(reply.attr(), reply.as_of());
  attrs_.Put(reply.attr(), absl::Now(), ticket);
  return reply.attr();
}

void MountCore::AfterRemoval(uint64_t parent, absl::string_view name,
                             const absl::Status& status) {
  TrackName(parent, name, status, false);
  if (!status.ok()) return;
  EraseChild(parent, name);
  coherence_.Removed(parent, name);
}

void MountCore::EraseChild(uint64_t parent, absl::string_view name) {
  std::optional<uint64_t> child = coherence_.Child(parent, name);
  if (!child.has_value()) {
    // Which inode lost a link is unknown here: none is trusted.
    attrs_.Clear();
  } else if (*child != 0) {
    attrs_.Erase(*child);
  }
}

void MountCore::TrackName(uint64_t dir, absl::string_view name,
                          const absl::Status& status, bool exists_after) {
  KnownDirs& known = coherence_.known_dirs();
  if (status.ok()) {
    exists_after ? known.Added(dir, name) : known.Removed(dir, name);
  } else if (absl::IsAlreadyExists(status) || absl::IsNotFound(status)) {
    // The server knows better than the names kept here.
    known.Forget(dir);
  }
}

void MountCore::ReleasesFirst() {
  // Bounded like any call; past it the removal goes ahead and the server
  // frees the file at its release instead.
  background_.Drain(rpc_->retry_policy().deadline());
}

bool MountCore::WaitIdle(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  {
    absl::MutexLock lock(&requests_mu_);
    auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(requests_mu_) {
      return active_requests_ == 0;
    };
    if (!requests_mu_.AwaitWithDeadline(absl::Condition(&idle), deadline)) {
      return false;
    }
  }
  return background_.Drain(deadline - absl::Now());
}

void MountCore::BeginRequest() {
  absl::MutexLock lock(&requests_mu_);
  ++active_requests_;
}

void MountCore::EndRequest() {
  absl::MutexLock lock(&requests_mu_);
  --active_requests_;
}

absl::StatusOr<Attr> MountCore::Lookup(uint64_t parent,
                                       absl::string_view name) {
  if (coherence_.known_dirs().Absent(parent, name)) {
    return ErrnoError(ENOENT);
  }
  LookupRequest request;
  absl::StatusOr<InodeId> parent_id = inodes_.Id(parent);
  if (!parent_id.ok()) return parent_id.status();
  *request.mutable_parent() = *std::move(parent_id);
  SetName(name, request.mutable_name());
  EntryReply reply;
  const uint64_t ticket = attrs_.Ticket();
  absl::Status status = rpc_->Call(&Rbfs::StubInterface::Lookup, request,
                                   &reply, Idempotency::kIdempotent);
  return Remembered(status, reply, ticket);
}

void MountCore::Forget(uint64_t ino, uint64_t nlookup) {
  // Perhaps not the last reference; a version forgotten early only costs
  // the next open data it may not need.
  open_data_.Forget(ino);
  inodes_.Forget(ino, nlookup);
}

absl::StatusOr<Attr> MountCore::GetAttr(uint64_t ino) {
  GetAttrRequest request;
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  if (!id.ok()) return id.status();
  *request.mutable_id() = *std::move(id);
  // While synced, what the mount knows stays true until erased; otherwise
  // only a mutation's fresh answer, once.
  std::optional<Attr> known =
      coherence_.synced() ? attrs_.Get(ino) : attrs_.Take(ino, absl::Now());
  if (known && known->id().generation() == request.id().generation()) {
    answers_.attr_hits.Add();
    inodes_.Refresh(*known);
    return *std::move(known);
  }
  answers_.attr_misses.Add();
  const uint64_t ticket = attrs_.Ticket();
  AttrReply reply;
  absl::Status status = rpc_->Call(&Rbfs::StubInterface::GetAttr, request,
                                   &reply, Idempotency::kIdempotent);
  if (!status.ok()) return status;
  inodes_.Refresh(reply.attr());
  attrs_.Put(reply.attr(), absl::Now(), ticket);
  return reply.attr();
}

absl::StatusOr<Attr> MountCore::SetAttr(uint64_t ino,
                                        const AttrChanges& changes,
                                        const Caller& caller) {
  SetAttrRequest request;
  request.set_valid(changes.valid);
  request.set_mode(changes.mode);
  request.set_uid(changes.uid);
  request.set_gid(changes.gid);
  request.set_size(changes.size);
  SetTimespec(changes.atime, request.mutable_atime());
  SetTimespec(changes.mtime, request.mutable_mtime());
  *request.mutable_caller() = caller;
  // Absolute values (and "now") may be applied twice without harm.
  return AttrChangingCall(&Rbfs::StubInterface::SetAttr, ino, request);
}

absl::StatusOr<std::string> MountCore::ReadLink(uint64_t ino) {
  ReadLinkRequest request;
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  if (!id.ok()) return id.status();
  *request.mutable_id() = *std::move(id);
  ReadLinkReply reply;
  absl::Status status = rpc_->Call(&Rbfs::StubInterface::ReadLink, request,
                                   &reply, Idempotency::kIdempotent);
  if (!status.ok()) return status;
  return std::move(*reply.mutable_target());
}

absl::StatusOr<Attr> MountCore::MkNod(uint64_t parent, absl::string_view name,
                                      uint32_t mode, uint64_t rdev,
                                      const Caller& caller) {
  MkNodRequest request;
  absl::StatusOr<InodeId> parent_id = inodes_.Id(parent);
  if (!parent_id.ok()) return parent_id.status();
  *request.mutable_parent() = *std::move(parent_id);
  SetName(name, request.mutable_name());
  request.set_mode(mode);
  request.set_rdev(rdev);
  *request.mutable_caller() = caller;
  request.set_exclusive(true);
  EntryReply reply;
  const uint64_t ticket = attrs_.Ticket();
  absl::Status status =
      NumberedCall(&Rbfs::StubInterface::MkNod, request, &reply);
  TrackName(parent, name, status, true);
  return Remembered(status, reply, ticket);
}

absl::StatusOr<Attr> MountCore::MkDir(uint64_t parent, absl::string_view name,
                                      uint32_t mode, const Caller& caller) {
  MkDirRequest request;
  absl::StatusOr<InodeId> parent_id = inodes_.Id(parent);
  if (!parent_id.ok()) return parent_id.status();
  *request.mutable_parent() = *std::move(parent_id);
  SetName(name, request.mutable_name());
  request.set_mode(mode);
  *request.mutable_caller() = caller;
  EntryReply reply;
  const uint64_t ticket = attrs_.Ticket();
  absl::Status status =
      NumberedCall(&Rbfs::StubInterface::MkDir, request, &reply);
  TrackName(parent, name, status, true);
  if (status.ok()) coherence_.DirCreated(reply.attr().id().ino());
  return Remembered(status, reply, ticket);
}

absl::Status MountCore::Unlink(uint64_t parent, absl::string_view name) {
  UnlinkRequest request;
  absl::StatusOr<InodeId> parent_id = inodes_.Id(parent);
  if (!parent_id.ok()) return parent_id.status();
  *request.mutable_parent() = *std::move(parent_id);
  SetName(name, request.mutable_name());
  ErrReply reply;
  ReleasesFirst();
  absl::Status status =
      NumberedCall(&Rbfs::StubInterface::Unlink, request, &reply);
  AfterRemoval(parent, name, status);
  return status;
}

absl::Status MountCore::RmDir(uint64_t parent, absl::string_view name) {
  RmDirRequest request;
  absl::StatusOr<InodeId> parent_id = inodes_.Id(parent);
  if (!parent_id.ok()) return parent_id.status();
  *request.mutable_parent() = *std::move(parent_id);
  SetName(name, request.mutable_name());
  ErrReply reply;
  absl::Status status =
      NumberedCall(&Rbfs::StubInterface::RmDir, request, &reply);
  AfterRemoval(parent, name, status);
  return status;
}

absl::StatusOr<Attr> MountCore::Symlink(absl::string_view target,
                                        uint64_t parent, absl::string_view name,
                                        const Caller& caller) {
  SymlinkRequest request;
  absl::StatusOr<InodeId> parent_id = inodes_.Id(parent);
  if (!parent_id.ok()) return parent_id.status();
  *request.mutable_parent() = *std::move(parent_id);
  SetName(name, request.mutable_name());
  SetName(target, request.mutable_target());
  *request.mutable_caller() = caller;
  EntryReply reply;
  const uint64_t ticket = attrs_.Ticket();
  absl::Status status =
      NumberedCall(&Rbfs::StubInterface::Symlink, request, &reply);
  TrackName(parent, name, status, true);
  return Remembered(status, reply, ticket);
}

absl::Status MountCore::Rename(uint64_t parent, absl::string_view name,
                               uint64_t new_parent, absl::string_view new_name,
                               uint32_t flags) {
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
    return ErrnoError(EINVAL, "unknown rename flags");
  }
  RenameRequest request;
  absl::StatusOr<InodeId> parent_id = inodes_.Id(parent);
  if (!parent_id.ok()) return parent_id.status();
  absl::StatusOr<InodeId> new_parent_id = inodes_.Id(new_parent);
  if (!new_parent_id.ok()) return new_parent_id.status();
  *request.mutable_parent() = *std::move(parent_id);
  *request.mutable_new_parent() = *std::move(new_parent_id);
  SetName(name, request.mutable_name());
  SetName(new_name, request.mutable_new_name());
  request.set_flags(flags);
  ErrReply reply;
  ReleasesFirst();
  absl::Status status =
      NumberedCall(&Rbfs::StubInterface::Rename, request, &reply);
  if ((flags & RENAME_EXCHANGE) == 0 || !status.ok()) {
    TrackName(parent, name, status, false);
    TrackName(new_parent, new_name, status, true);
  }
  if (status.ok()) {
    // Both inodes' ctime moved, and a replaced one lost a link.
    EraseChild(parent, name);
    EraseChild(new_parent, new_name);
    coherence_.Renamed(parent, name, new_parent, new_name,
                       (flags & RENAME_EXCHANGE) != 0);
  }
  return status;
}

absl::StatusOr<Attr> MountCore::Link(uint64_t ino, uint64_t new_parent,
                                     absl::string_view new_name) {
  LinkRequest request;
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  if (!id.ok()) return id.status();
  absl::StatusOr<InodeId> new_parent_id = inodes_.Id(new_parent);
  if (!new_parent_id.ok()) return new_parent_id.status();
  *request.mutable_id() = *std::move(id);
  *request.mutable_new_parent() = *std::move(new_parent_id);
  SetName(new_name, request.mutable_new_name());
  attrs_.Erase(ino);
  EntryReply reply;
  const uint64_t ticket = attrs_.Ticket();
  absl::Status status =
      NumberedCall(&Rbfs::StubInterface::Link, request, &reply);
  TrackName(new_parent, new_name, status, true);
  return Remembered(status, reply, ticket);
}

absl::StatusOr<OpenedFile> MountCore::Open(uint64_t ino, uint32_t flags,
                                           const Caller& caller) {
  OpenRequest request;
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  if (!id.ok()) return id.status();
  *request.mutable_id() = *std::move(id);
  request.set_flags(flags);
  *request.mutable_caller() = caller;
  // The handle number makes a repeated open count once.
  const uint64_t handle = session_->NewHandle();
  request.set_session(session_->id());
  request.set_handle(handle);
  OpenedFile file;
  file.id = request.id();
  file.handle = handle;
  if ((flags & O_TRUNC) != 0) attrs_.EraseWritten(ino);
  const std::optional<Attr> known = attrs_.Get(ino);
  // A small file read through the page cache comes whole with the reply,
  // unless the kernel still has its pages (open_data_cache.h).
  if ((flags & O_ACCMODE) != O_WRONLY && (flags & (O_TRUNC | O_DIRECT)) == 0 &&
      coherence_.synced() && open_data_.Wanted(ino, known)) {
    request.set_data_up_to(open_data_up_to_);
  }
  const uint64_t ticket = attrs_.Ticket();
  AttrReply reply;
  absl::Status status = rpc_->Call(&Rbfs::StubInterface::Open, request, &reply,
                                   Idempotency::kIdempotent);
  if (!status.ok()) return status;
  file.changed = !known.has_value() || !SameVersion(*known, reply.attr());
  inodes_.Refresh(reply.attr());
  attrs_.Put(reply.attr(), absl::Now(), ticket);
  if (reply.has_data()) {
    open_data_.Keep(handle, reply.attr(), std::move(*reply.mutable_data()));
  }
  inodes_.Opened(ino);
  session_->Opened(handle, request.id(), flags);
  return file;
}

void MountCore::CancelOpen(uint64_t ino, const OpenedFile& file) {
  open_data_.Drop(file.handle);
  inodes_.Released(ino);
  session_->Released(file.handle);
  ReleaseOnServer(file.id, file.handle);
}

absl::StatusOr<CreatedFile> MountCore::Create(uint64_t parent,
                                              absl::string_view name,
                                              uint32_t mode, uint32_t flags,
                                              const Caller& caller) {
  MkNodRequest request;
  absl::StatusOr<InodeId> parent_id = inodes_.Id(parent);
  if (!parent_id.ok()) return parent_id.status();
  *request.mutable_parent() = *std::move(parent_id);
  SetName(name, request.mutable_name());
  request.set_mode(S_IFREG | (mode & 07777));
  *request.mutable_caller() = caller;
  request.set_exclusive((flags & O_EXCL) != 0);
  request.set_open(true);
  const uint64_t handle = session_->NewHandle();
  request.set_handle(handle);
  EntryReply reply;
  const uint64_t ticket = attrs_.Ticket();
  absl::Status status =
      NumberedCall(&Rbfs::StubInterface::MkNod, request, &reply);
  TrackName(parent, name, status, true);
  if (!status.ok()) return status;
  inodes_.Remember(reply.attr(), reply.as_of());
  attrs_.Put(reply.attr(), absl::Now(), ticket);
  inodes_.Opened(reply.attr().id().ino());
  session_->Opened(handle, reply.attr().id(), flags);
  CreatedFile file;
  file.attr = std::move(*reply.mutable_attr());
  file.handle = handle;
  return file;
}

void MountCore::CancelCreate(const CreatedFile& file) {
  const uint64_t ino = file.attr.id().ino();
  inodes_.Forget(ino, 1);
  inodes_.Released(ino);
  session_->Released(file.handle);
  ReleaseOnServer(file.attr.id(), file.handle);
}

void MountCore::ReleaseOnServer(const InodeId& id, uint64_t handle) {
  ReleaseRequest request;
  *request.mutable_id() = id;
  request.set_session(session_->id());
  request.set_handle(handle);
  // Nobody waits for a release; queued behind the handle's open if that
  // went in the background.
  background_.Run([this, request] {
    ErrReply reply;
    absl::Status status = rpc_->Call(&Rbfs::StubInterface::Release, request,
                                     &reply, Idempotency::kIdempotent);
    if (!status.ok()) {
      // The server releases it when the session's lease runs out.
      LogWarning(
          "release of inode %d dropped (%s): the server lets go of it "
          "when this mount's session ends",
          request.id().ino(), status.ToString());
    }
  });
}

void MountCore::Release(uint64_t ino, uint64_t handle) {
  // Read the id first: the last release may drop the table entry.
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  open_data_.Drop(handle);
  inodes_.Released(ino);
  session_->Released(handle);
  if (id.ok()) ReleaseOnServer(*id, handle);
}

absl::Status MountCore::Flush(uint64_t ino) {
  const int err = coherence_.commit_error();
  if (err == 0) return absl::OkStatus();
  if (!inodes_.TakeWritten(ino)) return absl::OkStatus();
  return ErrnoError(err,
                    "the server's commits failed after this file was "
                    "written");
}

absl::Status MountCore::Fsync(uint64_t ino) {
  FsyncRequest request;
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  if (!id.ok()) return id.status();
  *request.mutable_id() = *std::move(id);
  ErrReply reply;
  absl::Status synced = rpc_->Call(&Rbfs::StubInterface::Fsync, request, &reply,
                                   Idempotency::kIdempotent);
  // Durable, or the failure reported here; either way not close's to tell.
  inodes_.Synced(ino);
  return synced;
}

absl::Status MountCore::ReadDir(uint64_t ino, off_t offset, size_t buffer_bytes,
                                bool plus, DirFiller add) {
  ReadDirRequest request;
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  if (!id.ok()) return id.status();
  *request.mutable_id() = *std::move(id);
  request.set_cookie(offset > kDotDotOffset ? offset : 0);
  request.set_with_attrs(plus);
  // A rough entry size keeps the server from sending far more than fits.
  const size_t estimate = buffer_bytes / (plus ? 160 : 32) + 1;
  request.set_max_entries(
      static_cast<uint32_t>(std::min<size_t>(estimate, kMaxDirEntriesPerCall)));

  const uint64_t ticket = attrs_.Ticket();
  size_t added = 0;
  bool first = true;
  bool full = false;
  while (!full) {
    ReadDirReply reply;
    absl::Status status = rpc_->Call(&Rbfs::StubInterface::ReadDir, request,
                                     &reply, Idempotency::kIdempotent);
    if (!status.ok()) {
      // Entries already placed are returned; the error shows on the next
      // call.
      if (added == 0) return status;
      break;
    }
    if (first && offset < kDotDotOffset) {
      // The kernel takes no reference for "." and "..", so they carry no
      // attributes.
      if (offset < kDotOffset) {
        full = !add(DirSlot{".", ino, S_IFDIR, nullptr, kDotOffset});
        if (!full) ++added;
      }
      if (!full) {
        const uint64_t parent = reply.parent() ? reply.parent() : ino;
        full = !add(DirSlot{"..", parent, S_IFDIR, nullptr, kDotDotOffset});
        if (!full) ++added;
      }
    }
    first = false;
    for (const DirEntry& dirent : reply.entries()) {
      if (full) break;
      const Attr* attr = plus && dirent.has_attr() ? &dirent.attr() : nullptr;
      if (!add(DirSlot{dirent.name().c_str(), dirent.ino(), dirent.type(), attr,
                       static_cast<off_t>(dirent.cookie())})) {
        full = true;
        break;
      }
      ++added;
      if (attr != nullptr && attr->id().ino() != 0) {
        inodes_.Remember(*attr, reply.as_of());
        attrs_.Put(*attr, absl::Now(), ticket);
      }
      request.set_cookie(dirent.cookie());
    }
    if (reply.eof() || reply.entries_size() == 0) break;
  }
  return absl::OkStatus();
}

absl::Status MountCore::Fallocate(uint64_t ino, uint32_t mode, uint64_t offset,
                                  uint64_t length) {
  FallocateRequest request;
  request.set_mode(mode);
  request.set_offset(offset);
  request.set_length(length);
  // The same range allocated, punched or zeroed twice ends the same.
  return AttrChangingCall(&Rbfs::StubInterface::Fallocate, ino, request)
      .status();
}

absl::StatusOr<size_t> MountCore::CopyRange(uint64_t in, uint64_t in_offset,
                                            uint64_t out, uint64_t out_offset,
                                            size_t length) {
  CopyRangeRequest request;
  absl::StatusOr<InodeId> in_id = inodes_.Id(in);
  if (!in_id.ok()) return in_id.status();
  absl::StatusOr<InodeId> out_id = inodes_.Id(out);
  if (!out_id.ok()) return out_id.status();
  *request.mutable_in() = *std::move(in_id);
  *request.mutable_out() = *std::move(out_id);
  request.set_in_offset(in_offset);
  request.set_out_offset(out_offset);
  request.set_length(length);
  attrs_.EraseWritten(out);
  // The source's atime may move, as a read's would.
  attrs_.EraseIfAtimeMoves(in);
  const uint64_t ticket = attrs_.Ticket();
  WriteReply reply;
  // Copying the same bytes to the same place twice ends the same.
  absl::Status status = rpc_->Call(&Rbfs::StubInterface::CopyRange, request,
                                   &reply, Idempotency::kIdempotent);
  if (!status.ok()) return status;
  inodes_.Refresh(reply.attr());
  attrs_.Put(reply.attr(), absl::Now(), ticket);
  return reply.written();
}

absl::StatusOr<uint64_t> MountCore::Seek(uint64_t ino, uint64_t offset,
                                         uint32_t whence) {
  SeekRequest request;
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  if (!id.ok()) return id.status();
  *request.mutable_id() = *std::move(id);
  request.set_offset(offset);
  request.set_whence(whence);
  SeekReply reply;
  absl::Status status = rpc_->Call(&Rbfs::StubInterface::Seek, request, &reply,
                                   Idempotency::kIdempotent);
  if (!status.ok()) return status;
  return reply.offset();
}

absl::StatusOr<StatFsReply> MountCore::StatFs() {
  StatFsReply reply;
  absl::Status status =
      rpc_->Call(&Rbfs::StubInterface::StatFs, StatFsRequest(), &reply,
                 Idempotency::kIdempotent);
  if (!status.ok()) return status;
  return reply;
}

absl::Status MountCore::Read(uint64_t ino, uint64_t handle, uint64_t offset,
                             size_t size, IoContext::Finisher done) {
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  if (!id.ok()) return id.status();
  std::shared_ptr<const OpenDataCache::Contents> kept = open_data_.Find(handle);
  // The file as the mount knows it, looked up only where it matters: with
  // open data on, a read from the start that reaches the end leaves the
  // kernel holding that version whole, and kept contents answer only while
  // they are of it.
  std::optional<Attr> version;
  if (((offset == 0 && open_data_up_to_ != 0) || kept != nullptr) &&
      coherence_.synced()) {
    version = attrs_.Get(ino);
  }
  if (offset == 0 && version.has_value()) {
    done = [this, ino, whole = *version, done = std::move(done)](
               IoContext& context, absl::StatusOr<size_t> result) {
      if (result.ok() && *result >= whole.size()) {
        open_data_.ReadWhole(ino, whole);
      }
      done(context, std::move(result));
    };
  }
  BeginRequest();
  if (kept != nullptr && version.has_value() &&
      SameVersion(*version, kept->attr)) {
    answers_.data_hits.Add();
    std::shared_ptr<IoContext> context = IoContext::CreateRead(
        offset, size, chunk_size_, &buffers_, std::move(done));
    // The hook holds `kept` until the chunks filled from it are done.
    context->SetReleaseHook([this, kept] { EndRequest(); });
    ContentsSender sender(kept->data);
    context->Start(sender);
    return absl::OkStatus();
  }
  answers_.data_misses.Add();
  auto moved = std::make_shared<ReplyAttrs>();
  // Drawn before the chunks go: an invalidation that arrives while they
  // travel keeps their (older) attributes out.
  const uint64_t ticket = attrs_.Ticket();
  std::shared_ptr<IoContext> context = IoContext::CreateRead(
      offset, size, chunk_size_, &buffers_,
      [this, ino, moved, ticket, done = std::move(done)](
          IoContext& context, absl::StatusOr<size_t> result) {
        // The server moves atime on a read as relatime says, and then says
        // what the attributes became: the kernel's next GETATTR (it drops
        // the atime after a read) needs no round trip. Kept before the
        // kernel hears of the read, which it may follow at once.
        if (std::optional<Attr> after = moved->Latest(); after.has_value()) {
          attrs_.Put(*after, absl::Now(), ticket);
        } else {
          attrs_.EraseIfAtimeMoves(ino);
        }
        done(context, std::move(result));
      });
  context->SetReleaseHook([this] { EndRequest(); });
  GrpcChunkSender sender(rpc_, &limiter_, *id, moved);
  context->Start(sender);
  return absl::OkStatus();
}

absl::Status MountCore::Write(uint64_t ino, uint64_t offset, const char* data,
                              size_t size, IoContext::Finisher done,
                              bool kill_suidgid) {
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  if (!id.ok()) return id.status();
  BeginRequest();
  attrs_.EraseWritten(ino);
  auto written = std::make_shared<ReplyAttrs>();
  // Drawn before the chunks go: an invalidation that arrives while they
  // travel keeps their attributes out.
  const uint64_t ticket = attrs_.Ticket();
  // The size the kernel knows; it holds the inode's lock across a write
  // that extends the file, so no other write of this mount moves it.
  const std::optional<uint64_t> size_before = inodes_.Size(ino);
  std::shared_ptr<IoContext> context = IoContext::CreateWrite(
      offset, data, size, chunk_size_, &buffers_,
      [this, ino, written, ticket, size_before, end = offset + size,
       done = std::move(done)](IoContext& context,
                               absl::StatusOr<size_t> result) {
        // A write the caller is told failed must not leave the file longer:
        // chunks that landed past the old end are cut back before the
        // reply, as the kernel does after a failed extending direct write
        // (fuse_do_truncate). Off the completion thread: it is a call.
        if (std::optional<Attr> after = written->Latest();
            !result.ok() && after.has_value() && size_before.has_value() &&
            end > *size_before && after->size() > *size_before) {
          background_.Run([this, ino, cut = *size_before,
                           keep = context.shared_from_this(), result, done] {
            CutBackFailedWrite(ino, cut);
            done(*keep, result);
          });
          return;
        }
        // Size, mtime and ctime moved. The replies said what they became,
        // so the kernel's next GETATTR (it drops the attributes after a
        // write) and its security.capability probe before the next write
        // need no round trip; kept before the kernel hears of the write,
        // as those follow at once. They replace a GETATTR answered while
        // the write was in flight, which has an older ctime.
        if (std::optional<Attr> after = written->Latest(); after.has_value()) {
          attrs_.Put(*after, absl::Now(), ticket);
        } else {
          attrs_.EraseWritten(ino);
        }
        done(context, std::move(result));
      },
      [this, ino](uint64_t end) { inodes_.RaiseSize(ino, end); });
  context->SetReleaseHook([this] { EndRequest(); });
  GrpcChunkSender sender(rpc_, &limiter_, *id, written, kill_suidgid);
  context->Start(sender);
  return absl::OkStatus();
}

void MountCore::CutBackFailedWrite(uint64_t ino, uint64_t size) {
  AttrChanges changes;
  changes.valid = SETATTR_SIZE;
  changes.size = size;
  // As root: the truncate undoes what the caller's own write did.
  absl::StatusOr<Attr> cut = SetAttr(ino, changes, Caller());
  if (!cut.ok()) {
    LogWarning("inode %d keeps the chunks of a failed write past %d: %s", ino,
               size, cut.status().ToString());
  }
}

}  // namespace rbfs
