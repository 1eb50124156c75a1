// The local backends: the volume (a sparse file or a raw block device,
// BlockStore) and the metadata store (RocksDB), both under a data
// directory unless the volume is named elsewhere. The one place that knows
// a data directory's layout: the server, its checker and the tests open
// the local stores through here.
#ifndef RBFS_SERVER_STORE_LOCAL_STORES_H_
#define RBFS_SERVER_STORE_LOCAL_STORES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "server/store/block_store.h"
#include "server/store/stores.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace rbfs {

struct LocalStoreOptions {
  std::string data_dir;
  // The volume file or raw device; empty: <data_dir>/volume.
  std::string volume_path;
  // The geometry of a volume this opens new; an existing one keeps its own.
  uint64_t volume_size = BlockStore::kDefaultVolumeSize;
  uint32_t block_size = BlockStore::kDefaultBlockSize;
  // Replaces RocksDB's default environment (tests: fault injection); must
  // outlive the stores.
  rocksdb::Env* meta_env = nullptr;
};

// The volume: `volume_path`, or <data_dir>/volume when that is empty.
std::string LocalVolumePath(const std::string& data_dir,
                            const std::string& volume_path);
// The RocksDB directory: <data_dir>/meta.
std::string LocalMetaPath(const std::string& data_dir);

// Creates the data directory if missing and returns the factories of the
// volume and metadata store in it; opening them is the filesystem's part.
absl::StatusOr<Stores> MakeLocalStores(const LocalStoreOptions& options);

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_LOCAL_STORES_H_
