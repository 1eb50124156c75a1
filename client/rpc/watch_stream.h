// WatchStream: the mount's end of the Watch stream (protos/rbfs.proto,
// "Coherence").
//
// Keeps one Watch call of the session open and opens a new one, after a
// short backoff, whenever it ends. Each opening names the session and holds
// every inode the listener says the kernel holds; what the server sends is
// passed to the listener:
//   OnSynced()         the server answered the opening: from now on every
//                      change another session makes to a held inode arrives;
//   OnInvalidations()  a message's invalidations, in order;
//   OnLost()           the stream that was synced broke, went silent for
//                      kWatchSilentHeartbeats heartbeats, or skipped a
//                      sequence number: changes may have been missed (not
//                      at Stop()).
// Hold and Drop queue what the kernel newly holds or forgot; they are sent
// in the order queued, batched (up to 10 ms late: the server catches a late
// hold up from its as_of). While no call is open they are discarded, since the
// next opening holds the whole set again.
//
// Threads: a control thread opens the calls, writes the queued holds and
// drops and watches for silence; a reader thread per call reads it. Listener
// callbacks come from those two threads, one at a time, never with mu_
// held; OnLost follows the last callback of its call.
#ifndef RBFS_CLIENT_RPC_WATCH_STREAM_H_
#define RBFS_CLIENT_RPC_WATCH_STREAM_H_

#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/rpc/rpc_client.h"
#include "protos/rbfs.grpc.pb.h"

namespace rbfs {

class WatchStream {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // The inodes the kernel holds now, for the opening of a call.
    virtual std::vector<uint64_t> HeldInodes() = 0;
    virtual void OnSynced() = 0;
    virtual void OnInvalidations(const WatchReply& reply) = 0;
    // The server's commits have failed with errno `err` (WatchReply
    // .commit_err); called for every message that says so.
    virtual void OnCommitError(int err) = 0;
    virtual void OnLost() = 0;
  };

  struct Options {
    // The first wait before reopening; it doubles up to max_backoff while
    // openings keep failing.
    absl::Duration min_backoff = absl::Milliseconds(50);
    absl::Duration max_backoff = absl::Seconds(1);
  };

  WatchStream(RpcClient* rpc, uint64_t session, Listener* listener,
              const Options& options);
  // Stop()s.
  ~WatchStream();

  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  // Starts the control thread.
  void Start();
  // Ends the call and the threads; the listener gets no callback after it
  // returns. Idempotent.
  void Stop();

  // The kernel got its first reference to `ino` from a reply read at
  // `as_of`.
  void Hold(uint64_t ino, uint64_t as_of);
  // The kernel forgot its last reference to `ino`.
  void Drop(uint64_t ino);

  // Whether a call is open and synced, for tests and logs.
  bool synced() const;
  // How many times a call got synced again after an earlier one had been
  // (the mount's reconnects after a broken stream or a server restart).
  uint64_t resyncs() const;

 private:
  using Stream = grpc::ClientReaderWriterInterface<WatchRequest, WatchReply>;

  void ControlLoop();
  // One call, from opening to its end; true if it got synced.
  bool RunCall();
  // Reads `stream` until it ends or breaks the sequence.
  void ReadLoop(Stream* stream);
  // Takes the queued holds and drops as messages to write, each naming an
  // inode at most once so the server may apply its holds and drops in any
  // order.
  std::vector<WatchRequest> TakeQueued() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  RpcClient* const rpc_;
  const uint64_t session_;
  Listener* const listener_;
  const Options options_;

  mutable absl::Mutex mu_;
  // Guard everything below.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // A call is open: holds and drops are queued rather than discarded.
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  bool ever_synced_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t resyncs_ ABSL_GUARDED_BY(mu_) = 0;
  // The reader of the open call has finished.
  bool reader_done_ ABSL_GUARDED_BY(mu_) = false;
  // When the open call last heard from the server (or was opened).
  absl::Time last_heard_ ABSL_GUARDED_BY(mu_);
  // The server's heartbeat period, from the opening's answer.
  absl::Duration heartbeat_ ABSL_GUARDED_BY(mu_);
  // A hold or a drop, queued in order.
  struct Queued {
    uint64_t ino;
    bool hold;
    uint64_t as_of;
  };
  std::vector<Queued> queued_ ABSL_GUARDED_BY(mu_);
  // The open call's context, to cancel it from Stop().
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;

  std::thread control_;
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_RPC_WATCH_STREAM_H_
