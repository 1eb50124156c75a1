#include "server/rpc/store_changes.h"

#include <string>

#include "gtest/gtest.h"
#include "server/store/meta.pb.h"
#include "server/store/meta_keys.h"

namespace rbfs {
namespace {

std::string Inode(uint64_t size, int64_t mtime, uint32_t mode) {
  meta::InodeRecord r;
  r.set_size(size);
  r.set_mtime_ns(mtime);
  r.set_mode(mode);
  return r.SerializeAsString();
}

TEST(StoreChangesTest, AnInodeChangeInvalidatesItsDataOnlyWhenItMoved) {
  StoreChange chmod{meta_keys::InodeKey(7), false, Inode(10, 5, 0600),
                    Inode(10, 5, 0644)};
  EXPECT_EQ(ChangesOf(chmod), std::vector<Change>{Change::Attr(7)});
  StoreChange write{meta_keys::InodeKey(7), false, Inode(20, 6, 0600),
                    Inode(10, 5, 0600)};
  EXPECT_EQ(ChangesOf(write), std::vector<Change>{Change::Data(7)});
  StoreChange created{meta_keys::InodeKey(8), false, Inode(0, 1, 0600), ""};
  EXPECT_EQ(ChangesOf(created), std::vector<Change>{Change::Data(8)});
  StoreChange gone{meta_keys::InodeKey(7), true, "", Inode(10, 5, 0600)};
  EXPECT_EQ(ChangesOf(gone), std::vector<Change>{Change::All(7)});
}

TEST(StoreChangesTest, AnEntryOrAttributeChangeInvalidatesThatAndNoMore) {
  StoreChange entry{meta_keys::DirentKey(1, "a.txt"), true, "", "x"};
  EXPECT_EQ(ChangesOf(entry), std::vector<Change>{Change::Entry(1, "a.txt")});
  StoreChange xattr{meta_keys::XattrKey(9, "user.k"), false, "v", ""};
  EXPECT_EQ(ChangesOf(xattr), std::vector<Change>{Change::Attr(9)});
  StoreChange block{meta_keys::BlockKey(9, 0), false, meta_keys::EncodeU64(5),
                    ""};
  EXPECT_TRUE(ChangesOf(block).empty());
  StoreChange cookie{meta_keys::CookieKey(1, 3), false, "x", ""};
  EXPECT_TRUE(ChangesOf(cookie).empty());
}

}  // namespace
}  // namespace rbfs
