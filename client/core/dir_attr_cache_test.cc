#include "client/core/dir_attr_cache.h"

#include "gtest/gtest.h"

namespace rbfs {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000);

Attr Dir(uint64_t ino, int64_t ctime_sec, uint32_t ctime_nsec = 0,
         uint64_t generation = 1) {
  Attr attr;
  attr.mutable_id()->set_ino(ino);
  attr.mutable_id()->set_generation(generation);
  attr.set_mode(040755);
  attr.mutable_ctime()->set_sec(ctime_sec);
  attr.mutable_ctime()->set_nsec(ctime_nsec);
  return attr;
}

TEST(DirAttrCacheTest, AnswersOnceWithinTtl) {
  DirAttrCache cache(absl::Seconds(1));
  cache.Put(Dir(5, 10), kT0);
  std::optional<Attr> got = cache.Take(5, kT0 + absl::Milliseconds(999));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->ctime().sec(), 10);
  EXPECT_FALSE(cache.Take(5, kT0 + absl::Milliseconds(999)).has_value());
  EXPECT_FALSE(cache.Take(6, kT0).has_value());
}

TEST(DirAttrCacheTest, ExpiredEntryIsDroppedNotAnswered) {
  DirAttrCache cache(absl::Seconds(1));
  cache.Put(Dir(5, 10), kT0);
  EXPECT_FALSE(cache.Take(5, kT0 + absl::Milliseconds(1001)).has_value());
  EXPECT_EQ(cache.size(), 0u);
}

TEST(DirAttrCacheTest, LaterChangeWinsWhateverTheArrivalOrder) {
  DirAttrCache cache(absl::Seconds(1));
  cache.Put(Dir(5, 10, 700), kT0);
  cache.Put(Dir(5, 10, 500), kT0);  // an older reply arriving late
  EXPECT_EQ(cache.Take(5, kT0)->ctime().nsec(), 700u);
  cache.Put(Dir(5, 10, 500), kT0);
  cache.Put(Dir(5, 11, 0), kT0);
  EXPECT_EQ(cache.Take(5, kT0)->ctime().sec(), 11);
}

TEST(DirAttrCacheTest, NewGenerationReplacesOlderCtime) {
  DirAttrCache cache(absl::Seconds(1));
  cache.Put(Dir(5, 20, 0, 1), kT0);
  cache.Put(Dir(5, 10, 0, 2), kT0);
  EXPECT_EQ(cache.Take(5, kT0)->id().generation(), 2u);
}

TEST(DirAttrCacheTest, EraseForgets) {
  DirAttrCache cache(absl::Seconds(1));
  cache.Put(Dir(5, 10), kT0);
  cache.Erase(5);
  EXPECT_FALSE(cache.Take(5, kT0).has_value());
}

TEST(DirAttrCacheTest, ZeroTtlKeepsNothing) {
  DirAttrCache cache(absl::ZeroDuration());
  cache.Put(Dir(5, 10), kT0);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.Take(5, kT0).has_value());
}

TEST(DirAttrCacheTest, ExpiredEntriesAreSweptWhenManyPileUp) {
  DirAttrCache cache(absl::Seconds(1));
  for (uint64_t ino = 0; ino < 2000; ++ino) cache.Put(Dir(ino, 1), kT0);
  EXPECT_EQ(cache.size(), 2000u);
  cache.Put(Dir(99999, 1), kT0 + absl::Seconds(2));
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
}  // namespace rbfs
