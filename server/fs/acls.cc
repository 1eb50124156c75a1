// Filesystem's POSIX ACLs. Under FUSE the kernel enforces them (it reads
// them as attributes and caches them) but leaves the rest to the
// filesystem, as Linux's posix_acl.c does it for local ones: the mode and
// the access ACL describe the same permissions, and a new inode inherits
// its directory's default ACL.
#include <sys/stat.h>

#include <cerrno>

#include "common/errno_status.h"
#include "server/fs/filesystem.h"
#include "server/fs/posix_acl.h"

namespace rbfs {

absl::Status Filesystem::StageAclSet(MetaBatch* batch, uint64_t ino,
                                     meta::InodeRecord* r,
                                     absl::string_view name,
                                     absl::string_view value,
                                     const std::optional<std::string>& old) {
  if (S_ISLNK(r->mode())) return ErrnoError(ENOTSUP, "ACL on a symlink");
  const bool access = name == kAccessAclXattr;
  if (!access && !S_ISDIR(r->mode())) {
    return ErrnoError(EACCES, "default ACL on a non-directory");
  }
  absl::StatusOr<PosixAcl> acl = PosixAcl::Parse(value);
  if (!acl.ok()) return acl.status();
  if (!access) return StageXattr(batch, ino, r, name, old, value);
  r->set_mode((r->mode() & ~uint32_t{0777}) | acl->PermissionBits());
  if (acl->EquivalentToMode()) {
    return StageXattr(batch, ino, r, name, old, std::nullopt);
  }
  return StageXattr(batch, ino, r, name, old, value);
}

absl::Status Filesystem::StageAclChmod(MetaBatch* batch, uint64_t ino,
                                       meta::InodeRecord* r) {
  absl::StatusOr<std::optional<std::string>> old =
      StoredXattr(ino, *r, kAccessAclXattr);
  if (!old.ok() || !old->has_value()) return old.status();
  absl::StatusOr<PosixAcl> acl = PosixAcl::Parse(**old);
  if (!acl.ok()) return acl.status();
  acl->Chmod(r->mode());
  return StageXattr(batch, ino, r, kAccessAclXattr, *old, acl->ToXattr());
}

absl::Status Filesystem::StageInheritedAcls(MetaBatch* batch, uint64_t dir_ino,
                                            const meta::InodeRecord& dir,
                                            uint32_t umask, uint64_t ino,
                                            meta::InodeRecord* node) {
  if (S_ISLNK(node->mode())) return absl::OkStatus();
  absl::StatusOr<std::optional<std::string>> inherited =
      StoredXattr(dir_ino, dir, kDefaultAclXattr);
  if (!inherited.ok()) return inherited.status();
  if (!inherited->has_value()) {
    node->set_mode(node->mode() & ~(umask & 0777));
    return absl::OkStatus();
  }
  absl::StatusOr<PosixAcl> acl = PosixAcl::Parse(**inherited);
  if (!acl.ok()) return acl.status();
  uint32_t mode = node->mode();
  const bool keep = acl->MaskForCreate(&mode);
  node->set_mode(mode);
  if (S_ISDIR(mode)) {
    if (absl::Status s = StageXattr(batch, ino, node, kDefaultAclXattr,
                                    std::nullopt, **inherited);
        !s.ok()) {
      return s;
    }
  }
  if (!keep) return absl::OkStatus();
  return StageXattr(batch, ino, node, kAccessAclXattr, std::nullopt,
                    acl->ToXattr());
}

}  // namespace rbfs
