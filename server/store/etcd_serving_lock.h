// EtcdServingLock: the right to serve one volume whose metadata is in etcd
// (issue 18). One server serves a volume at a time; others started on the
// same prefix wait as standbys and take over when it stops or dies, and the
// mounts move to them (rbfs-mount HOST:PORT,HOST:PORT).
//
// The lock is the record "L" under the volume's prefix (meta_keys.h),
// naming its holder and bound to an etcd lease of `ttl`. Acquire creates it
// when nobody holds it (a Txn on its absence) and otherwise waits; a
// thread renews the lease every ttl/3. A holder that dies stops renewing
// and etcd deletes the record one ttl later; a holder that stops cleanly
// revokes the lease at once. A holder that lost it (paused, cut off from
// etcd for longer than ttl) is fenced: the store's every Txn requires the
// record's create revision to be this holder's (EtcdOptions::
// fence_revision), so once another server took over, nothing it commits
// applies; `on_lost` tells it to stop.
//
// Shared (Options::shared, --etcd-shared): servers serve one volume
// together instead (active-active). Each holds its own record "M" + lease
// id, bound to its lease and fenced the same way; joining fails while a
// server holds "L", and taking "L" fails while members are listed, so the
// two modes never mix on one volume. The lease also binds what the member
// claims for itself (its allocation groups, etcd_shared_volume.h).
#ifndef RBFS_SERVER_STORE_ETCD_SERVING_LOCK_H_
#define RBFS_SERVER_STORE_ETCD_SERVING_LOCK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/store/etcd_options.h"

namespace rbfs {

class EtcdServingLock {
 public:
  static constexpr absl::Duration kDefaultTtl = absl::Seconds(10);

  struct Options {
    EtcdOptions etcd;
    // How long a dead holder keeps the volume from its standbys; at least
    // 2 s (etcd counts in seconds).
    absl::Duration ttl = kDefaultTtl;
    // Who holds it, for the standbys' log (host, address, pid).
    std::string holder;
    // Serve together with the other servers on the prefix (see above).
    bool shared = false;
  };

  // Takes the lock, waiting while another server holds it (shared: joins
  // at once, or FailedPrecondition beside a sole holder): between
  // attempts `wait(d)` waits up to d and returns false to give up (then
  // CANCELLED). `on_lost` is called once, from the renewing thread, if the
  // lease could not be renewed within ttl or is gone.
  static absl::StatusOr<std::unique_ptr<EtcdServingLock>> Acquire(
      const Options& options, const std::function<bool(absl::Duration)>& wait,
      std::function<void()> on_lost);
  // Stops renewing and revokes the lease: a standby takes over at once.
  ~EtcdServingLock();

  EtcdServingLock(const EtcdServingLock&) = delete;
  EtcdServingLock& operator=(const EtcdServingLock&) = delete;

  // The record's key under the prefix ("L", or this member's "M" key) and
  // its create revision: the store's fence (EtcdOptions::fence_key).
  const std::string& key() const { return key_; }
  int64_t revision() const { return revision_; }
  // The etcd lease the record is bound to.
  int64_t lease() const { return lease_; }

 private:
  struct Client;

  EtcdServingLock(std::unique_ptr<Client> client, absl::Duration ttl,
                  int64_t lease, std::string key, int64_t revision,
                  std::function<void()> on_lost);
  // Acquire for Options::shared.
  static absl::StatusOr<std::unique_ptr<EtcdServingLock>> Join(
      std::unique_ptr<Client> client, const Options& options,
      std::function<void()> on_lost);
  // How many members serve the volume under `prefix` together.
  static absl::StatusOr<int64_t> CountMembers(Client& client,
                                              const std::string& prefix);
  // A new etcd lease of `ttl`; its id.
  static absl::StatusOr<int64_t> GrantLease(Client& client, absl::Duration ttl);
  static absl::Status RevokeLease(Client& client, int64_t lease);
  void RenewLoop();

  const std::unique_ptr<Client> client_;
  const absl::Duration ttl_;
  const int64_t lease_;
  const std::string key_;
  const int64_t revision_;
  const std::function<void()> on_lost_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread renewer_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_ETCD_SERVING_LOCK_H_
