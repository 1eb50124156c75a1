// Filesystem's extended attributes: each is an "X" record of its inode,
// changed in the same batch as the inode's counters and ctime.
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cerrno>

#include "common/errno_status.h"
#include "common/xattr_name.h"
#include "server/fs/filesystem.h"
#include "server/fs/posix_acl.h"

namespace rbfs {
namespace {

// Linux keeps user attributes off everything but regular files and
// directories (their permission bits mean something else elsewhere).
bool UserXattrAllowed(absl::string_view name, const meta::InodeRecord& r) {
  return !IsUserXattr(name) || S_ISREG(r.mode()) || S_ISDIR(r.mode());
}

}  // namespace

absl::StatusOr<meta::InodeRecord> Filesystem::LoadForXattrChange(
    InodeRef id, absl::string_view name) const {
  absl::StatusOr<meta::InodeRecord> r = Load(id);
  if (r.ok() && !UserXattrAllowed(name, *r)) {
    return ErrnoError(EPERM, "user attributes only on files and directories");
  }
  return r;
}

absl::StatusOr<std::string> Filesystem::GetXattr(InodeRef id,
                                                 absl::string_view name) {
  if (absl::Status s = ValidateXattrName(name); !s.ok()) return s;
  absl::StatusOr<meta::InodeRecord> r = Load(id);
  if (!r.ok()) return r.status();
  if (r->xattr_count() == 0 || !UserXattrAllowed(name, *r)) {
    return ErrnoError(ENODATA);
  }
  absl::StatusOr<std::string> value = meta_->GetXattr(id.ino, name);
  if (absl::IsNotFound(value.status())) return ErrnoError(ENODATA);
  return value;
}

absl::StatusOr<std::vector<std::string>> Filesystem::ListXattr(InodeRef id) {
  absl::StatusOr<meta::InodeRecord> r = Load(id);
  if (!r.ok()) return r.status();
  std::vector<std::string> names;
  if (r->xattr_count() == 0) return names;
  absl::Status scan = meta_->ForEachXattrOf(
      id.ino, [&](absl::string_view name, absl::string_view) {
        names.emplace_back(name);
        return true;
      });
  if (!scan.ok()) return scan;
  return names;
}

absl::StatusOr<std::optional<std::string>> Filesystem::StoredXattr(
    uint64_t ino, const meta::InodeRecord& r, absl::string_view name) const {
  if (r.xattr_count() == 0) return std::nullopt;
  absl::StatusOr<std::string> value = meta_->GetXattr(ino, name);
  if (absl::IsNotFound(value.status())) return std::nullopt;
  if (!value.ok()) return value.status();
  return *std::move(value);
}

absl::Status Filesystem::StageXattr(MetaBatch* batch, uint64_t ino,
                                    meta::InodeRecord* r,
                                    absl::string_view name,
                                    const std::optional<std::string>& old,
                                    std::optional<absl::string_view> value) {
  uint32_t count = r->xattr_count();
  uint64_t name_bytes = r->xattr_name_bytes();
  uint64_t value_bytes = r->xattr_value_bytes();
  if (old.has_value()) {
    --count;
    name_bytes -= name.size();
    value_bytes -= old->size();
  }
  if (value.has_value()) {
    ++count;
    name_bytes += name.size();
    value_bytes += value->size();
    if (name_bytes + count > kMaxXattrListBytes ||
        name_bytes + value_bytes > kMaxXattrBytesPerInode) {
      return ErrnoError(ENOSPC, "no room for more extended attributes");
    }
    batch->PutXattr(ino, name, *value);
  } else if (old.has_value()) {
    batch->DeleteXattr(ino, name);
  }
  r->set_xattr_count(count);
  r->set_xattr_name_bytes(name_bytes);
  r->set_xattr_value_bytes(value_bytes);
  return absl::OkStatus();
}

absl::StatusOr<Entry> Filesystem::SetXattr(InodeRef id, absl::string_view name,
                                           absl::string_view value,
                                           uint32_t flags,
                                           const CallRef& call) {
  if (absl::Status s = ValidateXattrName(name); !s.ok()) return s;
  if (value.size() > kMaxXattrValueBytes) {
    return ErrnoError(E2BIG, "attribute value over 64 KiB");
  }
  if ((flags & ~uint32_t{XATTR_CREATE | XATTR_REPLACE}) != 0 ||
      flags == (XATTR_CREATE | XATTR_REPLACE)) {
    return ErrnoError(EINVAL, "unknown setxattr flags");
  }
  return RunEntryOnce(call, [&]() -> absl::StatusOr<Entry> {
    std::shared_ptr<InodeLock> lock = locks_.Get(id.ino);
    absl::MutexLock meta_lock(&lock->meta);
    absl::StatusOr<meta::InodeRecord> r = LoadForXattrChange(id, name);
    if (!r.ok()) return r.status();
    absl::StatusOr<std::optional<std::string>> old =
        StoredXattr(id.ino, *r, name);
    if (!old.ok()) return old.status();
    if ((flags & XATTR_CREATE) != 0 && old->has_value()) {
      return ErrnoError(EEXIST);
    }
    if ((flags & XATTR_REPLACE) != 0 && !old->has_value()) {
      return ErrnoError(ENODATA);
    }
    std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
    absl::Status staged =
        IsAclXattr(name)
            ? StageAclSet(batch.get(), id.ino, &*r, name, value, *old)
            : StageXattr(batch.get(), id.ino, &*r, name, *old, value);
    if (!staged.ok()) return staged;
    r->set_ctime_ns(NowNs());
    batch->PutInode(id.ino, *r);
    CallLog::Record(batch.get(), call, id.ino, *r);
    if (absl::Status s = Commit(batch.get()); !s.ok()) return s;
    return Entry{id.ino, *std::move(r)};
  });
}

absl::StatusOr<Entry> Filesystem::RemoveXattr(InodeRef id,
                                              absl::string_view name,
                                              const CallRef& call) {
  if (absl::Status s = ValidateXattrName(name); !s.ok()) return s;
  return RunEntryOnce(call, [&]() -> absl::StatusOr<Entry> {
    std::shared_ptr<InodeLock> lock = locks_.Get(id.ino);
    absl::MutexLock meta_lock(&lock->meta);
    absl::StatusOr<meta::InodeRecord> r = LoadForXattrChange(id, name);
    if (!r.ok()) return r.status();
    absl::StatusOr<std::optional<std::string>> old =
        StoredXattr(id.ino, *r, name);
    if (!old.ok()) return old.status();
    if (!old->has_value()) return ErrnoError(ENODATA);
    // Removing an access ACL leaves the mode as it is, as on Linux.
    std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
    if (absl::Status s =
            StageXattr(batch.get(), id.ino, &*r, name, *old, std::nullopt);
        !s.ok()) {
      return s;
    }
    r->set_ctime_ns(NowNs());
    batch->PutInode(id.ino, *r);
    CallLog::Record(batch.get(), call, id.ino, *r);
    if (absl::Status s = Commit(batch.get()); !s.ok()) return s;
    return Entry{id.ino, *std::move(r)};
  });
}

absl::Status Filesystem::DropXattrs(uint64_t ino, const meta::InodeRecord& r,
                                    MetaBatch* batch) {
  if (r.xattr_count() == 0) return absl::OkStatus();
  return meta_->ForEachXattrOf(ino,
                               [&](absl::string_view name, absl::string_view) {
                                 batch->DeleteXattr(ino, name);
                                 return true;
                               });
}

}  // namespace rbfs
