// The server's block store and filesystem write path alone, no RPC: where a
// regression in the data path shows first.
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "server/fs/filesystem.h"
#include "server/store/block_store.h"
#include "server/store/local_stores.h"

namespace rbfs {
namespace {

// A filesystem on the local stores of `dir`.
std::unique_ptr<Filesystem> OpenFilesystem(const std::string& dir,
                                           uint64_t volume_size,
                                           uint32_t block_size) {
  LocalStoreOptions local;
  local.data_dir = dir;
  local.volume_size = volume_size;
  local.block_size = block_size;
  Filesystem::Options options;
  options.stores = *MakeLocalStores(local);
  return std::move(*Filesystem::Open(options));
}

std::string BenchDir(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void BM_BlockStoreWrite(benchmark::State& state) {
  const std::string dir = BenchDir("rbfs_block_bench");
  BlockStore::Options options;
  options.volume_size = 1ull << 30;
  auto store =
      std::move(*BlockStore::Open(LocalVolumePath(dir, ""), options, true));
  const std::string block(store->block_size(), 'b');
  uint64_t next = 1;
  for (auto _ : state) {
    if (!store->Write(next, 0, block).ok()) state.SkipWithError("write");
    next = next + 1 < store->block_count() ? next + 1 : 1;
  }
  state.SetBytesProcessed(state.iterations() * block.size());
  std::filesystem::remove_all(dir);
}

void BM_FilesystemWrite(benchmark::State& state) {
  const std::string dir = BenchDir("rbfs_fs_bench");
  auto fs =
      OpenFilesystem(dir, 2ull << 30, static_cast<uint32_t>(state.range(1)));
  const size_t size = state.range(0);
  auto entry = *fs->MkNod({1, 1}, "f", 0100644, 0, {}, true, false);
  const InodeRef id{entry.ino, entry.inode.generation()};
  const std::string data(size, 'f');
  uint64_t offset = 0;
  for (auto _ : state) {
    if (!fs->Write(id, offset, data).ok()) state.SkipWithError("write");
    offset = (offset + size) % (512ull << 20);
  }
  state.SetBytesProcessed(state.iterations() * size);
  fs.reset();
  std::filesystem::remove_all(dir);
}

// Writes that land in reused blocks: each iteration creates a file, writes
// it and unlinks its predecessor, with a commit every 16 files so that the
// freed blocks come back; a small volume makes the allocator wrap around
// onto them soon. Power-cut safety makes these writes pay a volume sync
// (docs/architecture.md, "Durability").
void BM_FilesystemReusedWrite(benchmark::State& state) {
  const std::string dir = BenchDir("rbfs_reuse_bench");
  constexpr uint64_t kVolumeSize = 256ull << 20;
  auto fs = OpenFilesystem(dir, kVolumeSize, BlockStore::kDefaultBlockSize);
  const size_t size = state.range(0);
  const std::string data(size, 'r');
  // Warm up: run the volume's never-used blocks out first.
  for (uint64_t used = 0; used < kVolumeSize; used += 1 << 20) {
    const std::string name = "warm" + std::to_string(used);
    auto e = *fs->MkNod({1, 1}, name, 0100644, 0, {}, true, false);
    if (!fs->Write({e.ino, e.inode.generation()}, 0, std::string(1 << 20, 'w'))
             .ok() ||
        !fs->Unlink({1, 1}, name).ok()) {
      state.SkipWithError("warm-up failed");
      return;
    }
    if (used % (16 << 20) == 0 && !fs->SyncAll().ok()) {
      state.SkipWithError("sync failed");
      return;
    }
  }
  if (!fs->SyncAll().ok()) state.SkipWithError("sync failed");
  int i = 0;
  for (auto _ : state) {
    const std::string name = "f" + std::to_string(i);
    auto e = fs->MkNod({1, 1}, name, 0100644, 0, {}, true, false);
    if (!e.ok() || !fs->Write({e->ino, e->inode.generation()}, 0, data).ok() ||
        (i > 0 && !fs->Unlink({1, 1}, "f" + std::to_string(i - 1)).ok()) ||
        (i % 16 == 15 && !fs->SyncAll().ok())) {
      state.SkipWithError("reused write failed");
      break;
    }
    ++i;
  }
  state.SetBytesProcessed(state.iterations() * size);
  fs.reset();
  std::filesystem::remove_all(dir);
}

// Metadata cost without RPC: create and unlink of an empty file.
void BM_FilesystemCreateUnlink(benchmark::State& state) {
  const std::string dir = BenchDir("rbfs_meta_bench");
  auto fs = OpenFilesystem(dir, 1ull << 30, BlockStore::kDefaultBlockSize);
  int i = 0;
  for (auto _ : state) {
    const std::string name = "f" + std::to_string(i++);
    if (!fs->MkNod({1, 1}, name, 0100644, 0, {}, true, false).ok() ||
        !fs->Unlink({1, 1}, name).ok()) {
      state.SkipWithError("create/unlink failed");
    }
  }
  fs.reset();
  std::filesystem::remove_all(dir);
}

BENCHMARK(BM_FilesystemCreateUnlink)->UseRealTime();
BENCHMARK(BM_BlockStoreWrite)->UseRealTime();
// Write size x block size: how the block size trades small-write cost
// (a fresh block is written whole) against per-block metadata.
BENCHMARK(BM_FilesystemWrite)
    ->ArgsProduct({{4 << 10, 64 << 10, 1 << 20}, {4 << 10, 64 << 10, 1 << 20}})
    ->UseRealTime();
BENCHMARK(BM_FilesystemReusedWrite)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();

}  // namespace
}  // namespace rbfs
