#include "server/rpc/rbfs_service.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/time/clock.h"
#include "common/errno_status.h"
#include "common/log.h"
#include "common/token_file.h"
#include "server/rpc/read_reply.h"
#include "server/rpc/wire_conversion.h"

namespace rbfs {
namespace {

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

}  // namespace

RbfsService::RbfsService(Filesystem* fs, AccessOptions access)
    : fs_(fs), access_(access) {
  MarkMethodStreamed(
      ReadMethodIndex(),
      NewReadForWireHandler(
          [this](grpc::ServerContext* ctx, const ReadRequest* req,
                 ReadReply* reply) { return Read(ctx, req, reply); }));
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
  return Answer(fs_->Lookup(RefOf(req->parent()), req->name()),
                fs_->block_size(), reply);
}

grpc::Status RbfsService::GetAttr(grpc::ServerContext* ctx,
                                  const GetAttrRequest* req, AttrReply* reply) {
  if (auto refused = Refuse(ctx, "GetAttr", Effect::kReads, reply)) {
    return *refused;
  }
  return Answer(fs_->GetAttr(RefOf(req->id())), fs_->block_size(), reply);
}

grpc::Status RbfsService::SetAttr(grpc::ServerContext* ctx,
                                  const SetAttrRequest* req, AttrReply* reply) {
  if (auto refused = Refuse(ctx, "SetAttr", Effect::kWrites, reply)) {
    return *refused;
  }
  if (access_.squash_root &&
      (((req->valid() & SETATTR_UID) != 0 && req->uid() == 0) ||
       ((req->valid() & SETATTR_GID) != 0 && req->gid() == 0))) {
    // Squashed root must not be able to create root-owned (setuid) files.
    return Answer(ErrnoError(EPERM, "root is squashed"), reply);
  }
  return Answer(fs_->SetAttr(RefOf(req->id()), SetAttrArgsOf(*req)),
                fs_->block_size(), reply);
}

grpc::Status RbfsService::MkNod(grpc::ServerContext* ctx,
                                const MkNodRequest* req, EntryReply* reply) {
  if (auto refused = Refuse(ctx, "MkNod", Effect::kWrites, reply)) {
    return *refused;
  }
  return WithDirs(
      fs_, {RefOf(req->parent())},
      Answer(fs_->MkNod(RefOf(req->parent()), req->name(), req->mode(),
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
      fs_, {RefOf(req->parent())},
      Answer(fs_->MkDir(RefOf(req->parent()), req->name(), req->mode(),
                        OwnerOf(req->caller()), CallOf(req->call())),
             fs_->block_size(), reply),
      reply);
}

grpc::Status RbfsService::Unlink(grpc::ServerContext* ctx,
                                 const UnlinkRequest* req, ErrReply* reply) {
  if (auto refused = Refuse(ctx, "Unlink", Effect::kWrites, reply)) {
    return *refused;
  }
  return WithDirs(fs_, {RefOf(req->parent())},
                  Answer(fs_->Unlink(RefOf(req->parent()), req->name(),
                                     CallOf(req->call())),
                         reply),
                  reply);
}

grpc::Status RbfsService::RmDir(grpc::ServerContext* ctx,
                                const RmDirRequest* req, ErrReply* reply) {
  if (auto refused = Refuse(ctx, "RmDir", Effect::kWrites, reply)) {
    return *refused;
  }
  return WithDirs(
      fs_, {RefOf(req->parent())},
      Answer(fs_->RmDir(RefOf(req->parent()), req->name(), CallOf(req->call())),
             reply),
      reply);
}

grpc::Status RbfsService::Rename(grpc::ServerContext* ctx,
                                 const RenameRequest* req, ErrReply* reply) {
  if (auto refused = Refuse(ctx, "Rename", Effect::kWrites, reply)) {
    return *refused;
  }
  return WithDirs(fs_, {RefOf(req->parent()), RefOf(req->new_parent())},
                  Answer(fs_->Rename(RefOf(req->parent()), req->name(),
                                     RefOf(req->new_parent()), req->new_name(),
                                     req->flags(), CallOf(req->call())),
                         reply),
                  reply);
}

grpc::Status RbfsService::Link(grpc::ServerContext* ctx, const LinkRequest* req,
                               EntryReply* reply) {
  if (auto refused = Refuse(ctx, "Link", Effect::kWrites, reply)) {
    return *refused;
  }
  return WithDirs(fs_, {RefOf(req->new_parent())},
                  Answer(fs_->Link(RefOf(req->id()), RefOf(req->new_parent()),
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
      fs_, {RefOf(req->parent())},
      Answer(fs_->Symlink(RefOf(req->parent()), req->name(), req->target(),
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
  absl::StatusOr<std::string> target = fs_->ReadLink(RefOf(req->id()));
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
      RefOf(req->id()), req->cookie(), req->max_entries(), req->with_attrs());
  if (!listing.ok()) return Answer(listing.status(), reply);
  FillReadDir(std::move(*listing), req->with_attrs(), fs_->block_size(), reply);
  return grpc::Status::OK;
}

grpc::Status RbfsService::StatFs(grpc::ServerContext* ctx, const StatFsRequest*,
                                 StatFsReply* reply) {
  if (auto refused = Refuse(ctx, "StatFs", Effect::kReads, reply)) {
    return *refused;
  }
  FillStatFs(fs_->StatFs(), reply);
  return grpc::Status::OK;
}

grpc::Status RbfsService::Fsync(grpc::ServerContext* ctx,
                                const FsyncRequest* req, ErrReply* reply) {
  if (auto refused = Refuse(ctx, "Fsync", Effect::kReads, reply)) {
    return *refused;
  }
  return Answer(fs_->Fsync(RefOf(req->id())), reply);
}

grpc::Status RbfsService::Open(grpc::ServerContext* ctx, const OpenRequest* req,
                               AttrReply* reply) {
  const Effect effect =
      OpensForChange(req->flags()) ? Effect::kWrites : Effect::kReads;
  if (auto refused = Refuse(ctx, "Open", effect, reply)) {
    return *refused;
  }
  return Answer(
      fs_->Open(RefOf(req->id()), req->flags(),
                OpenHandle{req->session(), req->handle(), req->reclaim()}),
      fs_->block_size(), reply);
}

grpc::Status RbfsService::Release(grpc::ServerContext* ctx,
                                  const ReleaseRequest* req, ErrReply* reply) {
  if (auto refused = Refuse(ctx, "Release", Effect::kReads, reply)) {
    return *refused;
  }
  return Answer(
      fs_->Release(RefOf(req->id()), OpenHandle{req->session(), req->handle()}),
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
  FillKeepAlive(*result, reply);
  return grpc::Status::OK;
}

grpc::Status RbfsService::Read(grpc::ServerContext* ctx, const ReadRequest* req,
                               ReadReply* reply) {
  if (auto refused = Refuse(ctx, "Read", Effect::kReads, reply)) {
    return *refused;
  }
  std::string* data = reply->mutable_data();
  absl::Status s =
      fs_->Read(RefOf(req->id()), req->offset(), req->length(), data);
  if (!s.ok()) {
    data->clear();
    return Answer(s, reply);
  }
  return grpc::Status::OK;
}

grpc::Status RbfsService::Write(grpc::ServerContext* ctx,
                                const WriteRequest* req, WriteReply* reply) {
  if (auto refused = Refuse(ctx, "Write", Effect::kWrites, reply)) {
    return *refused;
  }
  absl::StatusOr<uint64_t> size =
      fs_->Write(RefOf(req->id()), req->offset(), req->data());
  if (!size.ok()) return Answer(size.status(), reply);
  reply->set_written(req->data().size());
  reply->set_size(*size);
  return grpc::Status::OK;
}

}  // namespace rbfs
