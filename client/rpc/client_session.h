// ClientSession: the mount's session with rbfs-server.
//
// The session id is the RpcClient's (random, chosen at mount time, named by
// every call so the server keeps the mount's own changes off its Watch
// stream). It numbers the calls that are not idempotent by nature (so the
// server answers a repeat from its call log instead of running it twice)
// and the open handles (so the server ties them to the session's lease and
// a repeated open counts once). A background thread renews the lease with
// KeepAlive, telling the server which call numbers were all answered. When
// the server says it did not hold the session's handles (it restarted, or
// the lease ran out while the mount was cut off), the thread re-registers
// every handle the mount holds, so open files, including unlinked ones,
// stay usable, and then re-asserts every lock the server granted it (locks
// live in the server's memory; during its grace period only such reclaims
// are granted).
//
// Invariant: a handle is in `handles_` from the successful open to the
// release; a reclaim that raced with the release is undone.
#ifndef RBFS_CLIENT_RPC_CLIENT_SESSION_H_
#define RBFS_CLIENT_RPC_CLIENT_SESSION_H_

#include <atomic>
#include <cstdint>
#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/rpc/rpc_client.h"
#include "common/lock_set.h"
#include "protos/rbfs.pb.h"

namespace rbfs {

class ClientSession {
 public:
  explicit ClientSession(RpcClient* rpc);
  // Stops renewing; the server releases the handles one lease later.
  ~ClientSession();

  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  uint64_t id() const { return id_; }

  // Numbers a call; EndCall() once its result is final, whatever it is.
  void BeginCall(CallId* call);
  void EndCall(const CallId& call);

  // A fresh handle number for an open.
  uint64_t NewHandle();
  // Records an open the server acknowledged, and its release.
  void Opened(uint64_t handle, const InodeId& id, uint32_t flags);
  void Released(uint64_t handle);

  // Records a lock request the server granted (an unlock drops what it
  // covers), to re-assert after a restart.
  void LockGranted(const LockRequest& granted);
  // Whether `owner` holds locks of that kind on `ino` (so a close must
  // unlock).
  bool HoldsLocks(uint64_t ino, bool flock, uint64_t owner) const;

  // How many renewals found the server no longer knowing the session (it
  // restarted, or the lease ran out while the mount was cut off), each
  // followed by the re-registration above.
  uint64_t rejoins() const { return rejoins_.load(std::memory_order_relaxed); }

  // Starts the renewal thread.
  void Start();
  // Releases every handle on the server (at unmount: the kernel sends no
  // release for files still open then).
  void ReleaseAll();

 private:
  struct Handle {
    InodeId id;
    uint32_t flags = 0;
  };

  void Loop();
  // One renewal: KeepAlive, and the reclaim if the server asks for it.
  // Returns false if the server could not be reached.
  bool Renew();
  // Re-registers every held handle; false if the server could not be
  // reached for all of them.
  bool Reclaim();
  // Re-asserts every granted lock; false if the server could not be
  // reached for all of them.
  bool ReclaimLocks();
  // Whether `handle` is still held (not released meanwhile).
  bool Holds(uint64_t handle) const;
  // False if the server could not be reached.
  bool ReleaseOnServer(uint64_t handle, const InodeId& id);
  template <typename Request, typename Reply>
  grpc::Status CallOnce(grpc::Status (Rbfs::StubInterface::*method)(
                            grpc::ClientContext*, const Request&, Reply*),
                        const Request& request, Reply* reply);

  RpcClient* const rpc_;
  const uint64_t id_;

  mutable absl::Mutex mu_;
  // Guard everything below.
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::set<uint64_t> running_calls_ ABSL_GUARDED_BY(mu_);
  uint64_t next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, Handle> handles_ ABSL_GUARDED_BY(mu_);
  // The locks granted, per file and kind (true: flock), with the file's id.
  struct Locked {
    InodeId id;
    LockSet set;
  };
  absl::flat_hash_map<std::pair<uint64_t, bool>, Locked> locks_
      ABSL_GUARDED_BY(mu_);
  absl::Duration period_ ABSL_GUARDED_BY(mu_) = absl::Seconds(1);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // A reclaim was cut short; the renewal thread alone uses it.
  bool reclaim_pending_ = false;
  std::atomic<uint64_t> rejoins_{0};
  std::thread thread_;
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_RPC_CLIENT_SESSION_H_
