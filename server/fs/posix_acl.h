// A POSIX.1e access or default ACL as Linux passes it in the
// "system.posix_acl_access" and "system.posix_acl_default" attributes: a
// little-endian header (version 2) and 8-byte entries (tag, permission
// bits, id). The kernel enforces ACLs (FUSE_CAP_POSIX_ACL) from these
// values; the server keeps them consistent with the mode, which is what a
// filesystem must do itself under FUSE: the mode's bits are the ACL's
// owner, mask (or group) and other entries, a chmod rewrites those entries,
// and a new inode takes its directory's default ACL masked by the mode it
// was created with.
//
// Invariant of a parsed ACL: it passes Linux's posix_acl_valid — one owner,
// group and other entry, named users before the owning group, named groups
// after it, a mask when there are named entries, permission bits within rwx.
#ifndef RBFS_SERVER_FS_POSIX_ACL_H_
#define RBFS_SERVER_FS_POSIX_ACL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rbfs {

inline constexpr absl::string_view kAccessAclXattr = "system.posix_acl_access";
inline constexpr absl::string_view kDefaultAclXattr =
    "system.posix_acl_default";

inline bool IsAclXattr(absl::string_view name) {
  return name == kAccessAclXattr || name == kDefaultAclXattr;
}

class PosixAcl {
 public:
  // Tags, as <linux/posix_acl.h> numbers them.
  enum Tag : uint16_t {
    kUserObj = 0x01,
    kUser = 0x02,
    kGroupObj = 0x04,
    kGroup = 0x08,
    kMask = 0x10,
    kOther = 0x20,
  };
  struct Entry {
    uint16_t tag = 0;
    uint16_t perm = 0;  // rwx as 4, 2, 1
    uint32_t id = 0;    // the uid or gid of kUser and kGroup entries
  };

  // EINVAL unless `xattr` is a well-formed, valid ACL.
  static absl::StatusOr<PosixAcl> Parse(absl::string_view xattr);

  std::string ToXattr() const;

  // Whether the permission bits say all it says (no named entries, no
  // mask): Linux then keeps no access ACL, only the mode.
  bool EquivalentToMode() const;

  // The permission bits (0777) the ACL gives the owner, the group class
  // (the mask when there is one) and others.
  uint32_t PermissionBits() const;

  // chmod(2) of an inode with this access ACL: the owner, group-class and
  // other entries take `mode`'s bits.
  void Chmod(uint32_t mode);

  // Turns a directory's default ACL into a new inode's access ACL for a
  // creation asking for `*mode`: each class keeps the permissions both
  // allow, and *mode's bits become the result's. Returns whether the result
  // needs to be kept as an ACL (it has named entries or a mask).
  bool MaskForCreate(uint32_t* mode);

  const std::vector<Entry>& entries() const { return entries_; }

 private:
  explicit PosixAcl(std::vector<Entry> entries)
      : entries_(std::move(entries)) {}

  // The mask entry, or the owning group's when there is no mask.
  Entry& GroupClass();
  const Entry& GroupClass() const;
  const Entry& Find(Tag tag) const;

  std::vector<Entry> entries_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_FS_POSIX_ACL_H_
