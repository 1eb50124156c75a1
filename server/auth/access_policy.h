// AccessPolicy: the one place that decides whether an RPC may run, and as
// whom. Every RbfsService handler asks it before the Filesystem sees the
// request, naming its operation (an Operation, not a string).
//
// The rules, applied in this order (the first that refuses decides):
//  1. Token. With an authenticator, a call without the server's bearer token
//     is refused as a caller: the service answers gRPC UNAUTHENTICATED with
//     the authenticator's reason, which never repeats what was presented.
//     Refusals are logged at most once a second, with the count of those
//     not logged since.
//  2. Read-only export. An operation that would change the volume is
//     answered EROFS in its reply (the caller is not refused). Open changes
//     the volume when it opens for writing or truncates.
//  3. Root squash (NFS's root_squash). A SetAttr that would hand an object to
//     uid 0 or gid 0 is answered EPERM, so a squashed root cannot make
//     root-owned (setuid) files; and the objects a call creates belong to
//     the caller's ids with 0 replaced by the squash ids.
//
// Thread-safe: the options are fixed at construction; the refusal log is
// paced by a LogPacer. Without an authenticator the call's
// credentials are never looked at, so an open server pays nothing for them.
#ifndef RBFS_SERVER_AUTH_ACCESS_POLICY_H_
#define RBFS_SERVER_AUTH_ACCESS_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/log_pacer.h"
#include "server/auth/token_authenticator.h"

namespace rbfs {

// The Rbfs service's methods, as rbfs.proto names them.
enum class Operation {
  kLookup,
  kGetAttr,
  kSetAttr,
  kMkNod,
  kMkDir,
  kUnlink,
  kRmDir,
  kRename,
  kLink,
  kSymlink,
  kReadLink,
  kReadDir,
  kStatFs,
  kFsync,
  kOpen,
  kRelease,
  kRead,
  kWrite,
  kGetXattr,
  kListXattr,
  kSetXattr,
  kRemoveXattr,
  kLock,
  kFallocate,
  kSeek,
  kCopyRange,
  kKeepAlive,
  kStatus,
  kWatch,
  kExchange,
};

// The method's name in rbfs.proto ("Lookup", ...), for logs.
absl::string_view OperationName(Operation op);

// A uid and gid as the filesystem records them.
struct PosixIds {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

struct AccessOptions {
  // When set, every call must carry its token; not owned.
  const TokenAuthenticator* authenticator = nullptr;
  // Every call that would change the volume is answered EROFS.
  bool read_only = false;
  // When set, uid 0 and gid 0 of callers become these ids for new objects,
  // and nobody may hand an object to uid or gid 0.
  std::optional<PosixIds> squash_root;
};

// What a call's transport says about who is calling; asked lazily.
class CallCredentials {
 public:
  virtual ~CallCredentials() = default;
  // The call's "authorization" metadata value; empty when absent. Asked
  // only when a token is required.
  virtual absl::string_view Authorization() const = 0;
  // The caller's address, for the log; asked only for a logged refusal.
  virtual std::string Peer() const = 0;
};

// What a call asks to do, as far as the rules look at it.
struct AccessRequest {
  Operation op = Operation::kLookup;
  // The ids the client acts for (the request's Caller, which MkNod, MkDir
  // and Symlink carry).
  PosixIds caller;
  // Open: its O_* flags.
  uint32_t open_flags = 0;
  // SetAttr: the owner and group it would give, when it changes them.
  std::optional<uint32_t> new_uid;
  std::optional<uint32_t> new_gid;
};

// The policy's answer for one call: exactly one of run (as owner()), refuse
// the caller (with reason()), or answer with err() without running.
class AccessDecision {
 public:
  enum class Verdict { kRun, kRefuseCaller, kAnswerErrno };

  static AccessDecision Run(PosixIds owner) {
    return AccessDecision(Verdict::kRun, owner, 0, {});
  }
  static AccessDecision RefuseCaller(std::string reason) {
    return AccessDecision(Verdict::kRefuseCaller, {}, 0, std::move(reason));
  }
  static AccessDecision AnswerErrno(int err) {
    return AccessDecision(Verdict::kAnswerErrno, {}, err, {});
  }

  Verdict verdict() const { return verdict_; }
  bool runs() const { return verdict_ == Verdict::kRun; }
  // kRun: the ids that objects the call creates belong to.
  PosixIds owner() const { return owner_; }
  // kAnswerErrno: the errno for the reply's err field.
  int err() const { return err_; }
  // kRefuseCaller: why, for the caller.
  const std::string& reason() const { return reason_; }

 private:
  AccessDecision(Verdict verdict, PosixIds owner, int err, std::string reason)
      : verdict_(verdict),
        owner_(owner),
        err_(err),
        reason_(std::move(reason)) {}

  Verdict verdict_;
  PosixIds owner_;
  int err_;
  std::string reason_;
};

class AccessPolicy {
 public:
  // `clock` paces the refusal log; it must outlive the policy.
  explicit AccessPolicy(AccessOptions options,
                        const Clock* clock = Clock::Real())
      : options_(options), refusal_log_(kRefusalLogInterval, clock) {}

  AccessDecision Decide(const CallCredentials& credentials,
                        const AccessRequest& request) const;

  // Whether `request` would change the volume (rule 2).
  static bool Changes(const AccessRequest& request);

 private:
  // Rule 3's ids for `caller`.
  PosixIds OwnerOf(PosixIds caller) const;
  // Logs a refused caller, at most once a second, counting the rest.
  void LogRefusal(Operation op, const CallCredentials& credentials,
                  absl::string_view reason) const;

  // Refusals within this long of the last one logged are only counted.
  static constexpr absl::Duration kRefusalLogInterval = absl::Seconds(1);

  const AccessOptions options_;
  mutable LogPacer refusal_log_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_AUTH_ACCESS_POLICY_H_
