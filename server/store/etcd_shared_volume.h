// EtcdSharedVolume: the SharedVolume (shared_volume.h) of a volume whose
// metadata is in etcd and which several servers serve at once
// (--etcd-shared; each a member, etcd_serving_lock.h).
//
// Allocation groups are the records "G" + group under the volume's prefix
// (meta_keys.h), naming the member's lease and bound to it, so that a
// member's groups are free again when it stops or dies. A claim is a Txn
// on the record's absence, fenced on the membership record like every
// metadata commit.
//
// The feed is one etcd watch of the whole prefix with the previous values
// (prev_kv), started at the revision after the snapshot of the block maps
// Follow reads, so no change is missed or seen twice. A watch that breaks
// (etcd restarting, a member changing) is resumed where it stopped; one
// that etcd cancels because the revisions it needs were compacted away
// cannot be, and `on_lost` is called (the server stops: its bitmap can no
// longer be trusted).
//
// Thread-safe: mu_ guards the feed's progress and state; listener_mu_ the
// change listener, held while it is called.
#ifndef RBFS_SERVER_STORE_ETCD_SHARED_VOLUME_H_
#define RBFS_SERVER_STORE_ETCD_SHARED_VOLUME_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/store/etcd_options.h"
#include "server/store/shared_volume.h"

namespace etcdserverpb {
class WatchResponse;
}  // namespace etcdserverpb
namespace grpc {
class ClientContext;
}  // namespace grpc

namespace rbfs {

class EtcdSharedVolume : public SharedVolume {
 public:
  struct Options {
    // The volume's etcd: endpoints, prefix, timeout, and the membership's
    // fence (fence_key, fence_revision) and own_commits.
    EtcdOptions etcd;
    // The membership's lease: groups are bound to it.
    int64_t lease = 0;
    // Called once, from the feed's thread, when the feed cannot go on.
    std::function<void()> on_lost;
  };

  static absl::StatusOr<std::unique_ptr<EtcdSharedVolume>> Open(
      Options options);
  ~EtcdSharedVolume() override;

  absl::Status Follow(BlockListener on_block) override;
  void Stop() override;
  void SetChangeListener(ChangeListener listener) override;
  absl::StatusOr<uint64_t> ClaimGroup(
      const std::vector<uint64_t>& preference) override;
  const std::string& member() const override { return member_; }
  absl::StatusOr<bool> Serves(absl::string_view member) override;

 private:
  // etcd's stubs; defined in the .cc, away from users of this header.
  struct Client;

  EtcdSharedVolume(Options options, std::unique_ptr<Client> client);

  void FeedLoop();
  // Delivers one watch response's events and advances next_revision_.
  void Deliver(const etcdserverpb::WatchResponse& response)
      ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  const std::string prefix_;
  const std::string member_;
  const std::unique_ptr<Client> client_;

  BlockListener on_block_;  // set by Follow before the feed starts

  absl::Mutex mu_;
  // The next revision the feed asks for; every change before it has been
  // delivered.
  int64_t next_revision_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The feed's current call, for Stop to cancel.
  grpc::ClientContext* call_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::thread feed_;

  absl::Mutex listener_mu_ ABSL_ACQUIRED_AFTER(mu_);
  ChangeListener listener_ ABSL_GUARDED_BY(listener_mu_);
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_ETCD_SHARED_VOLUME_H_
