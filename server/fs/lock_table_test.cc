#include "server/fs/lock_table.h"

#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace rbfs {
namespace {

TEST(LockTableTest, OneLockPerInodeWhileHeld) {
  LockTable table;
  std::shared_ptr<InodeLock> a = table.Get(5);
  EXPECT_EQ(table.Get(5), a);
  EXPECT_NE(table.Get(6), a);
  // Inodes that share a shard still get their own lock.
  EXPECT_NE(table.Get(5 + 64), a);
}

TEST(LockTableTest, AnUnusedLockIsDroppedAndMadeAfresh) {
  LockTable table;
  std::shared_ptr<InodeLock> a = table.Get(5);
  std::weak_ptr<InodeLock> old = a;
  a.reset();
  EXPECT_TRUE(old.expired());
  std::shared_ptr<InodeLock> b = table.Get(5);
  ASSERT_NE(b, nullptr);
  b->meta.Lock();
  b->meta.Unlock();
  // A lock made after an earlier one was dropped is the one every later
  // caller gets.
  EXPECT_EQ(table.Get(5), b);
}

TEST(LockTableTest, ConcurrentUsersOfAnInodeExcludeEachOther) {
  LockTable table;
  constexpr int kThreads = 8;
  constexpr int kRounds = 2000;
  int counter = 0;  // guarded by the meta lock of inode 9
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        // Taken and dropped each round, so the lock is made and dropped
        // over and over while others hold it.
        std::shared_ptr<InodeLock> lock = table.Get(9);
        absl::MutexLock meta(&lock->meta);
        ++counter;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counter, kThreads * kRounds);
}

}  // namespace
}  // namespace rbfs
