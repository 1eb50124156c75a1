// CallLog: which numbered calls already ran, so that a repeat is answered
// with the first result instead of running the call twice.
//
// A mount numbers its non-idempotent calls (create, unlink, rename, ...) and
// repeats one when the connection broke before the reply came: the server
// may or may not have run it, perhaps in a process that has since crashed.
// The result of a successful numbered call is a "R" record written in the
// same metadata batch as the call's effect (Record), so it exists exactly
// when the effect does, also after a crash. A failed call changed nothing
// and leaves no record; its repeat runs again. While a call runs, a repeat
// of it waits (Begin) instead of racing it. Records go when the mount says
// the call was answered (ForgetBelow) or its session ends (ForgetSession).
#ifndef RBFS_SERVER_FS_CALL_LOG_H_
#define RBFS_SERVER_FS_CALL_LOG_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/store/meta.pb.h"
#include "server/store/meta_store.h"

namespace rbfs {

// A mount's number for one call (CallId on the wire); seq 0: unnumbered.
struct CallRef {
  uint64_t session = 0;
  uint64_t seq = 0;
  bool numbered() const { return session != 0 && seq != 0; }
};

class CallLog {
 public:
  explicit CallLog(MetaStore* meta) : meta_(meta) {}

  CallLog(const CallLog&) = delete;
  CallLog& operator=(const CallLog&) = delete;

  // Claims `call` for running. If it already succeeded, returns its record
  // and claims nothing; waits while another attempt of it runs.
  absl::StatusOr<std::optional<meta::CallRecord>> Begin(const CallRef& call);
  // Ends the claim taken by a Begin that returned no record.
  void End(const CallRef& call);

  // Adds the record of `call`'s success to the batch that applies it.
  static void Record(MetaBatch* batch, const CallRef& call, uint64_t ino,
                     const meta::InodeRecord& inode);

  absl::Status ForgetBelow(uint64_t session, uint64_t seq);
  absl::Status ForgetSession(uint64_t session);
  // Drops the records of every session `live` rejects.
  absl::Status ForgetSessionsExcept(
      const std::function<bool(uint64_t session)>& live);

 private:
  // Deletes the records of `session` numbered below `below`.
  absl::Status DeleteRange(uint64_t session, uint64_t below);

  MetaStore* const meta_;
  absl::Mutex mu_;
  // Guards running_: calls claimed by Begin and not yet Ended.
  absl::flat_hash_set<std::pair<uint64_t, uint64_t>> running_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace rbfs

#endif  // RBFS_SERVER_FS_CALL_LOG_H_
