// CommitRevisions: the store revisions of this server's own recent commits,
// so that a change feed of the whole store (etcd_shared_volume.h) can tell
// them from other servers' changes.
//
// A commit is bracketed by Begin and End (with its revision if it
// applied). The feed, which sees revisions in increasing order, asks Take
// about each one it delivers; Take first waits out the commits in flight
// when it was called (one of them may be the change in hand, its answer
// still on the way: etcd can send the watch event first), so the answer is
// exact. Each such wait is bounded by those commits' own deadlines.
// Revisions the feed has passed are forgotten, so the set stays as small
// as the commits in flight. Thread-safe.
#ifndef RBFS_SERVER_STORE_COMMIT_REVISIONS_H_
#define RBFS_SERVER_STORE_COMMIT_REVISIONS_H_

#include <cstdint>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace rbfs {

class CommitRevisions {
 public:
  // A commit starts; returns its ticket for End.
  uint64_t Begin() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    in_flight_.insert(next_ticket_);
    return next_ticket_++;
  }

  // The commit of `ticket` ended, applied at `revision` (0: not applied).
  void End(uint64_t ticket, int64_t revision) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    in_flight_.erase(ticket);
    if (revision > passed_) own_.insert(revision);
  }

  // Whether `revision` was this server's; forgets it and every earlier one.
  bool Take(int64_t revision) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    const uint64_t begun_before = next_ticket_;
    auto settled = [this, begun_before]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return in_flight_.empty() || *in_flight_.begin() >= begun_before;
    };
    mu_.Await(absl::Condition(&settled));
    passed_ = revision > passed_ ? revision : passed_;
    const bool own = own_.count(revision) > 0;
    own_.erase(own_.begin(), own_.upper_bound(revision));
    return own;
  }

 private:
  absl::Mutex mu_;
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<uint64_t> in_flight_ ABSL_GUARDED_BY(mu_);
  // Own commits the feed has not passed yet.
  std::set<int64_t> own_ ABSL_GUARDED_BY(mu_);
  // The last revision the feed delivered.
  int64_t passed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_COMMIT_REVISIONS_H_
