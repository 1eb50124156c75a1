// Power cuts under the filesystem: a seeded workload runs on a Filesystem
// whose volume and metadata store sit on fault layers; at a random moment
// the power goes off and every write not made durable by a sync is thrown
// away (or, in harsher rounds, only some of them: the kernel may have
// written any unsynced page back on its own). After reopening, every byte
// a returned Fsync covered must be there, no file may show bytes that were
// never written to it, and the checker must find the store consistent.
// RBFS_POWER_CUT_ROUNDS=N runs N rounds instead of 40.
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "gtest/gtest.h"
#include "protos/rbfs.pb.h"
#include "rocksdb/env.h"
#include "server/fs/filesystem.h"
#include "server/store/checker.h"
#include "server/store/local_stores.h"
#include "server/testing/fault_block_device.h"
#include "server/testing/power_cut_fs.h"

namespace rbfs {
namespace {

constexpr InodeRef kRoot{Filesystem::kRootIno, Filesystem::kRootGeneration};
constexpr uint32_t kBlockSize = 4096;
// Small enough that the allocator wraps around and reuses freed blocks.
constexpr uint64_t kVolumeBytes = 1 << 20;

// The byte that write `seed` puts at file offset `offset`.
char PatternByte(uint64_t seed, uint64_t offset) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + offset * 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 31;
  x *= 0x94d049bb133111ebULL;
  return static_cast<char>(x >> 56);
}

struct WriteRecord {
  uint64_t seed;
  uint64_t offset;
  uint64_t length;
};

// What the test knows of one file it created.
struct ModelFile {
  InodeRef ref;
  bool in_subdir = false;
  std::string name;
  bool linked = true;
  std::string content;
  // Content at the last returned Fsync, valid while `clean`: nothing
  // touched the file (data, size or name) since.
  std::string synced;
  bool clean = false;
  std::vector<WriteRecord> writes;
};

struct RoundResult {
  uint64_t ops = 0;
  uint64_t bytes_verified = 0;
  uint64_t synced_files_verified = 0;
  uint64_t blocks_restored = 0;
};

class PowerCutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    root_ = std::string(tmp ? tmp : "/tmp") + "/power_cut";
  }

  // The local stores in `dir`, RocksDB over `meta_env` if given.
  static absl::StatusOr<Stores> LocalStores(const std::string& dir,
                                            rocksdb::Env* meta_env = nullptr) {
    LocalStoreOptions local;
    local.data_dir = dir;
    local.block_size = kBlockSize;
    local.volume_size = kVolumeBytes;
    local.meta_env = meta_env;
    return MakeLocalStores(local);
  }

  static Filesystem::Options BaseOptions(Stores stores) {
    Filesystem::Options options;
    options.stores = std::move(stores);
    // Only Fsync makes anything durable, so the test knows what must be.
    options.commit_interval = absl::Hours(1);
    return options;
  }

  void RunRound(uint64_t seed, RoundResult* result);

  std::string root_;
};

void ExpectClean(const std::string& dir, const std::string& when) {
  absl::StatusOr<CheckReport> report = CheckDataDir(dir, "");
  ASSERT_TRUE(report.ok()) << when << ": " << report.status();
  for (const std::string& p : report->problems) {
    ADD_FAILURE() << when << ": " << p;
  }
}

void PowerCutTest::RunRound(uint64_t seed, RoundResult* result) {
  std::mt19937_64 rng(seed);
  auto pick = [&](uint64_t n) {
    return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng);
  };
  const std::string dir = absl::StrCat(root_, "/", seed);
  std::filesystem::remove_all(dir);

  auto faults = std::make_shared<VolumeFaults>();
  auto meta_fs =
      std::make_shared<PowerCutFileSystem>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> meta_env = rocksdb::NewCompositeEnv(meta_fs);
  absl::StatusOr<Stores> stores = LocalStores(dir, meta_env.get());
  ASSERT_TRUE(stores.ok()) << stores.status();
  Filesystem::Options options = BaseOptions(*stores);
  // Every other round, background commits race with the workload too.
  if (seed % 2 == 0) options.commit_interval = absl::Milliseconds(2);
  options.wrap_volume = [faults](std::unique_ptr<BlockDevice> inner) {
    return std::make_unique<FaultBlockDevice>(std::move(inner), faults);
  };
  absl::StatusOr<std::unique_ptr<Filesystem>> opened =
      Filesystem::Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<Filesystem> fs = *std::move(opened);

  absl::StatusOr<Entry> sub = fs->MkDir(kRoot, "d", 0755, {});
  ASSERT_TRUE(sub.ok()) << sub.status();
  const InodeRef subdir{sub->ino, sub->inode.generation()};
  ASSERT_TRUE(fs->SyncAll().ok());
  auto parent_of = [&](const ModelFile& f) {
    return f.in_subdir ? subdir : kRoot;
  };

  std::vector<ModelFile> files;
  std::vector<size_t> open_unlinked;  // files held open after their unlink
  auto linked_file = [&]() -> ModelFile* {
    std::vector<ModelFile*> live;
    for (ModelFile& f : files) {
      if (f.linked) live.push_back(&f);
    }
    return live.empty() ? nullptr : live[pick(live.size())];
  };

  const int ops = 40 + pick(60);
  for (int op = 0; op < ops; ++op) {
    const uint64_t kind = pick(100);
    ModelFile* f = linked_file();
    if (f == nullptr || (kind < 12 && files.size() < 40)) {
      ModelFile created;
      created.in_subdir = pick(2) == 1;
      created.name = absl::StrCat("f", files.size());
      absl::StatusOr<Entry> e =
          fs->MkNod(created.in_subdir ? subdir : kRoot, created.name,
                    S_IFREG | 0644, 0, {}, /*exclusive=*/true, /*open=*/false);
      ASSERT_TRUE(e.ok()) << e.status();
      created.ref = {e->ino, e->inode.generation()};
      files.push_back(std::move(created));
    } else if (kind < 50) {
      const uint64_t offset = pick(64 << 10);
      const uint64_t length = 1 + pick(40 << 10);
      const uint64_t write_seed = rng();
      std::string data(length, '\0');
      for (uint64_t i = 0; i < length; ++i) {
        data[i] = PatternByte(write_seed, offset + i);
      }
      absl::StatusOr<uint64_t> size = fs->Write(f->ref, offset, data);
      if (!size.ok()) {
        ASSERT_EQ(StatusToErrno(size.status()), ENOSPC) << size.status();
        continue;
      }
      if (f->content.size() < offset + length) {
        f->content.resize(offset + length, '\0');
      }
      f->content.replace(offset, length, data);
      f->writes.push_back({write_seed, offset, length});
      f->clean = false;
    } else if (kind < 65) {
      ASSERT_TRUE(fs->Fsync(f->ref).ok());
      f->synced = f->content;
      f->clean = true;
    } else if (kind < 75) {
      SetAttrArgs args;
      args.valid = SETATTR_SIZE;
      args.size = pick(f->content.size() + (16 << 10) + 1);
      absl::StatusOr<Entry> e = fs->SetAttr(f->ref, args);
      ASSERT_TRUE(e.ok()) << e.status();
      f->content.resize(args.size, '\0');
      f->clean = false;
    } else if (kind < 85) {
      // Rename, sometimes over another live file.
      ModelFile* target = linked_file();
      bool in_subdir = pick(2) == 1;
      std::string name = absl::StrCat("r", op);
      if (target != f && pick(2) == 1) {
        name = target->name;
        in_subdir = target->in_subdir;
      } else {
        target = nullptr;
      }
      const InodeRef to = in_subdir ? subdir : kRoot;
      ASSERT_TRUE(fs->Rename(parent_of(*f), f->name, to, name, 0).ok());
      if (target != nullptr) {
        target->linked = false;
        target->clean = false;
      }
      f->in_subdir = in_subdir;
      f->name = name;
      f->clean = false;
    } else if (kind < 93) {
      const bool keep_open = pick(3) == 0;
      if (keep_open) {
        ASSERT_TRUE(fs->Open(f->ref, 0).ok());
        open_unlinked.push_back(f - files.data());
      }
      ASSERT_TRUE(fs->Unlink(parent_of(*f), f->name).ok());
      f->linked = false;
      f->clean = false;
    } else if (!open_unlinked.empty()) {
      ASSERT_TRUE(fs->Release(files[open_unlinked.back()].ref).ok());
      open_unlinked.pop_back();
    }
  }
  result->ops += ops;

  // The power goes off; what the machine held in flight is gone.
  faults->Die();
  meta_fs->Die();
  fs.reset();
  const uint64_t mode = pick(3);
  const PowerCutFileSystem::Tail tail =
      mode == 0   ? PowerCutFileSystem::Tail::kNone
      : mode == 1 ? PowerCutFileSystem::Tail::kRandomPrefix
                  : PowerCutFileSystem::Tail::kAll;
  const double volume_keep = mode == 0 ? 0.0 : mode == 1 ? 0.5 : 0.0;
  ASSERT_TRUE(meta_fs->PowerCut(&rng, tail).ok());
  absl::StatusOr<uint64_t> restored =
      faults->PowerCut(LocalVolumePath(dir, ""), &rng, volume_keep);
  ASSERT_TRUE(restored.ok()) << restored.status();
  result->blocks_restored += *restored;
  SCOPED_TRACE(absl::StrCat("seed ", seed, " ops ", ops, " cut mode ", mode));

  ExpectClean(dir, "after the power cut");
  stores = LocalStores(dir);
  ASSERT_TRUE(stores.ok()) << stores.status();
  opened = Filesystem::Open(BaseOptions(*stores));
  ASSERT_TRUE(opened.ok()) << opened.status();
  fs = *std::move(opened);

  std::map<uint64_t, const ModelFile*> by_ino;
  for (const ModelFile& f : files) by_ino[f.ref.ino] = &f;
  std::map<std::pair<bool, std::string>, uint64_t> found;  // name -> ino
  for (const bool in_subdir : {false, true}) {
    absl::StatusOr<DirListing> listing =
        fs->ReadDir(in_subdir ? subdir : kRoot, 0, 4096, false);
    ASSERT_TRUE(listing.ok()) << listing.status();
    ASSERT_TRUE(listing->eof);
    for (const DirItem& item : listing->items) {
      if (!in_subdir && item.name == "d") continue;
      found[{in_subdir, item.name}] = item.ino;
      auto it = by_ino.find(item.ino);
      ASSERT_NE(it, by_ino.end())
          << item.name << " is inode " << item.ino << ", never created";
      const ModelFile& f = *it->second;
      absl::StatusOr<Entry> attr = fs->GetAttr(f.ref);
      ASSERT_TRUE(attr.ok()) << attr.status();
      std::string got;
      for (uint64_t pos = 0; pos < attr->inode.size();
           pos += Filesystem::kMaxIoSize) {
        ASSERT_TRUE(fs->Read(f.ref, pos, Filesystem::kMaxIoSize, &got).ok());
      }
      ASSERT_EQ(got.size(), attr->inode.size());
      // Every nonzero byte must come from a write to this very file.
      std::vector<bool> explained(got.size(), false);
      for (const WriteRecord& w : f.writes) {
        for (uint64_t o = w.offset; o < w.offset + w.length && o < got.size();
             ++o) {
          if (got[o] == PatternByte(w.seed, o)) explained[o] = true;
        }
      }
      for (uint64_t o = 0; o < got.size(); ++o) {
        if (got[o] != 0 && !explained[o]) {
          FAIL() << item.name << " (inode " << item.ino << ", " << got.size()
                 << " bytes) holds a byte at offset " << o
                 << " that was never written to it";
        }
      }
      result->bytes_verified += got.size();
      if (f.clean && f.linked) {
        EXPECT_EQ(in_subdir, f.in_subdir) << item.name;
        EXPECT_EQ(item.name, f.name);
        EXPECT_TRUE(got == f.synced)
            << item.name << ": fsync'd content differs (size " << got.size()
            << ", synced " << f.synced.size() << ")";
        ++result->synced_files_verified;
      }
    }
  }
  for (const ModelFile& f : files) {
    if (!f.clean || !f.linked) continue;
    auto it = found.find({f.in_subdir, f.name});
    ASSERT_NE(it, found.end()) << f.name << " was fsync'd but is gone";
    EXPECT_EQ(it->second, f.ref.ino) << f.name;
  }
  fs.reset();
  ExpectClean(dir, "after reopening");
  std::filesystem::remove_all(dir);
}

TEST_F(PowerCutTest, SyncedDataSurvivesAndNothingForeignAppears) {
  int rounds = 40;
  if (const char* env = std::getenv("RBFS_POWER_CUT_ROUNDS")) {
    rounds = std::atoi(env);
  }
  RoundResult result;
  for (int seed = 1; seed <= rounds; ++seed) {
    RunRound(seed, &result);
    if (HasFatalFailure() || HasFailure()) {
      FAIL() << "seed " << seed << " failed";
    }
  }
  std::printf(
      "power cuts: %d rounds, %llu operations, %llu bytes verified, "
      "%llu fsync'd files verified exactly, %llu unsynced blocks rolled "
      "back\n",
      rounds, static_cast<unsigned long long>(result.ops),
      static_cast<unsigned long long>(result.bytes_verified),
      static_cast<unsigned long long>(result.synced_files_verified),
      static_cast<unsigned long long>(result.blocks_restored));
  EXPECT_GT(result.synced_files_verified, 0u);
  EXPECT_GT(result.blocks_restored, 0u);
}

}  // namespace
}  // namespace rbfs
