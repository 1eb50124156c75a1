// Committer: makes the volume durable in the order crash safety needs.
//
// A commit syncs the block store's data, then the metadata WAL, then returns
// the blocks freed before it to the allocator. Fsync callers share commits
// (group commit): a caller waits for one commit that began after its call.
// A background thread also commits every `interval` while there is
// un-synced work, bounding what a power cut can lose.
//
// A failed commit is final: Linux forgets a write-back error once fsync has
// reported it, so a later sync could succeed over lost data. Every Sync
// after a failure returns that failure until the server restarts.
#ifndef RBFS_SERVER_STORE_COMMITTER_H_
#define RBFS_SERVER_STORE_COMMITTER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics/metrics.h"
#include "server/store/block_allocator.h"
#include "server/store/block_device.h"
#include "server/store/meta_store.h"

namespace rbfs {

class Committer {
 public:
  Committer(BlockDevice* blocks, MetaStore* meta, BlockAllocator* allocator,
            absl::Duration interval);
  // Stops the background thread after a final commit.
  ~Committer();

  // Notes that there is work to make durable.
  void MarkDirty();
  // Returns once everything committed before the call is durable.
  absl::Status Sync();
  // The failure of the first commit that failed; OK while none has.
  absl::Status failure();
  // Calls `listener` (from the committing thread, once) when a commit
  // fails; null stops that. For telling the mounts at once.
  void SetFailureListener(std::function<void(const absl::Status&)> listener);
  // How long each commit took (its count is the commits made).
  const Histogram& commit_latency() const { return commit_latency_; }

 private:
  absl::Status CommitOnce();
  void Loop();

  BlockDevice* const blocks_;
  MetaStore* const meta_;
  BlockAllocator* const allocator_;
  const absl::Duration interval_;

  absl::Mutex state_mu_;
  uint64_t requested_ ABSL_GUARDED_BY(state_mu_) = 0;  // tickets handed out
  uint64_t completed_ ABSL_GUARDED_BY(state_mu_) = 0;  // tickets made durable
  bool dirty_ ABSL_GUARDED_BY(state_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(state_mu_) = false;
  absl::Status failure_ ABSL_GUARDED_BY(state_mu_);  // first failed commit
  std::function<void(const absl::Status&)> failure_listener_
      ABSL_GUARDED_BY(state_mu_);
  // Set once failure_ is; lets failure() skip the lock on the write path.
  std::atomic<bool> failed_{false};

  // Held for the whole of one commit; commits never overlap.
  absl::Mutex commit_mu_ ABSL_ACQUIRED_AFTER(state_mu_);

  Histogram commit_latency_{LatencyBuckets()};

  std::thread thread_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_COMMITTER_H_
