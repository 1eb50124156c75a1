#include "server/rpc/rbfs_service.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <limits>

#include "absl/time/clock.h"
#include "common/errno_status.h"
#include "common/log.h"
#include "common/token_file.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace rbfs {
namespace {

InodeRef Ref(const InodeId& id) { return InodeRef{id.ino(), id.generation()}; }

void SetTime(Timespec* t, int64_t ns) {
  int64_t sec = ns / 1000000000;
  int64_t nsec = ns % 1000000000;
  if (nsec < 0) {
    nsec += 1000000000;
    --sec;
  }
  t->set_sec(sec);
  t->set_nsec(static_cast<uint32_t>(nsec));
}

// Times past what int64 nanoseconds can hold (about years 1678 to 2262)
// saturate: a client may send any seconds value.
int64_t ToNs(const Timespec& t) {
  constexpr int64_t kMaxSec =
      std::numeric_limits<int64_t>::max() / 1000000000 - 1;
  const int64_t sec = std::clamp<int64_t>(t.sec(), -kMaxSec, kMaxSec);
  return sec * 1000000000 + std::min<uint32_t>(t.nsec(), 999999999);
}

void FillAttr(const Entry& e, uint32_t block_size, Attr* a) {
  const meta::InodeRecord& r = e.inode;
  a->mutable_id()->set_ino(e.ino);
  a->mutable_id()->set_generation(r.generation());
  a->set_mode(r.mode());
  a->set_nlink(r.nlink());
  a->set_uid(r.uid());
  a->set_gid(r.gid());
  a->set_size(r.size());
  a->set_blocks(r.blocks_used() * (block_size / 512));
  a->set_blksize(block_size);
  a->set_rdev(r.rdev());
  SetTime(a->mutable_atime(), r.atime_ns());
  SetTime(a->mutable_mtime(), r.mtime_ns());
  SetTime(a->mutable_ctime(), r.ctime_ns());
}

template <typename Reply>
grpc::Status Answer(const absl::StatusOr<Entry>& e, uint32_t block_size,
                    Reply* reply) {
  if (!e.ok()) {
    reply->set_err(StatusToErrno(e.status()));
  } else {
    FillAttr(*e, block_size, reply->mutable_attr());
  }
  return grpc::Status::OK;
}

template <typename Reply>
grpc::Status Answer(const absl::Status& s, Reply* reply) {
  reply->set_err(StatusToErrno(s));
  return grpc::Status::OK;
}

// Adds the directories a successful call changed, as they are now, each
// once (a rename within one directory names it twice). A directory that
// cannot be read (removed meanwhile) is left out: the mount then asks for it
// as it would have anyway.
template <typename Reply>
grpc::Status WithDirs(Filesystem* fs, std::initializer_list<InodeRef> dirs,
                      grpc::Status answered, Reply* reply) {
  if (reply->err() != 0) return answered;
  for (auto dir = dirs.begin(); dir != dirs.end(); ++dir) {
    const bool named_before = std::any_of(
        dirs.begin(), dir,
        [&](const InodeRef& earlier) { return earlier.ino == dir->ino; });
    if (named_before) continue;
    absl::StatusOr<Entry> e = fs->GetAttr(*dir);
    if (e.ok()) FillAttr(*e, fs->block_size(), reply->add_dirs());
  }
  return answered;
}

bool OpensForChange(uint32_t flags) {
  return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) != 0;
}

CallRef CallOf(const CallId& c) { return CallRef{c.session(), c.seq()}; }

// The position of Read among the service's methods, as the generated code
// numbers them (declaration order).
int ReadMethodIndex() {
  return ReadRequest::descriptor()
      ->file()
      ->FindServiceByName("Rbfs")
      ->FindMethodByName("Read")
      ->index();
}

// `reply` in wire format, its data not copied: a slice holding the
// field's tag and length, then a slice that owns the data's buffer. ReadReply
// has no other field to encode when err is 0 (rbfs_service_test checks).
grpc::ByteBuffer SerializeWithoutCopy(ReadReply reply) {
  using google::protobuf::internal::WireFormatLite;
  using google::protobuf::io::CodedOutputStream;
  if (reply.err() != 0 || reply.data().empty()) {
    grpc::Slice whole(reply.SerializeAsString());
    return grpc::ByteBuffer(&whole, 1);
  }
  auto* data = new std::string(std::move(*reply.mutable_data()));
  uint8_t header[16];
  uint8_t* end = CodedOutputStream::WriteTagToArray(
      WireFormatLite::MakeTag(ReadReply::kDataFieldNumber,
                              WireFormatLite::WIRETYPE_LENGTH_DELIMITED),
      header);
  end = CodedOutputStream::WriteVarint32ToArray(
      static_cast<uint32_t>(data->size()), end);
  grpc::Slice slices[2] = {
      grpc::Slice(header, end - header),
      grpc::Slice(
          data->data(), data->size(),
          [](void* owned) { delete static_cast<std::string*>(owned); }, data),
  };
  return grpc::ByteBuffer(slices, 2);
}

}  // namespace

RbfsService::RbfsService(Filesystem* fs, AccessOptions access)
    : fs_(fs), access_(access) {
  MarkMethodStreamed(
      ReadMethodIndex(),
      new grpc::internal::StreamedUnaryHandler<ReadRequest, grpc::ByteBuffer>(
          [this](grpc::ServerContext* ctx,
                 grpc::ServerUnaryStreamer<ReadRequest, grpc::ByteBuffer>*
                     stream) { return ReadForWire(ctx, stream); }));
}

template <typename Reply>
std::optional<grpc::Status> RbfsService::Refuse(grpc::ServerContext* ctx,
                                                const char* method,
                                                Effect effect, Reply* reply) {
  if (access_.authenticator != nullptr) {
    absl::string_view authorization;
    const auto& metadata = ctx->client_metadata();
    auto it = metadata.find(std::string(kAuthorizationKey));
    if (it != metadata.end()) {
      authorization = absl::string_view(it->second.data(), it->second.size());
    }
    absl::Status admitted = access_.authenticator->Check(authorization);
    if (!admitted.ok()) {
      LogRefusal(method, ctx->peer(), admitted.message());
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          std::string(admitted.message()));
    }
  }
  if (effect == Effect::kWrites && access_.read_only) {
    reply->set_err(EROFS);
    return grpc::Status::OK;
  }
  return std::nullopt;
}

void RbfsService::LogRefusal(const char* method, const std::string& peer,
                             absl::string_view reason) {
  uint64_t unlogged;
  {
    absl::MutexLock lock(&refusal_mu_);
    const absl::Time now = absl::Now();
    if (now - last_refusal_log_ < absl::Seconds(1)) {
      ++unlogged_refusals_;
      return;
    }
    last_refusal_log_ = now;
    unlogged = unlogged_refusals_;
    unlogged_refusals_ = 0;
  }
  LogWarning("refused %s from %s: %s (%d more refused calls not logged)",
             method, peer, reason, unlogged);
}

Owner RbfsService::OwnerOf(const Caller& caller) const {
  Owner owner{caller.uid(), caller.gid()};
  if (access_.squash_root) {
    if (owner.uid == 0) owner.uid = access_.squash_root->uid;
    if (owner.gid == 0) owner.gid = access_.squash_root->gid;
  }
  return owner;
}

grpc::Status RbfsService::Lookup(grpc::ServerContext* ctx,
                                 const LookupRequest* req, EntryReply* reply) {
  if (auto refused = Refuse(ctx, "Lookup", Effect::kReads, reply)) {
    return *refused;
  }
  return Answer(fs_->Lookup(Ref(req->parent()), req->name()), fs_->block_size(),
                reply);
}

grpc::Status RbfsService::GetAttr(grpc::ServerContext* ctx,
                                  const GetAttrRequest* req, AttrReply* reply) {
  if (auto refused = Refuse(ctx, "GetAttr", Effect::kReads, reply)) {
    return *refused;
  }
  return Answer(fs_->GetAttr(Ref(req->id())), fs_->block_size(), reply);
}

grpc::Status RbfsService::SetAttr(grpc::ServerContext* ctx,
                                  const SetAttrRequest* req, AttrReply* reply) {
  if (auto refused = Refuse(ctx, "SetAttr", Effect::kWrites, reply)) {
    return *refused;
  }
  SetAttrArgs args;
  args.valid = req->valid();
  if (access_.squash_root &&
      (((args.valid & SETATTR_UID) != 0 && req->uid() == 0) ||
       ((args.valid & SETATTR_GID) != 0 && req->gid() == 0))) {
    // Squashed root must not be able to create root-owned (setuid) files.
    return Answer(ErrnoError(EPERM, "root is squashed"), reply);
  }
  args.mode = req->mode();
  args.uid = req->uid();
  args.gid = req->gid();
  args.size = req->size();
  args.atime_ns = ToNs(req->atime());
  args.mtime_ns = ToNs(req->mtime());
  return Answer(fs_->SetAttr(Ref(req->id()), args), fs_->block_size(), reply);
}

grpc::Status RbfsService::MkNod(grpc::ServerContext* ctx,
                                const MkNodRequest* req, EntryReply* reply) {
  if (auto refused = Refuse(ctx, "MkNod", Effect::kWrites, reply)) {
    return *refused;
  }
  return WithDirs(
      fs_, {Ref(req->parent())},
      Answer(fs_->MkNod(Ref(req->parent()), req->name(), req->mode(),
                        req->rdev(), OwnerOf(req->caller()), req->exclusive(),
                        req->open(), CallOf(req->call()),
                        OpenHandle{req->call().session(), req->handle()}),
             fs_->block_size(), reply),
      reply);
}

grpc::Status RbfsService::MkDir(grpc::ServerContext* ctx,
                                const MkDirRequest* req, EntryReply* reply) {
  if (auto refused = Refuse(ctx, "MkDir", Effect::kWrites, reply)) {
    return *refused;
  }
  return WithDirs(
      fs_, {Ref(req->parent())},
      Answer(fs_->MkDir(Ref(req->parent()), req->name(), req->mode(),
                        OwnerOf(req->caller()), CallOf(req->call())),
             fs_->block_size(), reply),
      reply);
}

grpc::Status RbfsService::Unlink(grpc::ServerContext* ctx,
                                 const UnlinkRequest* req, ErrReply* reply) {
  if (auto refused = Refuse(ctx, "Unlink", Effect::kWrites, reply)) {
    return *refused;
  }
  return WithDirs(
      fs_, {Ref(req->parent())},
      Answer(fs_->Unlink(Ref(req->parent()), req->name(), CallOf(req->call())),
             reply),
      reply);
}

grpc::Status RbfsService::RmDir(grpc::ServerContext* ctx,
                                const RmDirRequest* req, ErrReply* reply) {
  if (auto refused = Refuse(ctx, "RmDir", Effect::kWrites, reply)) {
    return *refused;
  }
  return WithDirs(
      fs_, {Ref(req->parent())},
      Answer(fs_->RmDir(Ref(req->parent()), req->name(), CallOf(req->call())),
             reply),
      reply);
}

grpc::Status RbfsService::Rename(grpc::ServerContext* ctx,
                                 const RenameRequest* req, ErrReply* reply) {
  if (auto refused = Refuse(ctx, "Rename", Effect::kWrites, reply)) {
    return *refused;
  }
  return WithDirs(fs_, {Ref(req->parent()), Ref(req->new_parent())},
                  Answer(fs_->Rename(Ref(req->parent()), req->name(),
                                     Ref(req->new_parent()), req->new_name(),
                                     req->flags(), CallOf(req->call())),
                         reply),
                  reply);
}

grpc::Status RbfsService::Link(grpc::ServerContext* ctx, const LinkRequest* req,
                               EntryReply* reply) {
  if (auto refused = Refuse(ctx, "Link", Effect::kWrites, reply)) {
    return *refused;
  }
  return WithDirs(fs_, {Ref(req->new_parent())},
                  Answer(fs_->Link(Ref(req->id()), Ref(req->new_parent()),
                                   req->new_name(), CallOf(req->call())),
                         fs_->block_size(), reply),
                  reply);
}

grpc::Status RbfsService::Symlink(grpc::ServerContext* ctx,
                                  const SymlinkRequest* req,
                                  EntryReply* reply) {
  if (auto refused = Refuse(ctx, "Symlink", Effect::kWrites, reply)) {
    return *refused;
  }
  return WithDirs(
      fs_, {Ref(req->parent())},
      Answer(fs_->Symlink(Ref(req->parent()), req->name(), req->target(),
                          OwnerOf(req->caller()), CallOf(req->call())),
             fs_->block_size(), reply),
      reply);
}

grpc::Status RbfsService::ReadLink(grpc::ServerContext* ctx,
                                   const ReadLinkRequest* req,
                                   ReadLinkReply* reply) {
  if (auto refused = Refuse(ctx, "ReadLink", Effect::kReads, reply)) {
    return *refused;
  }
  absl::StatusOr<std::string> target = fs_->ReadLink(Ref(req->id()));
  if (!target.ok()) return Answer(target.status(), reply);
  reply->set_target(std::move(*target));
  return grpc::Status::OK;
}

grpc::Status RbfsService::ReadDir(grpc::ServerContext* ctx,
                                  const ReadDirRequest* req,
                                  ReadDirReply* reply) {
  if (auto refused = Refuse(ctx, "ReadDir", Effect::kReads, reply)) {
    return *refused;
  }
  absl::StatusOr<DirListing> listing = fs_->ReadDir(
      Ref(req->id()), req->cookie(), req->max_entries(), req->with_attrs());
  if (!listing.ok()) return Answer(listing.status(), reply);
  reply->set_parent(listing->parent);
  reply->set_eof(listing->eof);
  for (DirItem& item : listing->items) {
    DirEntry* e = reply->add_entries();
    e->set_name(std::move(item.name));
    e->set_cookie(item.cookie);
    e->set_ino(item.ino);
    e->set_type(item.type);
    if (req->with_attrs()) {
      FillAttr(Entry{item.ino, std::move(item.inode)}, fs_->block_size(),
               e->mutable_attr());
    }
  }
  return grpc::Status::OK;
}

grpc::Status RbfsService::StatFs(grpc::ServerContext* ctx, const StatFsRequest*,
                                 StatFsReply* reply) {
  if (auto refused = Refuse(ctx, "StatFs", Effect::kReads, reply)) {
    return *refused;
  }
  FsStats st = fs_->StatFs();
  reply->set_block_size(st.block_size);
  reply->set_total_blocks(st.total_blocks);
  reply->set_free_blocks(st.free_blocks);
  reply->set_total_inodes(st.total_inodes);
  reply->set_free_inodes(st.free_inodes);
  reply->set_max_name_length(Filesystem::kMaxNameLength);
  return grpc::Status::OK;
}

grpc::Status RbfsService::Fsync(grpc::ServerContext* ctx,
                                const FsyncRequest* req, ErrReply* reply) {
  if (auto refused = Refuse(ctx, "Fsync", Effect::kReads, reply)) {
    return *refused;
  }
  return Answer(fs_->Fsync(Ref(req->id())), reply);
}

grpc::Status RbfsService::Open(grpc::ServerContext* ctx, const OpenRequest* req,
                               AttrReply* reply) {
  const Effect effect =
      OpensForChange(req->flags()) ? Effect::kWrites : Effect::kReads;
  if (auto refused = Refuse(ctx, "Open", effect, reply)) {
    return *refused;
  }
  return Answer(
      fs_->Open(Ref(req->id()), req->flags(),
                OpenHandle{req->session(), req->handle(), req->reclaim()}),
      fs_->block_size(), reply);
}

grpc::Status RbfsService::Release(grpc::ServerContext* ctx,
                                  const ReleaseRequest* req, ErrReply* reply) {
  if (auto refused = Refuse(ctx, "Release", Effect::kReads, reply)) {
    return *refused;
  }
  return Answer(
      fs_->Release(Ref(req->id()), OpenHandle{req->session(), req->handle()}),
      reply);
}

grpc::Status RbfsService::KeepAlive(grpc::ServerContext* ctx,
                                    const KeepAliveRequest* req,
                                    KeepAliveReply* reply) {
  if (auto refused = Refuse(ctx, "KeepAlive", Effect::kReads, reply)) {
    return *refused;
  }
  absl::StatusOr<KeepAliveResult> result =
      fs_->KeepAlive(req->session(), req->answered_below());
  if (!result.ok()) return Answer(result.status(), reply);
  reply->set_known(result->known);
  reply->set_lease_ms(absl::ToInt64Milliseconds(result->lease));
  return grpc::Status::OK;
}

grpc::Status RbfsService::Read(grpc::ServerContext* ctx, const ReadRequest* req,
                               ReadReply* reply) {
  if (auto refused = Refuse(ctx, "Read", Effect::kReads, reply)) {
    return *refused;
  }
  std::string* data = reply->mutable_data();
  absl::Status s =
      fs_->Read(Ref(req->id()), req->offset(), req->length(), data);
  if (!s.ok()) {
    data->clear();
    return Answer(s, reply);
  }
  return grpc::Status::OK;
}

grpc::Status RbfsService::ReadForWire(
    grpc::ServerContext* ctx,
    grpc::ServerUnaryStreamer<ReadRequest, grpc::ByteBuffer>* stream) {
  ReadRequest request;
  if (!stream->Read(&request)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "no Read request");
  }
  ReadReply reply;
  grpc::Status status = Read(ctx, &request, &reply);
  if (!status.ok()) return status;
  // As the last message, it goes out in one batch with the status.
  stream->Write(SerializeWithoutCopy(std::move(reply)),
                grpc::WriteOptions().set_last_message());
  return grpc::Status::OK;
}

grpc::Status RbfsService::Write(grpc::ServerContext* ctx,
                                const WriteRequest* req, WriteReply* reply) {
  if (auto refused = Refuse(ctx, "Write", Effect::kWrites, reply)) {
    return *refused;
  }
  absl::StatusOr<uint64_t> size =
      fs_->Write(Ref(req->id()), req->offset(), req->data());
  if (!size.ok()) return Answer(size.status(), reply);
  reply->set_written(req->data().size());
  reply->set_size(*size);
  return grpc::Status::OK;
}

}  // namespace rbfs
