#include "common/xattr_name.h"

#include <cerrno>

#include "absl/strings/match.h"
#include "common/errno_status.h"
#include "common/wire_limits.h"

namespace rbfs {
namespace {

constexpr absl::string_view kUserPrefix = "user.";
constexpr absl::string_view kNamespaces[] = {kUserPrefix, "trusted.",
                                             "security."};
// The only "system." names Linux filesystems keep.
constexpr absl::string_view kAclNames[] = {"system.posix_acl_access",
                                           "system.posix_acl_default"};

}  // namespace

absl::Status ValidateXattrName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxXattrNameBytes) {
    return ErrnoError(ERANGE, "attribute name empty or over 255 bytes");
  }
  if (name.find('\0') != absl::string_view::npos) {
    return ErrnoError(EINVAL, "attribute name contains NUL");
  }
  for (absl::string_view prefix : kNamespaces) {
    if (!absl::StartsWith(name, prefix)) continue;
    if (name.size() == prefix.size()) {
      return ErrnoError(EINVAL, "attribute name is only its namespace");
    }
    return absl::OkStatus();
  }
  for (absl::string_view acl : kAclNames) {
    if (name == acl) return absl::OkStatus();
  }
  return ErrnoError(ENOTSUP, "attribute namespace not supported");
}

bool IsUserXattr(absl::string_view name) {
  return absl::StartsWith(name, kUserPrefix);
}

}  // namespace rbfs
