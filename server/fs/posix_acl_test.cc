#include "server/fs/posix_acl.h"

#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <vector>

#include "common/errno_status.h"
#include "gtest/gtest.h"
#include "server/testing/acl_xattr.h"

namespace rbfs {
namespace {

using Entry = PosixAcl::Entry;
using ::rbfs::testing::AclXattr;

int Err(const absl::StatusOr<PosixAcl>& acl) {
  return StatusToErrno(acl.status());
}

const std::vector<Entry> kNamed = {
    {PosixAcl::kUserObj, 7, 0},  {PosixAcl::kUser, 4, 1000},
    {PosixAcl::kGroupObj, 5, 0}, {PosixAcl::kGroup, 6, 50},
    {PosixAcl::kMask, 6, 0},     {PosixAcl::kOther, 1, 0}};

TEST(PosixAclTest, ParsesWhatLinuxSendsAndWritesItBackByteForByte) {
  const std::string bytes = AclXattr(kNamed);
  absl::StatusOr<PosixAcl> acl = PosixAcl::Parse(bytes);
  ASSERT_TRUE(acl.ok()) << acl.status();
  EXPECT_EQ(acl->ToXattr(), bytes);
  ASSERT_EQ(acl->entries().size(), 6u);
  EXPECT_EQ(acl->entries()[1].id, 1000u);
  EXPECT_EQ(acl->entries()[3].id, 50u);
  EXPECT_FALSE(acl->EquivalentToMode());
  // The group class is the mask, not the owning group.
  EXPECT_EQ(acl->PermissionBits(), 0761u);
}

TEST(PosixAclTest, RefusesWhatPosixAclValidRefuses) {
  EXPECT_EQ(Err(PosixAcl::Parse("")), EINVAL);
  EXPECT_EQ(Err(PosixAcl::Parse(AclXattr(kNamed).substr(0, 11))), EINVAL);
  std::string v1 = AclXattr(kNamed);
  v1[0] = 1;
  EXPECT_EQ(Err(PosixAcl::Parse(v1)), EINVAL);
  // Named entries need a mask.
  EXPECT_EQ(Err(PosixAcl::Parse(AclXattr({{PosixAcl::kUserObj, 7, 0},
                                          {PosixAcl::kUser, 4, 1000},
                                          {PosixAcl::kGroupObj, 5, 0},
                                          {PosixAcl::kOther, 1, 0}}))),
            EINVAL);
  // Out of order, missing the other entry, a bad tag, bits beyond rwx.
  EXPECT_EQ(Err(PosixAcl::Parse(AclXattr({{PosixAcl::kGroupObj, 5, 0},
                                          {PosixAcl::kUserObj, 7, 0},
                                          {PosixAcl::kOther, 1, 0}}))),
            EINVAL);
  EXPECT_EQ(Err(PosixAcl::Parse(AclXattr(
                {{PosixAcl::kUserObj, 7, 0}, {PosixAcl::kGroupObj, 5, 0}}))),
            EINVAL);
  EXPECT_EQ(Err(PosixAcl::Parse(AclXattr({{PosixAcl::kUserObj, 7, 0},
                                          {0x40, 5, 0},
                                          {PosixAcl::kOther, 1, 0}}))),
            EINVAL);
  EXPECT_EQ(Err(PosixAcl::Parse(AclXattr({{PosixAcl::kUserObj, 8, 0},
                                          {PosixAcl::kGroupObj, 5, 0},
                                          {PosixAcl::kOther, 1, 0}}))),
            EINVAL);
}

TEST(PosixAclTest, AMinimalAclIsItsMode) {
  absl::StatusOr<PosixAcl> acl =
      PosixAcl::Parse(AclXattr({{PosixAcl::kUserObj, 6, 0},
                                {PosixAcl::kGroupObj, 4, 0},
                                {PosixAcl::kOther, 0, 0}}));
  ASSERT_TRUE(acl.ok()) << acl.status();
  EXPECT_TRUE(acl->EquivalentToMode());
  EXPECT_EQ(acl->PermissionBits(), 0640u);
}

TEST(PosixAclTest, ChmodRewritesTheOwnerMaskAndOtherEntries) {
  absl::StatusOr<PosixAcl> acl = PosixAcl::Parse(AclXattr(kNamed));
  ASSERT_TRUE(acl.ok());
  acl->Chmod(0750);
  EXPECT_EQ(acl->PermissionBits(), 0750u);
  // Named entries and the owning group keep theirs; the mask limits them.
  EXPECT_EQ(acl->entries()[1].perm, 4);
  EXPECT_EQ(acl->entries()[2].perm, 5);
  EXPECT_EQ(acl->entries()[4].perm, 5);
}

TEST(PosixAclTest, ACreationTakesWhatBothTheDefaultAndTheModeAllow) {
  absl::StatusOr<PosixAcl> acl = PosixAcl::Parse(AclXattr(kNamed));
  ASSERT_TRUE(acl.ok());
  uint32_t mode = S_IFREG | S_ISGID | 0644;
  EXPECT_TRUE(acl->MaskForCreate(&mode));
  EXPECT_EQ(mode, uint32_t{S_IFREG | S_ISGID | 0640});
  EXPECT_EQ(acl->entries()[0].perm, 6);  // owner: 7 & 6
  EXPECT_EQ(acl->entries()[4].perm, 4);  // mask: 6 & 4
  EXPECT_EQ(acl->entries()[5].perm, 0);  // other: 1 & 4

  absl::StatusOr<PosixAcl> minimal =
      PosixAcl::Parse(AclXattr({{PosixAcl::kUserObj, 7, 0},
                                {PosixAcl::kGroupObj, 5, 0},
                                {PosixAcl::kOther, 0, 0}}));
  ASSERT_TRUE(minimal.ok());
  mode = S_IFDIR | 0777;
  EXPECT_FALSE(minimal->MaskForCreate(&mode));
  EXPECT_EQ(mode, uint32_t{S_IFDIR | 0750});
}

}  // namespace
}  // namespace rbfs
