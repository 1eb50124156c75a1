// LockTable: per-inode locks, created on demand and dropped when unused.
//
// Each inode has two locks. `data` guards the block map against reshaping:
// reads and writes hold it shared, truncation and reclaim hold it
// exclusively, so no reader ever follows a block that is being freed.
// `meta` serialises read-modify-write of the inode's record and, for a
// directory, of its entries. Order: rename mutex, then data, then meta;
// among meta locks, directories before files, an ancestor before its
// descendants, otherwise increasing inode number.
#ifndef RBFS_SERVER_FS_LOCK_TABLE_H_
#define RBFS_SERVER_FS_LOCK_TABLE_H_

#include <array>
#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace rbfs {

struct InodeLock {
  absl::Mutex data;
  absl::Mutex meta;
};

class LockTable {
 public:
  // The lock of `ino`; the same object for as long as anyone holds it.
  std::shared_ptr<InodeLock> Get(uint64_t ino);

 private:
  struct Shard {
    absl::Mutex mu;
    // Live locks by inode; entries are erased by the last holder.
    absl::flat_hash_map<uint64_t, std::weak_ptr<InodeLock>> locks
        ABSL_GUARDED_BY(mu);
  };
  static constexpr int kShards = 64;
  std::array<Shard, kShards> shards_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_FS_LOCK_TABLE_H_
