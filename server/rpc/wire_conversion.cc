#include "server/rpc/wire_conversion.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <utility>

namespace rbfs {
namespace {

constexpr int64_t kNsPerSec = 1000000000;

}  // namespace

int64_t ToNs(const Timespec& t) {
  constexpr int64_t kMaxSec =
      std::numeric_limits<int64_t>::max() / kNsPerSec - 1;
  const int64_t sec = std::clamp<int64_t>(t.sec(), -kMaxSec, kMaxSec);
  return sec * kNsPerSec + std::min<uint32_t>(t.nsec(), kNsPerSec - 1);
}

void SetTime(Timespec* t, int64_t ns) {
  int64_t sec = ns / kNsPerSec;
  int64_t nsec = ns % kNsPerSec;
  if (nsec < 0) {
    nsec += kNsPerSec;
    --sec;
  }
  t->set_sec(sec);
  t->set_nsec(static_cast<uint32_t>(nsec));
}

void FillAttr(const Entry& e, uint32_t block_size, Attr* attr) {
  const meta::InodeRecord& r = e.inode;
  attr->mutable_id()->set_ino(e.ino);
  attr->mutable_id()->set_generation(r.generation());
  attr->set_mode(r.mode());
  attr->set_nlink(r.nlink());
  attr->set_uid(r.uid());
  attr->set_gid(r.gid());
  attr->set_size(r.size());
  attr->set_blocks(r.blocks_used() * (block_size / 512));
  attr->set_blksize(block_size);
  attr->set_rdev(r.rdev());
  SetTime(attr->mutable_atime(), r.atime_ns());
  SetTime(attr->mutable_mtime(), r.mtime_ns());
  SetTime(attr->mutable_ctime(), r.ctime_ns());
  attr->set_has_xattrs(r.xattr_count() > 0);
}

absl::StatusOr<LockArgs> LockArgsOf(const LockRequest& req) {
  LockArgs args;
  args.kind = req.flock() ? LockKind::kFlock : LockKind::kPosix;
  args.owner = LockOwner{req.session(), req.owner()};
  const std::optional<LockType> type = LockTypeOfFcntl(req.type());
  if (!type.has_value()) return ErrnoError(EINVAL, "unknown lock type");
  args.type = *type;
  args.start = req.flock() ? 0 : req.start();
  args.end = req.flock() ? kLockToEnd : req.end();
  args.pid = req.pid();
  return args;
}

void FillConflict(const std::optional<HeldLock>& held, LockReply* reply) {
  if (!held.has_value()) {
    reply->set_type(F_UNLCK);
    return;
  }
  reply->set_type(FcntlTypeOf(held->type));
  reply->set_start(held->start);
  reply->set_end(held->end);
  reply->set_pid(held->pid);
}

void FillXattrNames(const std::vector<std::string>& names, XattrReply* reply) {
  std::string* list = reply->mutable_value();
  for (const std::string& name : names) {
    list->append(name);
    list->push_back('\0');
  }
}

SetAttrArgs SetAttrArgsOf(const SetAttrRequest& req) {
  SetAttrArgs args;
  args.valid = req.valid();
  args.mode = req.mode();
  args.uid = req.uid();
  args.gid = req.gid();
  args.size = req.size();
  args.atime_ns = ToNs(req.atime());
  args.mtime_ns = ToNs(req.mtime());
  return args;
}

void FillReadDir(DirListing listing, bool with_attrs, uint32_t block_size,
                 ReadDirReply* reply) {
  reply->set_parent(listing.parent);
  reply->set_eof(listing.eof);
  for (DirItem& item : listing.items) {
    DirEntry* e = reply->add_entries();
    e->set_name(std::move(item.name));
    e->set_cookie(item.cookie);
    e->set_ino(item.ino);
    e->set_type(item.type);
    if (with_attrs) {
      FillAttr(Entry{item.ino, std::move(item.inode)}, block_size,
               e->mutable_attr());
    }
  }
}

void FillStatFs(const FsStats& stats, StatFsReply* reply) {
  reply->set_block_size(stats.block_size);
  reply->set_total_blocks(stats.total_blocks);
  reply->set_free_blocks(stats.free_blocks);
  reply->set_total_inodes(stats.total_inodes);
  reply->set_free_inodes(stats.free_inodes);
  reply->set_max_name_length(Filesystem::kMaxNameLength);
  reply->set_keeps_acls(true);
}

void FillKeepAlive(const KeepAliveResult& result, KeepAliveReply* reply) {
  reply->set_known(result.known);
  reply->set_lease_ms(absl::ToInt64Milliseconds(result.lease));
}

}  // namespace rbfs
