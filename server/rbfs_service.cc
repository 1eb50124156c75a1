#include "server/rbfs_service.h"

#include "common/errno_status.h"

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

int64_t ToNs(const Timespec& t) {
  return t.sec() * 1000000000 + std::min<uint32_t>(t.nsec(), 999999999);
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

Owner OwnerOf(const Caller& c) { return Owner{c.uid(), c.gid()}; }

}  // namespace

grpc::Status RbfsService::Lookup(grpc::ServerContext*, const LookupRequest* req,
                                 EntryReply* reply) {
  return Answer(fs_->Lookup(Ref(req->parent()), req->name()), fs_->block_size(),
                reply);
}

grpc::Status RbfsService::GetAttr(grpc::ServerContext*,
                                  const GetAttrRequest* req, AttrReply* reply) {
  return Answer(fs_->GetAttr(Ref(req->id())), fs_->block_size(), reply);
}

grpc::Status RbfsService::SetAttr(grpc::ServerContext*,
                                  const SetAttrRequest* req, AttrReply* reply) {
  SetAttrArgs args;
  args.valid = req->valid();
  args.mode = req->mode();
  args.uid = req->uid();
  args.gid = req->gid();
  args.size = req->size();
  args.atime_ns = ToNs(req->atime());
  args.mtime_ns = ToNs(req->mtime());
  return Answer(fs_->SetAttr(Ref(req->id()), args), fs_->block_size(), reply);
}

grpc::Status RbfsService::MkNod(grpc::ServerContext*, const MkNodRequest* req,
                                EntryReply* reply) {
  return Answer(
      fs_->MkNod(Ref(req->parent()), req->name(), req->mode(), req->rdev(),
                 OwnerOf(req->caller()), req->exclusive(), req->open()),
      fs_->block_size(), reply);
}

grpc::Status RbfsService::MkDir(grpc::ServerContext*, const MkDirRequest* req,
                                EntryReply* reply) {
  return Answer(fs_->MkDir(Ref(req->parent()), req->name(), req->mode(),
                           OwnerOf(req->caller())),
                fs_->block_size(), reply);
}

grpc::Status RbfsService::Unlink(grpc::ServerContext*, const UnlinkRequest* req,
                                 ErrReply* reply) {
  return Answer(fs_->Unlink(Ref(req->parent()), req->name()), reply);
}

grpc::Status RbfsService::RmDir(grpc::ServerContext*, const RmDirRequest* req,
                                ErrReply* reply) {
  return Answer(fs_->RmDir(Ref(req->parent()), req->name()), reply);
}

grpc::Status RbfsService::Rename(grpc::ServerContext*, const RenameRequest* req,
                                 ErrReply* reply) {
  return Answer(
      fs_->Rename(Ref(req->parent()), req->name(), Ref(req->new_parent()),
                  req->new_name(), req->flags()),
      reply);
}

grpc::Status RbfsService::Link(grpc::ServerContext*, const LinkRequest* req,
                               EntryReply* reply) {
  return Answer(
      fs_->Link(Ref(req->id()), Ref(req->new_parent()), req->new_name()),
      fs_->block_size(), reply);
}

grpc::Status RbfsService::Symlink(grpc::ServerContext*,
                                  const SymlinkRequest* req,
                                  EntryReply* reply) {
  return Answer(fs_->Symlink(Ref(req->parent()), req->name(), req->target(),
                             OwnerOf(req->caller())),
                fs_->block_size(), reply);
}

grpc::Status RbfsService::ReadLink(grpc::ServerContext*,
                                   const ReadLinkRequest* req,
                                   ReadLinkReply* reply) {
  absl::StatusOr<std::string> target = fs_->ReadLink(Ref(req->id()));
  if (!target.ok()) return Answer(target.status(), reply);
  reply->set_target(std::move(*target));
  return grpc::Status::OK;
}

grpc::Status RbfsService::ReadDir(grpc::ServerContext*,
                                  const ReadDirRequest* req,
                                  ReadDirReply* reply) {
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

grpc::Status RbfsService::StatFs(grpc::ServerContext*, const StatFsRequest*,
                                 StatFsReply* reply) {
  FsStats st = fs_->StatFs();
  reply->set_block_size(st.block_size);
  reply->set_total_blocks(st.total_blocks);
  reply->set_free_blocks(st.free_blocks);
  reply->set_total_inodes(st.total_inodes);
  reply->set_free_inodes(st.free_inodes);
  reply->set_max_name_length(Filesystem::kMaxNameLength);
  return grpc::Status::OK;
}

grpc::Status RbfsService::Fsync(grpc::ServerContext*, const FsyncRequest* req,
                                ErrReply* reply) {
  return Answer(fs_->Fsync(Ref(req->id())), reply);
}

grpc::Status RbfsService::Open(grpc::ServerContext*, const OpenRequest* req,
                               AttrReply* reply) {
  return Answer(fs_->Open(Ref(req->id()), req->flags()), fs_->block_size(),
                reply);
}

grpc::Status RbfsService::Release(grpc::ServerContext*,
                                  const ReleaseRequest* req, ErrReply* reply) {
  return Answer(fs_->Release(Ref(req->id())), reply);
}

grpc::Status RbfsService::Read(grpc::ServerContext*, const ReadRequest* req,
                               ReadReply* reply) {
  std::string* data = reply->mutable_data();
  absl::Status s =
      fs_->Read(Ref(req->id()), req->offset(), req->length(), data);
  if (!s.ok()) {
    data->clear();
    return Answer(s, reply);
  }
  return grpc::Status::OK;
}

grpc::Status RbfsService::Write(grpc::ServerContext*, const WriteRequest* req,
                                WriteReply* reply) {
  absl::StatusOr<uint64_t> size =
      fs_->Write(Ref(req->id()), req->offset(), req->data());
  if (!size.ok()) return Answer(size.status(), reply);
  reply->set_written(req->data().size());
  reply->set_size(*size);
  return grpc::Status::OK;
}

}  // namespace rbfs
