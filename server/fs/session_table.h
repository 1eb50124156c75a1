// SessionTable: the mounts' sessions and the open handles tied to them.
//
// A session is renewed by every KeepAlive; when it goes unrenewed for a
// whole lease, Expire() removes it and hands back its handles so that the
// server can release them (the mount crashed or lost the network). A handle
// is registered once: a repeated open of the same (session, handle) is
// recognised, so opens and releases can be retried safely. A session that
// a call other than KeepAlive brought into being (the server restarted under
// a live mount) is "unconfirmed" until its next KeepAlive, which then tells
// the mount to reclaim the handles it holds. Pure bookkeeping, thread-safe;
// it never calls out.
#ifndef RBFS_SERVER_FS_SESSION_TABLE_H_
#define RBFS_SERVER_FS_SESSION_TABLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rbfs {

class SessionTable {
 public:
  explicit SessionTable(absl::Duration lease) : lease_(lease) {}

  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  absl::Duration lease() const { return lease_; }

  // What a renewal found.
  enum class Renewed {
    kKnown,        // the session, confirmed: it holds every handle
    kNew,          // no such session: created
    kUnconfirmed,  // brought back by a call after a restart: confirmed now
  };
  // KeepAlive: renews `session` (creating it) and confirms it; `peer` is
  // where the renewal came from (for Status and the log).
  Renewed Renew(uint64_t session, absl::Time now, absl::string_view peer = "");

  // Registers `handle` of `session` on inode `ino`, creating an unconfirmed
  // session if needed. False if it was registered already.
  bool AddHandle(uint64_t session, uint64_t handle, uint64_t ino,
                 absl::Time now);
  bool HasHandle(uint64_t session, uint64_t handle) const;
  // Unregisters `handle`; its inode, or nothing if it was not registered.
  std::optional<uint64_t> RemoveHandle(uint64_t session, uint64_t handle);

  // One session as Status reports it.
  struct Info {
    uint64_t session = 0;
    std::string peer;
    size_t handles = 0;
    absl::Time renewed;
    bool confirmed = false;
  };

  struct Expired {
    std::vector<Info> sessions;
    std::vector<uint64_t> inodes;  // one per handle the sessions held
  };
  // Removes every session not renewed within a lease before `now`.
  Expired Expire(absl::Time now);

  bool Live(uint64_t session) const;

  struct Counts {
    size_t sessions = 0;
    size_t handles = 0;  // open handles, over all sessions
  };
  Counts Count() const;

  // Every session, in id order.
  std::vector<Info> List() const;

 private:
  struct Session {
    absl::Time renewed;
    bool confirmed = false;
    std::string peer;
    absl::flat_hash_map<uint64_t, uint64_t> handles;  // handle -> inode
  };
  static Info InfoOf(uint64_t id, const Session& session);

  const absl::Duration lease_;
  mutable absl::Mutex mu_;
  // Guards sessions_.
  absl::flat_hash_map<uint64_t, Session> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rbfs

#endif  // RBFS_SERVER_FS_SESSION_TABLE_H_
