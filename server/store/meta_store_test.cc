#include "server/store/meta_store.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "gtest/gtest.h"

namespace rbfs {
namespace {

std::string TempDir(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::filesystem::remove_all(path);
  return path;
}

TEST(MetaStoreTest, KeysSortNumerically) {
  EXPECT_LT(MetaStore::InodeKey(255), MetaStore::InodeKey(256));
  EXPECT_LT(MetaStore::CookieKey(1, 9), MetaStore::CookieKey(1, 10));
  EXPECT_LT(MetaStore::CookieKey(1, ~uint64_t{0}), MetaStore::CookieKey(2, 0));
  EXPECT_LT(MetaStore::BlockKey(3, 1 << 20), MetaStore::BlockKey(4, 0));
  EXPECT_EQ(MetaStore::DecodeU64(MetaStore::EncodeBlock(0x0102030405060708)),
            0x0102030405060708u);
}

TEST(MetaStoreTest, BatchesAreAtomicAndSurviveReopen) {
  const std::string path = TempDir("meta");
  {
    absl::StatusOr<std::unique_ptr<MetaStore>> store =
        MetaStore::Open(path, nullptr);
    ASSERT_TRUE(store.ok()) << store.status();
    rocksdb::WriteBatch batch;
    meta::InodeRecord inode;
    inode.set_size(42);
    MetaStore::PutInode(&batch, 7, inode);
    meta::DirentRecord d;
    d.set_ino(7);
    d.set_cookie(3);
    MetaStore::PutDirent(&batch, 1, "seven", d);
    batch.Put(MetaStore::BlockKey(7, 0), MetaStore::EncodeBlock(99));
    ASSERT_TRUE((*store)->Commit(&batch).ok());
    ASSERT_TRUE((*store)->Sync().ok());
  }
  absl::StatusOr<std::unique_ptr<MetaStore>> store =
      MetaStore::Open(path, nullptr);
  ASSERT_TRUE(store.ok());
  absl::StatusOr<meta::InodeRecord> inode = (*store)->GetInode(7);
  ASSERT_TRUE(inode.ok());
  EXPECT_EQ(inode->size(), 42u);
  absl::StatusOr<meta::DirentRecord> d = (*store)->GetDirent(1, "seven");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->ino(), 7u);
  EXPECT_EQ(*(*store)->GetBlock(7, 0), 99u);
  EXPECT_EQ(*(*store)->GetBlock(7, 1), 0u) << "a hole";
  EXPECT_TRUE(absl::IsNotFound((*store)->GetInode(8).status()));

  std::vector<std::string> names;
  ASSERT_TRUE((*store)
                  ->Scan(MetaStore::CookiePrefix(1), MetaStore::CookieKey(1, 0),
                         [&](absl::string_view, absl::string_view v) {
                           meta::DirentRecord c;
                           c.ParseFromArray(v.data(), v.size());
                           names.push_back(c.name());
                           return true;
                         })
                  .ok());
  EXPECT_EQ(names, std::vector<std::string>{"seven"});
}

}  // namespace
}  // namespace rbfs
