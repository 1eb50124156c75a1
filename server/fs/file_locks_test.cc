#include "server/fs/file_locks.h"

#include <cerrno>

#include "common/errno_status.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

LockArgs Args(LockKind kind, uint64_t session, LockType type) {
  LockArgs args;
  args.kind = kind;
  args.owner = LockOwner{session, 1};
  args.type = type;
  args.pid = static_cast<uint32_t>(session);
  return args;
}

TEST(FileLocksTest, AConflictIsEagainAndChangesNothing) {
  FileLocks locks;
  ASSERT_TRUE(locks.Set(5, Args(LockKind::kPosix, 1, LockType::kWrite)).ok());
  EXPECT_EQ(
      StatusToErrno(locks.Set(5, Args(LockKind::kPosix, 2, LockType::kRead))),
      EAGAIN);
  const std::optional<HeldLock> held =
      locks.Test(5, Args(LockKind::kPosix, 2, LockType::kRead));
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->pid, 1u);
  // Other files and the other kind are independent.
  EXPECT_TRUE(locks.Set(6, Args(LockKind::kPosix, 2, LockType::kWrite)).ok());
  EXPECT_TRUE(locks.Set(5, Args(LockKind::kFlock, 2, LockType::kWrite)).ok());
  ASSERT_TRUE(locks.Set(5, Args(LockKind::kPosix, 1, LockType::kUnlock)).ok());
  EXPECT_TRUE(locks.Set(5, Args(LockKind::kPosix, 2, LockType::kRead)).ok());
}

TEST(FileLocksTest, ASessionsLocksGoWithIt) {
  FileLocks locks;
  ASSERT_TRUE(locks.Set(5, Args(LockKind::kPosix, 1, LockType::kWrite)).ok());
  ASSERT_TRUE(locks.Set(6, Args(LockKind::kFlock, 1, LockType::kWrite)).ok());
  ASSERT_TRUE(locks.Set(7, Args(LockKind::kFlock, 3, LockType::kRead)).ok());
  EXPECT_EQ(locks.DropSession(1), 2u);
  EXPECT_TRUE(locks.Set(5, Args(LockKind::kPosix, 2, LockType::kWrite)).ok());
  EXPECT_TRUE(locks.Set(6, Args(LockKind::kFlock, 2, LockType::kWrite)).ok());
  EXPECT_FALSE(
      locks.Test(7, Args(LockKind::kFlock, 2, LockType::kRead)).has_value());
  EXPECT_TRUE(
      locks.Test(7, Args(LockKind::kFlock, 2, LockType::kWrite)).has_value());
}

TEST(FileLocksTest, AGoneFilesLocksGoWithIt) {
  FileLocks locks;
  ASSERT_TRUE(locks.Set(5, Args(LockKind::kPosix, 1, LockType::kWrite)).ok());
  ASSERT_TRUE(locks.Set(5, Args(LockKind::kFlock, 1, LockType::kWrite)).ok());
  locks.DropFile(5);
  EXPECT_FALSE(
      locks.Test(5, Args(LockKind::kPosix, 2, LockType::kWrite)).has_value());
  EXPECT_FALSE(
      locks.Test(5, Args(LockKind::kFlock, 2, LockType::kWrite)).has_value());
  EXPECT_EQ(locks.DropSession(1), 0u);
}

}  // namespace
}  // namespace rbfs
