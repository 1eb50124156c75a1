#include "common/xattr_name.h"

#include <cerrno>
#include <string>

#include "common/errno_status.h"
#include "common/wire_limits.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

int Err(absl::string_view name) {
  return StatusToErrno(ValidateXattrName(name));
}

TEST(XattrNameTest, TheStoredNamespacesPass) {
  EXPECT_EQ(Err("user.a"), 0);
  EXPECT_EQ(Err("trusted.overlay.opaque"), 0);
  EXPECT_EQ(Err("security.selinux"), 0);
  EXPECT_EQ(Err("user." + std::string(kMaxXattrNameBytes - 5, 'n')), 0);
  EXPECT_EQ(Err("system.posix_acl_access"), 0);
  EXPECT_EQ(Err("system.posix_acl_default"), 0);
}

TEST(XattrNameTest, OthersGetLinuxsErrno) {
  EXPECT_EQ(Err(""), ERANGE);
  EXPECT_EQ(Err("user." + std::string(kMaxXattrNameBytes - 4, 'n')), ERANGE);
  EXPECT_EQ(Err("user."), EINVAL);
  EXPECT_EQ(Err(absl::string_view("user.a\0b", 8)), EINVAL);
  EXPECT_EQ(Err("system.posix_acl_access2"), ENOTSUP);
  EXPECT_EQ(Err("system.nfs4_acl"), ENOTSUP);
  EXPECT_EQ(Err("os2.x"), ENOTSUP);
  EXPECT_EQ(Err("userx"), ENOTSUP);
}

TEST(XattrNameTest, TellsUserNames) {
  EXPECT_TRUE(IsUserXattr("user.a"));
  EXPECT_FALSE(IsUserXattr("trusted.a"));
}

}  // namespace
}  // namespace rbfs
