// The bytes Linux passes in "system.posix_acl_access"/"_default" for a list
// of entries, written independently of PosixAcl so that tests of it and of
// the filesystem check its parser against the format, not against itself.
#ifndef RBFS_SERVER_TESTING_ACL_XATTR_H_
#define RBFS_SERVER_TESTING_ACL_XATTR_H_

#include <string>
#include <vector>

#include "server/fs/posix_acl.h"

namespace rbfs::testing {

// Version 2, then (tag, perm, id) little-endian per entry; entries that
// name nobody get the id -1, as the kernel writes them.
std::string AclXattr(const std::vector<PosixAcl::Entry>& entries);

}  // namespace rbfs::testing

#endif  // RBFS_SERVER_TESTING_ACL_XATTR_H_
