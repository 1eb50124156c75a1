// The rule for extended attribute names, shared by the server (which
// enforces it) and the mount (which answers the kernel's probes of an inode
// without attributes itself and must give the same errno the server would).
#ifndef RBFS_COMMON_XATTR_NAME_H_
#define RBFS_COMMON_XATTR_NAME_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace rbfs {

// OK for a name of a namespace rbfs stores ("user.", "trusted.",
// "security.", each followed by at least one byte, at most
// kMaxXattrNameBytes in all) and for the two POSIX ACLs
// ("system.posix_acl_access", "system.posix_acl_default"). Otherwise the
// errno Linux gives: ERANGE for an empty or too long name, EINVAL for a
// bare prefix or a NUL, ENOTSUP for any other namespace or "system." name.
absl::Status ValidateXattrName(absl::string_view name);

// Whether `name` is in the "user." namespace, which Linux allows only on
// regular files and directories.
bool IsUserXattr(absl::string_view name);

}  // namespace rbfs

#endif  // RBFS_COMMON_XATTR_NAME_H_
