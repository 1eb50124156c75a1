#include "server/store/rocks_meta_store.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

std::string TempDir(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::filesystem::remove_all(path);
  return path;
}

using Store = RocksMetaStore;

TEST(RocksMetaStoreTest, BatchesAreAtomicAndSurviveReopen) {
  const std::string path = TempDir("meta");
  {
    EXPECT_FALSE(Store::Exists(path));
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, nullptr);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_TRUE(Store::Exists(path));
    std::unique_ptr<MetaBatch> batch = (*store)->NewBatch();
    meta::InodeRecord inode;
    inode.set_size(42);
    batch->PutInode(7, inode);
    batch->PutInode(8, inode);
    batch->DeleteInode(8);
    meta::DirentRecord d;
    d.set_ino(7);
    d.set_cookie(3);
    batch->PutDirent(1, "seven", d);
    batch->PutBlock(7, 0, 99);
    batch->PutBlock(7, 5, 100);
    batch->PutBlock(9, 0, 101);
    batch->PutOrphan(7, "");
    meta::CallRecord call;
    call.set_ino(7);
    batch->PutCall(3, 1, call);
    batch->PutCall(3, 2, call);
    batch->PutCall(4, 1, call);
    batch->DeleteCall(3, 2);
    ASSERT_TRUE((*store)->Commit(batch.get()).ok());
    ASSERT_TRUE((*store)->Sync().ok());
  }
  RocksMetaStoreFactory factory(path);
  EXPECT_EQ(factory.Exists().value_or(false), true);
  absl::StatusOr<std::unique_ptr<MetaStore>> store = factory.Open(nullptr);
  ASSERT_TRUE(store.ok());
  absl::StatusOr<meta::InodeRecord> inode = (*store)->GetInode(7);
  ASSERT_TRUE(inode.ok());
  EXPECT_EQ(inode->size(), 42u);
  absl::StatusOr<meta::DirentRecord> d = (*store)->GetDirent(1, "seven");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->ino(), 7u);
  EXPECT_EQ(*(*store)->GetBlock(7, 0), 99u);
  EXPECT_EQ(*(*store)->GetBlock(7, 1), 0u) << "a hole";
  EXPECT_EQ(*(*store)->GetBlocks(7, 0, 7),
            (std::vector<uint64_t>{99, 0, 0, 0, 0, 100, 0}));
  EXPECT_EQ(*(*store)->GetBlocks(7, 6, 2), (std::vector<uint64_t>{0, 0}))
      << "nothing of inode 9";
  EXPECT_EQ(*(*store)->GetBlocks(9, 0, 1), (std::vector<uint64_t>{101}));
  EXPECT_TRUE(absl::IsNotFound((*store)->GetInode(8).status()));

  EXPECT_EQ((*store)->GetCall(3, 1)->ino(), 7u);
  EXPECT_TRUE(absl::IsNotFound((*store)->GetCall(3, 2).status()));

  std::vector<std::string> names;
  ASSERT_TRUE((*store)
                  ->ForEachDirent(1, 0,
                                  [&](const meta::DirentRecord& c) {
                                    names.push_back(c.name());
                                    return c.ino() == 7;
                                  })
                  .ok());
  EXPECT_EQ(names, std::vector<std::string>{"seven"});
  std::vector<uint64_t> seen;
  ASSERT_TRUE((*store)
                  ->ForEachBlockOf(7, 1,
                                   [&](uint64_t index, uint64_t block) {
                                     seen.push_back(index);
                                     seen.push_back(block);
                                     return true;
                                   })
                  .ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{5, 100}));
  seen.clear();
  ASSERT_TRUE((*store)
                  ->ForEachBlock([&](uint64_t ino, uint64_t, uint64_t block) {
                    seen.push_back(ino);
                    seen.push_back(block);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{7, 99, 7, 100, 9, 101}));
  seen.clear();
  ASSERT_TRUE((*store)
                  ->ForEachInode([&](uint64_t ino) {
                    seen.push_back(ino);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(seen, std::vector<uint64_t>{7});
  seen.clear();
  ASSERT_TRUE((*store)
                  ->ForEachOrphan([&](uint64_t ino, absl::string_view) {
                    seen.push_back(ino);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(seen, std::vector<uint64_t>{7});
  seen.clear();
  ASSERT_TRUE((*store)
                  ->ForEachCall([&](uint64_t session, uint64_t seq) {
                    seen.push_back(session);
                    seen.push_back(seq);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{3, 1, 4, 1}));
  seen.clear();
  ASSERT_TRUE((*store)
                  ->ForEachCallOf(4,
                                  [&](uint64_t seq) {
                                    seen.push_back(seq);
                                    return true;
                                  })
                  .ok());
  EXPECT_EQ(seen, std::vector<uint64_t>{1});
}

// Values are raw bytes (NULs and all), found per inode in name order, and
// one inode's attributes never show among another's (the name follows the
// inode number in the key).
TEST(RocksMetaStoreTest, ExtendedAttributesKeepTheirBytesPerInode) {
  absl::StatusOr<std::unique_ptr<Store>> store =
      Store::Open(TempDir("xattrs"), nullptr);
  ASSERT_TRUE(store.ok()) << store.status();
  const std::string binary("\0\xff\x01value\0", 9);
  std::unique_ptr<MetaBatch> batch = (*store)->NewBatch();
  batch->PutXattr(7, "user.b", binary);
  batch->PutXattr(7, "user.a", "");
  batch->PutXattr(7, "user.gone", "x");
  batch->PutXattr(8, "user.a", "eight");
  batch->PutXattr(256, "user.a", "far");
  batch->DeleteXattr(7, "user.gone");
  ASSERT_TRUE((*store)->Commit(batch.get()).ok());

  EXPECT_EQ(*(*store)->GetXattr(7, "user.b"), binary);
  EXPECT_EQ(*(*store)->GetXattr(7, "user.a"), "");
  EXPECT_TRUE(absl::IsNotFound((*store)->GetXattr(7, "user.gone").status()));
  EXPECT_TRUE(absl::IsNotFound((*store)->GetXattr(9, "user.a").status()));

  std::vector<std::string> seen;
  ASSERT_TRUE((*store)
                  ->ForEachXattrOf(
                      7,
                      [&](absl::string_view name, absl::string_view value) {
                        seen.push_back(std::string(name));
                        seen.push_back(std::string(value));
                        return true;
                      })
                  .ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"user.a", "", "user.b", binary}));
  seen.clear();
  ASSERT_TRUE((*store)
                  ->ForEachXattr([&](uint64_t ino, absl::string_view name,
                                     absl::string_view value) {
                    seen.push_back(absl::StrCat(ino, " ", name, " ", value));
                    return true;
                  })
                  .ok());
  EXPECT_EQ(seen, (std::vector<std::string>{
                      "7 user.a ", absl::StrCat("7 user.b ", binary),
                      "8 user.a eight", "256 user.a far"}));
}

}  // namespace
}  // namespace rbfs
