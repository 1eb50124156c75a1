#include "server/testing/scratch_filesystem.h"

#include <cstdlib>
#include <filesystem>

#include "server/store/local_stores.h"

namespace rbfs::testing {

absl::StatusOr<std::unique_ptr<Filesystem>> OpenScratchFilesystem(
    const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  LocalStoreOptions local;
  local.data_dir = std::string(tmp ? tmp : "/tmp") + "/" + name;
  std::filesystem::remove_all(local.data_dir);
  local.volume_size = 16 << 20;
  local.block_size = 4096;
  absl::StatusOr<Stores> stores = MakeLocalStores(local);
  if (!stores.ok()) return stores.status();
  Filesystem::Options options;
  options.stores = *stores;
  return Filesystem::Open(options);
}

}  // namespace rbfs::testing
