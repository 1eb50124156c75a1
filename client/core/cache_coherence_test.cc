#include "client/core/cache_coherence.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

// Records what the kernel was told, as "entry D/name", "attr I", "data I".
class RecordingKernel : public KernelNotifier {
 public:
  void InvalidateEntry(uint64_t parent, absl::string_view name) override {
    told.push_back("entry " + std::to_string(parent) + "/" + std::string(name));
  }
  void InvalidateInode(uint64_t ino, bool data) override {
    told.push_back((data ? "data " : "attr ") + std::to_string(ino));
  }
  std::vector<std::string> told;
};

Attr AttrOf(uint64_t ino) {
  Attr attr;
  attr.mutable_id()->set_ino(ino);
  attr.mutable_id()->set_generation(1);
  return attr;
}

Invalidation Change(Invalidation::Kind kind, uint64_t ino,
                    std::string name = "") {
  Invalidation change;
  change.set_kind(kind);
  change.set_ino(ino);
  change.set_name(std::move(name));
  return change;
}

class CacheCoherenceTest : public testing::Test {
 protected:
  CacheCoherenceTest()
      : attrs_(absl::Seconds(1)), coherence_(Options(), &inodes_, &attrs_) {
    coherence_.Connect(&kernel_, nullptr);
  }

  static CacheCoherence::Options Options() {
    CacheCoherence::Options options;
    options.entry_timeout = absl::Seconds(60);
    options.attr_timeout = absl::Seconds(50);
    options.negative_timeout = absl::Seconds(40);
    options.fallback_timeout = absl::Seconds(1);
    options.max_names = 3;
    return options;
  }

  void Apply(std::vector<Invalidation> changes) {
    WatchReply reply;
    for (Invalidation& change : changes) {
      *reply.add_invalidations() = std::move(change);
    }
    coherence_.OnInvalidations(reply);
  }

  InodeTable inodes_;
  AttrCache attrs_;
  RecordingKernel kernel_;
  CacheCoherence coherence_;
};

TEST_F(CacheCoherenceTest, ShortTimeoutsUntilSynced) {
  EXPECT_FALSE(coherence_.synced());
  EXPECT_FALSE(coherence_.KeepPages());
  EXPECT_EQ(coherence_.AttrTimeout(), absl::Seconds(1));
  CacheTimeouts before = coherence_.ForEntry(1, "a", 50);
  EXPECT_EQ(before.entry, absl::Seconds(1));
  EXPECT_EQ(before.attr, absl::Seconds(1));
  EXPECT_EQ(coherence_.ForNegativeEntry(1, "b").entry, absl::Seconds(1));

  coherence_.OnSynced();
  EXPECT_TRUE(coherence_.synced());
  EXPECT_TRUE(coherence_.KeepPages());
  EXPECT_EQ(coherence_.AttrTimeout(), absl::Seconds(50));
  CacheTimeouts after = coherence_.ForEntry(1, "a", 50);
  EXPECT_EQ(after.entry, absl::Seconds(60));
  EXPECT_EQ(after.attr, absl::Seconds(50));
  EXPECT_EQ(coherence_.ForNegativeEntry(1, "b").entry, absl::Seconds(40));
}

TEST_F(CacheCoherenceTest, SyncAndLossInvalidateEverythingCached) {
  inodes_.Remember(AttrOf(5));
  coherence_.OnSynced();
  EXPECT_THAT(kernel_.told, UnorderedElementsAre("data 1", "data 5"));
  kernel_.told.clear();
  coherence_.ForEntry(1, "five", 50);
  coherence_.ForNegativeEntry(1, "missing");
  coherence_.OnLost();
  EXPECT_FALSE(coherence_.synced());
  EXPECT_THAT(kernel_.told,
              UnorderedElementsAre("data 1", "data 5", "entry 1/five",
                                   "entry 1/missing"));
  // The loss forgot the names: a second one has only the inodes to drop.
  kernel_.told.clear();
  coherence_.OnSynced();
  EXPECT_THAT(kernel_.told, UnorderedElementsAre("data 1", "data 5"));
}

TEST_F(CacheCoherenceTest, InvalidationsReachTheKernel) {
  coherence_.OnSynced();
  kernel_.told.clear();
  Apply({Change(Invalidation::ENTRY, 1, "x"), Change(Invalidation::ATTR, 7),
         Change(Invalidation::DATA, 8)});
  EXPECT_THAT(kernel_.told,
              ElementsAre("entry 1/x", "data 1", "attr 7", "data 8"));
}

TEST_F(CacheCoherenceTest, AllOfADirectoryDropsEveryNameUnderIt) {
  Attr dir = AttrOf(9);
  inodes_.Remember(dir);
  coherence_.OnSynced();
  coherence_.ForEntry(9, "a", 50);
  coherence_.ForNegativeEntry(9, "b");
  coherence_.ForEntry(1, "dir", 50);
  kernel_.told.clear();
  Apply({Change(Invalidation::ALL, 9)});
  EXPECT_THAT(kernel_.told,
              UnorderedElementsAre("data 9", "entry 9/a", "entry 9/b"));
  // Those names are forgotten; the root's is not.
  kernel_.told.clear();
  coherence_.OnLost();
  EXPECT_THAT(kernel_.told,
              UnorderedElementsAre("data 1", "data 9", "entry 1/dir"));
}

TEST_F(CacheCoherenceTest, NamesBeyondTheCapGetShortTimeouts) {
  coherence_.OnSynced();
  EXPECT_EQ(coherence_.ForEntry(1, "a", 50).entry, absl::Seconds(60));
  EXPECT_EQ(coherence_.ForEntry(1, "b", 50).entry, absl::Seconds(60));
  EXPECT_EQ(coherence_.ForEntry(1, "c", 50).entry, absl::Seconds(60));
  EXPECT_EQ(coherence_.ForEntry(1, "d", 50).entry, absl::Seconds(1));
  // A name remembered already does not count twice.
  EXPECT_EQ(coherence_.ForEntry(1, "a", 50).entry, absl::Seconds(60));
  // An invalidation frees its name's place.
  Apply({Change(Invalidation::ENTRY, 1, "b")});
  EXPECT_EQ(coherence_.ForEntry(1, "d", 50).entry, absl::Seconds(60));
}

TEST_F(CacheCoherenceTest, ADirectoryLeavingTheTableTakesItsNames) {
  Attr dir = AttrOf(9);
  inodes_.Remember(dir);
  coherence_.OnSynced();
  coherence_.ForEntry(9, "a", 50);
  inodes_.Forget(9, 1);
  kernel_.told.clear();
  coherence_.OnLost();
  EXPECT_THAT(kernel_.told, ElementsAre("data 1"));
}

TEST_F(CacheCoherenceTest, RemembersWhichInodeANameNamesAcrossRenames) {
  coherence_.OnSynced();
  coherence_.ForEntry(1, "a", 5);
  coherence_.ForEntry(1, "b", 6);
  coherence_.ForNegativeEntry(1, "gone");
  EXPECT_EQ(coherence_.Child(1, "a"), 5u);
  EXPECT_EQ(coherence_.Child(1, "gone"), 0u);
  EXPECT_FALSE(coherence_.Child(1, "never").has_value());
  coherence_.Renamed(1, "a", 1, "b", /*exchange=*/false);
  EXPECT_FALSE(coherence_.Child(1, "a").has_value());
  EXPECT_EQ(coherence_.Child(1, "b"), 5u);
  coherence_.ForEntry(1, "c", 7);
  coherence_.Renamed(1, "b", 1, "c", /*exchange=*/true);
  EXPECT_EQ(coherence_.Child(1, "b"), 7u);
  EXPECT_EQ(coherence_.Child(1, "c"), 5u);
  coherence_.Removed(1, "c");
  EXPECT_FALSE(coherence_.Child(1, "c").has_value());
}

TEST_F(CacheCoherenceTest, HeldInodesAreTheTable) {
  inodes_.Remember(AttrOf(5));
  inodes_.Remember(AttrOf(6));
  inodes_.Forget(6, 1);
  EXPECT_THAT(coherence_.HeldInodes(), UnorderedElementsAre(1, 5));
}

TEST_F(CacheCoherenceTest, InvalidationsDropDirectoryAttrsKeptLocally) {
  coherence_.OnSynced();
  const absl::Time now = absl::Now();
  attrs_.Put(AttrOf(3), now, attrs_.Ticket());
  Apply({Change(Invalidation::ATTR, 3)});
  EXPECT_FALSE(attrs_.Get(3).has_value());
  EXPECT_THAT(coherence_.HeldInodes(), ElementsAre(1));
  EXPECT_THAT(kernel_.told, Not(IsEmpty()));
}

}  // namespace
}  // namespace rbfs
