#include "server/fs/lock_table.h"

namespace rbfs {

std::shared_ptr<InodeLock> LockTable::Get(uint64_t ino) {
  Shard* shard = &shards_[ino % kShards];
  absl::MutexLock lock(&shard->mu);
  std::weak_ptr<InodeLock>& slot = shard->locks[ino];
  if (std::shared_ptr<InodeLock> live = slot.lock()) return live;
  std::shared_ptr<InodeLock> fresh(new InodeLock, [shard, ino](InodeLock* l) {
    absl::MutexLock lock(&shard->mu);
    auto it = shard->locks.find(ino);
    // A later Get may already have installed a new lock for this inode.
    if (it != shard->locks.end() && it->second.expired()) {
      shard->locks.erase(it);
    }
    delete l;
  });
  slot = fresh;
  return fresh;
}

}  // namespace rbfs
