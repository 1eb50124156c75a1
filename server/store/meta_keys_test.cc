#include "server/store/meta_keys.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace rbfs::meta_keys {
namespace {

TEST(MetaKeysTest, KeysSortNumerically) {
  EXPECT_LT(InodeKey(255), InodeKey(256));
  EXPECT_LT(CookieKey(1, 9), CookieKey(1, 10));
  EXPECT_LT(CookieKey(1, ~uint64_t{0}), CookieKey(2, 0));
  EXPECT_LT(BlockKey(3, 1 << 20), BlockKey(4, 0));
  EXPECT_LT(CallKey(5, 255), CallKey(5, 256));
  EXPECT_EQ(DecodeU64(EncodeU64(0x0102030405060708)), 0x0102030405060708u);
}

TEST(MetaKeysTest, ABlockKeyParsesBackAndNothingElseDoes) {
  uint64_t ino = 0;
  uint64_t index = 0;
  ASSERT_TRUE(ParseBlockKey(BlockKey(7, 1 << 20), &ino, &index));
  EXPECT_EQ(ino, 7u);
  EXPECT_EQ(index, uint64_t{1} << 20);
  EXPECT_FALSE(ParseBlockKey(BlockPrefix(7), &ino, &index));
  EXPECT_FALSE(ParseBlockKey(CookieKey(7, 1), &ino, &index));
  EXPECT_FALSE(ParseBlockKey(BlockKey(7, 1) + "x", &ino, &index));
}

TEST(MetaKeysTest, AGroupKeyParsesBackAndNothingElseDoes) {
  uint64_t group = 0;
  ASSERT_TRUE(ParseGroupKey(GroupKey(300), &group));
  EXPECT_EQ(group, 300u);
  EXPECT_FALSE(ParseGroupKey(MemberKey(300), &group));
  EXPECT_FALSE(ParseGroupKey(GroupKey(300) + "x", &group));
  EXPECT_LT(MemberKey(1), MemberKey(2));
}

TEST(MetaKeysTest, PrefixEndBoundsExactlyThePrefix) {
  const std::string prefix = BlockPrefix(7);
  const std::string end = PrefixEnd(prefix);
  EXPECT_LT(BlockKey(7, ~uint64_t{0}), end);
  EXPECT_LE(end, BlockKey(8, 0));
  EXPECT_EQ(PrefixEnd("a\xff\xff"), "b");
  EXPECT_EQ(PrefixEnd("\xff"), "");
}

// Records the batch's keys as a store sees them.
class RecordingBatch : public KeyValueMetaBatch {
 public:
  std::vector<std::pair<std::string, std::string>> puts;
  std::vector<std::string> deletes;

 private:
  void Put(std::string key, std::string value) override {
    puts.emplace_back(std::move(key), std::move(value));
  }
  void Delete(std::string key) override { deletes.push_back(std::move(key)); }
};

TEST(MetaKeysTest, AnEntryIsWrittenByNameAndByCookie) {
  RecordingBatch batch;
  meta::DirentRecord d;
  d.set_ino(9);
  d.set_cookie(4);
  d.set_name("ignored: the name is the key's");
  batch.PutDirent(1, "f", d);
  ASSERT_EQ(batch.puts.size(), 2u);
  EXPECT_EQ(batch.puts[0].first, DirentKey(1, "f"));
  meta::DirentRecord by_name;
  ASSERT_TRUE(by_name.ParseFromString(batch.puts[0].second));
  EXPECT_EQ(by_name.ino(), 9u);
  EXPECT_TRUE(by_name.name().empty());
  EXPECT_EQ(batch.puts[1].first, CookieKey(1, 4));
  meta::DirentRecord by_cookie;
  ASSERT_TRUE(by_cookie.ParseFromString(batch.puts[1].second));
  EXPECT_EQ(by_cookie.name(), "f");

  batch.DeleteDirent(1, "f", 4);
  EXPECT_EQ(batch.deletes,
            (std::vector<std::string>{DirentKey(1, "f"), CookieKey(1, 4)}));
}

TEST(MetaKeysTest, ABlockMapsToItsNumber) {
  RecordingBatch batch;
  batch.PutBlock(3, 2, 77);
  ASSERT_EQ(batch.puts.size(), 1u);
  EXPECT_EQ(batch.puts[0].first, BlockKey(3, 2));
  EXPECT_EQ(DecodeU64(batch.puts[0].second), 77u);
}

}  // namespace
}  // namespace rbfs::meta_keys
