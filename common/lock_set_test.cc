#include "common/lock_set.h"

#include <fcntl.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

constexpr LockOwner kA{1, 10};
constexpr LockOwner kB{1, 11};
constexpr LockOwner kOtherMount{2, 10};

// The set as "owner:type[start,end]" items, owners by their session.owner.
std::string Text(const LockSet& set) {
  std::string out;
  for (const HeldLock& lock : set.locks()) {
    const char* type = lock.type == LockType::kRead ? "r" : "w";
    absl::StrAppend(&out, lock.owner.session, ".", lock.owner.owner, ":", type,
                    "[", lock.start, ",",
                    lock.end == kLockToEnd ? "end" : absl::StrCat(lock.end),
                    "] ");
  }
  return out;
}

TEST(LockSetTest, ReadersShareWritersExclude) {
  LockSet set;
  set.Apply(kA, LockType::kRead, 0, 99, 7);
  EXPECT_FALSE(set.Conflict(kB, LockType::kRead, 50, 150).has_value());
  const std::optional<HeldLock> held =
      set.Conflict(kB, LockType::kWrite, 50, 150);
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->owner, kA);
  EXPECT_EQ(held->pid, 7u);
  EXPECT_EQ(held->start, 0u);
  EXPECT_EQ(held->end, 99u);
  EXPECT_FALSE(set.Conflict(kB, LockType::kWrite, 100, 150).has_value());
  // The same owner number on another mount is another owner.
  EXPECT_TRUE(set.Conflict(kOtherMount, LockType::kWrite, 0, 0).has_value());
  // An owner never conflicts with itself.
  EXPECT_FALSE(set.Conflict(kA, LockType::kWrite, 0, 99).has_value());
  EXPECT_FALSE(set.Conflict(kB, LockType::kUnlock, 0, kLockToEnd).has_value());
}

TEST(LockSetTest, ANewLockSplitsAndMergesTheOwnersLocks) {
  LockSet set;
  set.Apply(kA, LockType::kRead, 0, 99, 1);
  set.Apply(kA, LockType::kWrite, 40, 59, 1);
  EXPECT_EQ(Text(set), "1.10:r[0,39] 1.10:w[40,59] 1.10:r[60,99] ");
  // Adjacent and overlapping locks of one type merge.
  set.Apply(kA, LockType::kWrite, 60, 69, 1);
  EXPECT_EQ(Text(set), "1.10:r[0,39] 1.10:w[40,69] 1.10:r[70,99] ");
  set.Apply(kA, LockType::kRead, 30, kLockToEnd, 1);
  EXPECT_EQ(Text(set), "1.10:r[0,end] ");
}

TEST(LockSetTest, UnlockingPartOfALockLeavesTheRest) {
  LockSet set;
  set.Apply(kA, LockType::kWrite, 0, kLockToEnd, 1);
  set.Apply(kB, LockType::kUnlock, 0, kLockToEnd, 1);
  EXPECT_EQ(Text(set), "1.10:w[0,end] ") << "another owner's unlock";
  set.Apply(kA, LockType::kUnlock, 10, 19, 1);
  EXPECT_EQ(Text(set), "1.10:w[0,9] 1.10:w[20,end] ");
  EXPECT_FALSE(set.Conflict(kB, LockType::kWrite, 10, 19).has_value());
  set.Apply(kA, LockType::kUnlock, 0, kLockToEnd, 1);
  EXPECT_TRUE(set.empty());
}

TEST(LockSetTest, RemoveIfDropsOneSessionsLocks) {
  LockSet set;
  set.Apply(kA, LockType::kRead, 0, 9, 1);
  set.Apply(kOtherMount, LockType::kRead, 5, 20, 2);
  EXPECT_TRUE(set.RemoveIf(
      [](const HeldLock& lock) { return lock.owner.session == 2; }));
  EXPECT_EQ(Text(set), "1.10:r[0,9] ");
  EXPECT_FALSE(set.RemoveIf([](const HeldLock&) { return false; }));
}

TEST(LockSetTest, WireTypesAreFcntls) {
  for (LockType type : {LockType::kRead, LockType::kWrite, LockType::kUnlock}) {
    EXPECT_EQ(LockTypeOfFcntl(FcntlTypeOf(type)), type);
  }
  EXPECT_EQ(FcntlTypeOf(LockType::kWrite), static_cast<uint32_t>(F_WRLCK));
  EXPECT_FALSE(LockTypeOfFcntl(7).has_value());
}

}  // namespace
}  // namespace rbfs
