#include "client/core/open_data_cache.h"

#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace rbfs {
namespace {

Attr Version(uint64_t ino, uint64_t size, int64_t mtime_sec) {
  Attr attr;
  attr.mutable_id()->set_ino(ino);
  attr.mutable_id()->set_generation(1);
  attr.set_size(size);
  attr.mutable_mtime()->set_sec(mtime_sec);
  attr.mutable_ctime()->set_sec(mtime_sec);
  return attr;
}

TEST(OpenDataCacheTest, KeepsContentsPerHandleUntilTheRelease) {
  OpenDataCache cache(1 << 20);
  cache.Keep(7, Version(5, 3, 100), "abc");
  std::shared_ptr<const OpenDataCache::Contents> kept = cache.Find(7);
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->data, "abc");
  EXPECT_EQ(kept->attr.size(), 3u);
  EXPECT_EQ(cache.Find(8), nullptr) << "another handle of the same file";
  EXPECT_EQ(cache.bytes(), 3u);
  cache.Drop(7);
  EXPECT_EQ(cache.Find(7), nullptr);
  EXPECT_EQ(cache.bytes(), 0u);
  // The reader that found it keeps what it found.
  EXPECT_EQ(kept->data, "abc");
}

TEST(OpenDataCacheTest, KeepsNothingPastItsBound) {
  OpenDataCache cache(10);
  cache.Keep(1, Version(5, 6, 100), "123456");
  cache.Keep(2, Version(6, 6, 100), "abcdef");
  EXPECT_NE(cache.Find(1), nullptr);
  EXPECT_EQ(cache.Find(2), nullptr);
  EXPECT_TRUE(cache.Wanted(7, std::nullopt));
  cache.Keep(2, Version(6, 4, 100), "abcd");
  EXPECT_NE(cache.Find(2), nullptr);
  EXPECT_FALSE(cache.Wanted(7, std::nullopt)) << "no room: do not ask";
  cache.Drop(1);
  cache.Drop(2);
  EXPECT_TRUE(cache.Wanted(7, std::nullopt));
  // Replacing a handle's contents counts the new size only.
  cache.Keep(3, Version(5, 6, 100), "123456");
  cache.Keep(3, Version(5, 8, 101), "12345678");
  EXPECT_EQ(cache.bytes(), 8u);

  OpenDataCache off(0);
  EXPECT_FALSE(off.Wanted(5, std::nullopt));
  off.Keep(1, Version(5, 0, 100), "");
  EXPECT_FALSE(off.Wanted(5, Version(5, 0, 100)));
}

TEST(OpenDataCacheTest, AFileTheKernelReadWholeIsNotAskedForAgain) {
  OpenDataCache cache(1 << 20);
  const Attr v1 = Version(5, 100, 100);
  EXPECT_TRUE(cache.Wanted(5, std::nullopt));
  EXPECT_TRUE(cache.Wanted(5, v1));
  cache.ReadWhole(5, v1);
  EXPECT_FALSE(cache.Wanted(5, v1));
  Attr atime_moved = v1;
  atime_moved.mutable_atime()->set_sec(999);
  EXPECT_FALSE(cache.Wanted(5, atime_moved)) << "atime is not the contents";
  // A new version (the mount does not know, or the file changed): ask.
  EXPECT_TRUE(cache.Wanted(5, std::nullopt));
  EXPECT_TRUE(cache.Wanted(5, Version(5, 100, 101)));
  EXPECT_TRUE(cache.Wanted(5, Version(5, 101, 100)));
  EXPECT_TRUE(cache.Wanted(6, v1)) << "another inode";
  cache.Forget(5);
  EXPECT_TRUE(cache.Wanted(5, v1)) << "the kernel forgot the inode's pages";
}

TEST(SameVersionTest, ComparesIdentitySizeAndTimesButNotAtime) {
  const Attr a = Version(5, 10, 100);
  Attr b = a;
  b.mutable_atime()->set_sec(3);
  b.set_mode(0777);
  EXPECT_TRUE(SameVersion(a, b));
  b = a;
  b.mutable_id()->set_generation(2);
  EXPECT_FALSE(SameVersion(a, b));
  b = a;
  b.mutable_ctime()->set_nsec(1);
  EXPECT_FALSE(SameVersion(a, b));
  b = a;
  b.mutable_id()->set_ino(6);
  EXPECT_FALSE(SameVersion(a, b));
}

}  // namespace
}  // namespace rbfs
