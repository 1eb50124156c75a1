// ChangeHub: who watches what, and the changes they have not been sent yet.
//
// The server side of the Watch protocol (protos/rbfs.proto, "Coherence")
// without gRPC: each watching session is a watcher holding a set of inodes
// (the ones its mount's kernel may cache); every successful change is
// published here once, numbered, kept in a bounded ring of recent changes
// (so a Hold whose reply was read before a change can catch up), and queued
// for every other session's watcher holding the changed inode. The Watch
// stream of each watcher takes what is queued whenever it is told (notify)
// and sends it in one message.
//
// Invariants:
//  - Sequence() is the number of the last change published; it starts at 1
//    (0 means "no catch-up" in Hold.as_of) and the first change is 2.
//  - The ring holds the changes numbered (Sequence() - ring size,
//    Sequence()], oldest first, at most Options::ring_size of them.
//  - A session has at most one open watcher: Attach ends the older one.
//  - Every open watcher holds the root (ino 1); Hold and Drop of it do
//    nothing. holders_ lists exactly the open watchers holding each ino.
//  - A watcher's queue holds at most Options::queue_limit changes; one more
//    ends the watcher (kOverflowed): its queue is emptied, its holds are
//    dropped, and its stream must end so the mount resyncs.
//  - An ended watcher (replaced, overflowed, shut down) holds nothing and is
//    queued nothing; it stays known until Detach.
//  - notify is called without mu_ held, and never after Detach returned
//    (Detach waits for a notify in progress), so it may point at the stream.
//
// Thread-safe; mu_ guards every member but the sequence, which is written
// under mu_ and read without it. A separate thread (started by the first
// Attach, stopped by Shutdown or the destructor) asks an idle watcher's
// stream for a heartbeat every Options::heartbeat.
#ifndef RBFS_SERVER_RPC_CHANGE_HUB_H_
#define RBFS_SERVER_RPC_CHANGE_HUB_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace rbfs {

// One change as the watchers get it; mirrors rbfs.proto's Invalidation.
struct Change {
  enum class Kind {
    kEntry,  // `ino` is a directory: its entry `name` and its attributes
    kAttr,   // the attributes of `ino`
    kData,   // the attributes and cached data of `ino`
    kAll,    // everything of `ino`
  };
  Kind kind = Kind::kAttr;
  uint64_t ino = 0;
  std::string name;  // kEntry only

  static Change Entry(uint64_t dir, std::string name) {
    return Change{Kind::kEntry, dir, std::move(name)};
  }
  static Change Attr(uint64_t ino) { return Change{Kind::kAttr, ino, {}}; }
  static Change Data(uint64_t ino) { return Change{Kind::kData, ino, {}}; }
  static Change All(uint64_t ino) { return Change{Kind::kAll, ino, {}}; }

  friend bool operator==(const Change& a, const Change& b) {
    return a.kind == b.kind && a.ino == b.ino && a.name == b.name;
  }
};

// Why a watcher ended; kOpen while it has not.
enum class WatcherEnd {
  kOpen,
  kReplaced,    // its session attached again
  kOverflowed,  // its queue was full
  kShutDown,    // the hub shut down
};

using WatcherId = uint64_t;

// What a watcher's stream is to send now.
struct WatchBatch {
  std::vector<Change> changes;
  // Nothing was taken for Options::heartbeat: send a message even if empty.
  bool heartbeat_due = false;
  // Not kOpen: the stream must end (changes is then empty).
  WatcherEnd end = WatcherEnd::kOpen;
  // SetCommitError's errno; 0 while commits succeed.
  int commit_err = 0;
};

class ChangeHub {
 public:
  static constexpr uint64_t kRootIno = 1;

  struct Options {
    // Recent changes kept for catching up a Hold.
    size_t ring_size = 4096;
    // Changes queued for one watcher before it overflows.
    size_t queue_limit = 65536;
    // How long a watcher may take nothing before its stream is asked for a
    // heartbeat; zero: never (unit tests).
    absl::Duration heartbeat = absl::ZeroDuration();
  };

  explicit ChangeHub(Options options);
  ChangeHub() : ChangeHub(Options()) {}
  ChangeHub(const ChangeHub&) = delete;
  ChangeHub& operator=(const ChangeHub&) = delete;
  // Stops the heartbeat thread; every watcher must be detached by then.
  ~ChangeHub();

  // The number of the last change published (1 before any).
  uint64_t Sequence() const {
    return sequence_.load(std::memory_order_acquire);
  }

  // Numbers `changes` in order, keeps them in the ring, and queues each for
  // every open watcher holding its ino, except `origin_session`'s (0: none).
  // One hash lookup per change when nobody holds its ino.
  void Publish(uint64_t origin_session, absl::Span<const Change> changes)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Publish(uint64_t origin_session, const Change& change)
      ABSL_LOCKS_EXCLUDED(mu_) {
    Publish(origin_session, absl::MakeConstSpan(&change, 1));
  }

  // Whether an open watcher of a session other than `origin_session` holds
  // `ino`.
  bool HeldByOthers(uint64_t origin_session, uint64_t ino) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // A new watcher for `session`, holding the root; ends the session's older
  // watcher. After Shutdown the watcher is born ended (kShutDown). `notify`
  // is called (without any hub lock) when the watcher has something to take.
  WatcherId Attach(uint64_t session, std::function<void()> notify)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Adds `ino` to the watcher's holds. With as_of != 0, queues every change
  // of `ino` numbered above as_of that another session made, or one kAll of
  // it when the ring does not reach back that far (or as_of is later than
  // Sequence()). Nothing for an ended watcher.
  void Hold(WatcherId watcher, uint64_t ino, uint64_t as_of)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Drop(WatcherId watcher, uint64_t ino) ABSL_LOCKS_EXCLUDED(mu_);

  // Forgets the watcher and its holds; waits for a notify of it in progress
  // (so it must not be called from notify).
  void Detach(WatcherId watcher) ABSL_LOCKS_EXCLUDED(mu_);

  // Moves the watcher's queued changes into `batch` (replacing its
  // contents), and says whether a heartbeat is due or the watcher ended.
  void TakePending(WatcherId watcher, WatchBatch* batch)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The server's commits have failed with `err`: every batch says so from
  // now on, and every open watcher is sent one at once.
  void SetCommitError(int err) ABSL_LOCKS_EXCLUDED(mu_);
  int commit_err() const ABSL_LOCKS_EXCLUDED(mu_);

  // Changes queued for watchers so far (one per watcher it went to).
  uint64_t queued() const { return queued_.load(std::memory_order_relaxed); }

  // Ends every watcher (kShutDown, notified) and every later one; stops the
  // heartbeat thread. Called before the server's own Shutdown, so streams
  // finish instead of holding it up.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  // Open watchers, for tests.
  size_t WatcherCount() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Watcher {
    uint64_t session = 0;
    std::function<void()> notify;
    absl::flat_hash_set<uint64_t> holds;  // without the root
    std::vector<Change> pending;
    WatcherEnd end = WatcherEnd::kOpen;
    // The stream has not been notified since it last took: notify it on the
    // next thing to take (one wake-up per batch, not per change).
    bool wants_notify = true;
    bool heartbeat_due = false;
    absl::Time last_taken;
    // notify calls in progress, which Detach waits out.
    int notifying = 0;
  };

  // Appends `w` to `notify` unless its stream was told since it last took
  // (one wake-up per batch).
  void WakeLocked(Watcher* w, std::vector<Watcher*>* notify)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues `change` for `w`; false when its queue is full (the caller ends
  // it). Appends `w` to `notify` when its stream is to be told.
  bool QueueLocked(Watcher* w, const Change& change,
                   std::vector<Watcher*>* notify)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends `w` for `why`, dropping its holds and queue.
  void EndLocked(Watcher* w, WatcherEnd why, std::vector<Watcher*>* notify)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveHolderLocked(uint64_t ino, Watcher* w)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls the watchers' notify without mu_, then lets Detach go on.
  void NotifyAll(const std::vector<Watcher*>& watchers)
      ABSL_LOCKS_EXCLUDED(mu_);
  Watcher* Find(WatcherId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The heartbeat thread.
  void HeartbeatLoop() ABSL_LOCKS_EXCLUDED(mu_);
  bool ShutDownOrWatched() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;

  // Written under mu_ (so ring and sequence agree), read without it.
  std::atomic<uint64_t> sequence_{1};
  std::atomic<uint64_t> queued_{0};

  mutable absl::Mutex mu_;
  // A change and who made it: catching up skips the watcher's own, as
  // Publish does.
  struct Recent {
    uint64_t origin_session = 0;
    Change change;
  };

  // A circular buffer of the last ring_.size() changes: ring_next_ is where
  // the next one goes; ring_count_ how many are valid.
  std::vector<Recent> ring_ ABSL_GUARDED_BY(mu_);
  size_t ring_next_ ABSL_GUARDED_BY(mu_) = 0;
  size_t ring_count_ ABSL_GUARDED_BY(mu_) = 0;
  // Node map: holders_ and by_session_ point into it.
  absl::node_hash_map<WatcherId, Watcher> watchers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, Watcher*> by_session_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::vector<Watcher*>> holders_
      ABSL_GUARDED_BY(mu_);
  WatcherId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  int commit_err_ ABSL_GUARDED_BY(mu_) = 0;
  bool heartbeat_started_ ABSL_GUARDED_BY(mu_) = false;
  // Started by the first Attach; moved out and joined by Shutdown.
  std::thread heartbeat_thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rbfs

#endif  // RBFS_SERVER_RPC_CHANGE_HUB_H_
