#include "client/core/attr_cache.h"

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

TEST(AttrCacheTest, AnswersOnceWithinTtl) {
  AttrCache cache(absl::Seconds(1));
  cache.Put(Dir(5, 10), kT0, cache.Ticket());
  std::optional<Attr> got = cache.Take(5, kT0 + absl::Milliseconds(999));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->ctime().sec(), 10);
  EXPECT_FALSE(cache.Take(5, kT0 + absl::Milliseconds(999)).has_value());
  EXPECT_FALSE(cache.Take(6, kT0).has_value());
}

TEST(AttrCacheTest, ExpiredEntryIsDroppedNotAnswered) {
  AttrCache cache(absl::Seconds(1));
  cache.Put(Dir(5, 10), kT0, cache.Ticket());
  EXPECT_FALSE(cache.Take(5, kT0 + absl::Milliseconds(1001)).has_value());
  EXPECT_EQ(cache.size(), 0u);
}

TEST(AttrCacheTest, LaterChangeWinsWhateverTheArrivalOrder) {
  AttrCache cache(absl::Seconds(1));
  cache.Put(Dir(5, 10, 700), kT0, cache.Ticket());
  cache.Put(Dir(5, 10, 500), kT0,
            cache.Ticket());  // an older reply arriving late
  EXPECT_EQ(cache.Take(5, kT0)->ctime().nsec(), 700u);
  cache.Put(Dir(5, 10, 500), kT0, cache.Ticket());
  cache.Put(Dir(5, 11, 0), kT0, cache.Ticket());
  EXPECT_EQ(cache.Take(5, kT0)->ctime().sec(), 11);
}

TEST(AttrCacheTest, NewGenerationReplacesOlderCtime) {
  AttrCache cache(absl::Seconds(1));
  cache.Put(Dir(5, 20, 0, 1), kT0, cache.Ticket());
  cache.Put(Dir(5, 10, 0, 2), kT0, cache.Ticket());
  EXPECT_EQ(cache.Take(5, kT0)->id().generation(), 2u);
}

TEST(AttrCacheTest, EraseForgets) {
  AttrCache cache(absl::Seconds(1));
  cache.Put(Dir(5, 10), kT0, cache.Ticket());
  cache.Erase(5);
  EXPECT_FALSE(cache.Take(5, kT0).has_value());
}

TEST(AttrCacheTest, ZeroTtlKeepsNothing) {
  AttrCache cache(absl::ZeroDuration());
  cache.Put(Dir(5, 10), kT0, cache.Ticket());
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.Take(5, kT0).has_value());
}

TEST(AttrCacheTest, ExpiredEntriesAreSweptWhenManyPileUp) {
  AttrCache cache(absl::Seconds(1));
  for (uint64_t ino = 0; ino < 2000; ++ino) cache.Put(Dir(ino, 1), kT0, 0);
  EXPECT_EQ(cache.size(), 2000u);
  // The next Take sweeps the expired ones.
  cache.Take(99999, kT0 + absl::Seconds(2));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(AttrCacheTest, GetAnswersUntilErased) {
  AttrCache cache(absl::Seconds(1));
  cache.Put(Dir(5, 10), kT0, cache.Ticket());
  EXPECT_TRUE(cache.Get(5).has_value());
  EXPECT_TRUE(cache.Get(5).has_value());
  cache.Erase(5);
  EXPECT_FALSE(cache.Get(5).has_value());
}

TEST(AttrCacheTest, AReplyReadBeforeAnErasureIsNotKept) {
  AttrCache cache(absl::Seconds(1));
  const uint64_t ticket = cache.Ticket();
  cache.Erase(5);
  cache.Erase(7);
  // Inode 5 was erased after the reply was read; inode 6 was not.
  cache.Put(Dir(5, 10), kT0, ticket);
  cache.Put(Dir(6, 10), kT0, ticket);
  EXPECT_FALSE(cache.Get(5).has_value());
  EXPECT_TRUE(cache.Get(6).has_value());
  cache.Put(Dir(5, 10), kT0, cache.Ticket());
  EXPECT_TRUE(cache.Get(5).has_value());
  const uint64_t before_clear = cache.Ticket();
  cache.Clear();
  EXPECT_FALSE(cache.Get(5).has_value());
  cache.Put(Dir(5, 10), kT0, before_clear);
  EXPECT_FALSE(cache.Get(5).has_value());
}

// The mount's own writes erase the attributes but not the knowledge that
// the inode has no extended attributes; any other erasure does, and so do
// attributes that say it has some.
TEST(AttrCacheTest, HavingNoXattrsOutlivesTheMountsOwnWrites) {
  AttrCache cache(absl::Seconds(1));
  EXPECT_FALSE(cache.KnownWithoutXattrs(5, 1));
  cache.Put(Dir(5, 10), kT0, cache.Ticket());
  EXPECT_TRUE(cache.KnownWithoutXattrs(5, 1));
  // Another generation is another file.
  EXPECT_FALSE(cache.KnownWithoutXattrs(5, 2));
  cache.EraseWritten(5);
  EXPECT_FALSE(cache.Get(5).has_value());
  EXPECT_TRUE(cache.KnownWithoutXattrs(5, 1));
  cache.EraseIfAtimeMoves(5);
  EXPECT_TRUE(cache.KnownWithoutXattrs(5, 1));
  cache.Erase(5);
  EXPECT_FALSE(cache.KnownWithoutXattrs(5, 1));

  Attr with = Dir(5, 11);
  with.set_has_xattrs(true);
  cache.Put(Dir(5, 10), kT0, cache.Ticket());
  cache.Put(with, kT0, cache.Ticket());
  EXPECT_FALSE(cache.KnownWithoutXattrs(5, 1));
  cache.Clear();
  cache.Put(Dir(6, 10), kT0, cache.Ticket());
  cache.Forget(6);
  EXPECT_FALSE(cache.KnownWithoutXattrs(6, 1));
}

TEST(AttrCacheTest, ForgetDropsTheTombstone) {
  AttrCache cache(absl::Seconds(1));
  const uint64_t ticket = cache.Ticket();
  cache.Erase(5);
  EXPECT_EQ(cache.size(), 1u);
  cache.Forget(5);
  EXPECT_EQ(cache.size(), 0u);
  cache.Put(Dir(5, 10), kT0, ticket);
  EXPECT_TRUE(cache.Get(5).has_value());
}

TEST(AttrCacheTest, AReadThatMovesTheAtimeErases) {
  AttrCache cache(absl::Seconds(1));
  Attr read_since = Dir(5, 10);
  read_since.mutable_mtime()->set_sec(10);
  read_since.mutable_atime()->set_sec(11);
  cache.Put(read_since, kT0, cache.Ticket());
  cache.EraseIfAtimeMoves(5);
  EXPECT_TRUE(cache.Get(5).has_value());
  Attr written_since = read_since;
  written_since.mutable_id()->set_ino(6);
  written_since.mutable_mtime()->set_sec(12);
  cache.Put(written_since, kT0, cache.Ticket());
  cache.EraseIfAtimeMoves(6);
  EXPECT_FALSE(cache.Get(6).has_value());
}

}  // namespace
}  // namespace rbfs
