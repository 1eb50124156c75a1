#include "server/store/local_stores.h"

#include <filesystem>
#include <memory>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "server/store/rocks_meta_store.h"

namespace rbfs {

std::string LocalVolumePath(const std::string& data_dir,
                            const std::string& volume_path) {
  return volume_path.empty() ? data_dir + "/volume" : volume_path;
}

std::string LocalMetaPath(const std::string& data_dir) {
  return data_dir + "/meta";
}

absl::StatusOr<Stores> MakeLocalStores(const LocalStoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return ErrnoError(ec.value(),
                      absl::StrCat("cannot create data directory ",
                                   options.data_dir, ": ", ec.message()));
  }
  BlockStore::Options volume;
  volume.block_size = options.block_size;
  volume.volume_size = options.volume_size;
  Stores stores;
  stores.volume = std::make_shared<BlockStoreFactory>(
      LocalVolumePath(options.data_dir, options.volume_path), volume);
  stores.meta = std::make_shared<RocksMetaStoreFactory>(
      LocalMetaPath(options.data_dir), options.meta_env);
  return stores;
}

}  // namespace rbfs
