// SerialWorker: one thread that runs queued tasks in the order queued.
//
// The mount sends the calls no caller waits for (releasing a handle)
// through one, so they leave the FUSE worker threads while keeping their
// order. (Registering a read-only open this way was tried and is wrong: an
// open the server does not count yet does not keep a file another mount
// unlinks or renames over, and tests/mount/mount_load_test caught readers
// of freed inodes.) Hand-written because
// none of the project's libraries (absl, gRPC's public API) offers an
// executor; it is a queue and a thread.
//
// Thread safety: Run may be called from any thread; mu_ guards the queue.
#ifndef RBFS_CLIENT_CORE_SERIAL_WORKER_H_
#define RBFS_CLIENT_CORE_SERIAL_WORKER_H_

#include <deque>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rbfs {

class SerialWorker {
 public:
  SerialWorker();
  // Runs what is queued, then stops.
  ~SerialWorker();

  SerialWorker(const SerialWorker&) = delete;
  SerialWorker& operator=(const SerialWorker&) = delete;

  void Run(std::function<void()> task);
  // Waits until every task queued before the call has run, or `timeout`.
  bool Drain(absl::Duration timeout);

 private:
  void Loop();

  absl::Mutex mu_;
  // Guard everything below.
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  // Tasks queued / finished so far.
  uint64_t queued_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t finished_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_CORE_SERIAL_WORKER_H_
