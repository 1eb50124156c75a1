// Checker: an offline consistency check of a data directory (fsck).
//
// Reads every metadata record and verifies that the pieces agree: each
// directory entry has both its by-name and by-cookie record and names a
// live inode of the recorded type; link counts and directory entry counts
// match the entries; every mapped block lies inside the volume and is
// owned once; per-inode block counts match the block maps. Free space is
// derived from the block maps at start, so a block can be leaked only
// through an inode no entry reaches, which is reported too (orphans of a
// crashed run are listed; the next start reclaims them). It reads any
// MetaStore: through the interface where that has the records, through raw
// scans where it checks the key schema itself (meta_keys.h: each entry's
// two records) or records too broken to decode.
#ifndef RBFS_SERVER_STORE_CHECKER_H_
#define RBFS_SERVER_STORE_CHECKER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/store/block_device.h"
#include "server/store/meta_store.h"

namespace rbfs {

struct CheckReport {
  std::vector<std::string> problems;  // each one makes the volume unclean
  std::vector<std::string> notes;     // harmless findings
  uint64_t inodes = 0;
  uint64_t entries = 0;
  uint64_t blocks = 0;
  bool clean() const { return problems.empty(); }
};

// Checks the store in `data_dir` (volume at `volume_path`, or
// <data_dir>/volume when empty). The server must not be running on it.
absl::StatusOr<CheckReport> CheckDataDir(const std::string& data_dir,
                                         const std::string& volume_path);
// The metadata store and the volume wherever they are (etcd, an RBD
// image).
absl::StatusOr<CheckReport> CheckStores(const MetaStoreFactory& meta,
                                        const BlockDeviceFactory& volume);

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_CHECKER_H_
