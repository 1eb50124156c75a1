// RetryPolicy: when the mount repeats a failed call, and how long it waits.
//
// The one rule for every caller (RpcClient's blocking calls and handshake,
// the chunk sender's asynchronous reads and writes):
//  - A call that may be repeated (Idempotency::kIdempotent: by nature, or
//    numbered, or naming its handle) is repeated after UNAVAILABLE (the
//    connection broke) and after a refusal before it ran; any call is
//    repeated after a refusal before it ran (RESOURCE_EXHAUSTED: the
//    server's thread quota).
//  - The wait before retry n (0-based) is 20 ms doubling, capped at 1 s.
//  - Soft mount: no attempt starts at or after the call's deadline (the
//    mount's `deadline` after the call began); then the last failure stands.
//  - Hard mount: a repeatable call is also repeated after DEADLINE_EXCEEDED,
//    forever, each attempt with a whole deadline of its own.
//  - A connection probe (the mount's handshake) is repeated only while the
//    server cannot be reached (UNAVAILABLE), and never past its first
//    deadline, on a hard mount too: a mount that cannot start says so.
// Time is passed in, so the rule is tested without a clock.
#ifndef RBFS_CLIENT_RPC_RETRY_POLICY_H_
#define RBFS_CLIENT_RPC_RETRY_POLICY_H_

#include <grpcpp/grpcpp.h>

#include <optional>

#include "absl/time/time.h"
#include "common/metrics/metrics.h"

namespace rbfs {

// kIdempotent: repeating the call is harmless (by nature, or because it is
// numbered or names its open handle). kOnce: only a refused call repeats.
enum class Idempotency { kIdempotent, kOnce };

// Whether a failed attempt may be repeated for an idempotent call.
bool IsRetryable(const grpc::Status& status);

// Whether a hard mount repeats an idempotent call after this failure: also
// when the attempt ran out of time (the server was away or stuck).
bool IsRetryableWhenHard(const grpc::Status& status);

// Whether the server refused the call before running it (its thread or
// resource quota was exhausted): any call may then be repeated.
bool WasRefusedUnrun(const grpc::Status& status);

// The wait before retry number `attempt` (0-based): 20 ms doubling, capped.
absl::Duration RetryBackoff(int attempt);

class RetryPolicy {
 public:
  // `deadline`: how long one call may take on a soft mount, one attempt on
  // a hard mount (> 0). `repeats`, when given, counts every repeat the
  // calls of this policy make (the mount's metrics); it outlives the policy.
  RetryPolicy(absl::Duration deadline, bool hard, Counter* repeats = nullptr)
      : deadline_(deadline), hard_(hard), repeats_(repeats) {}

  absl::Duration deadline() const { return deadline_; }
  bool hard() const { return hard_; }

  // A repeat to make after a failed attempt.
  struct Retry {
    // When to start it.
    absl::Time at;
    // This is the call's first repeat on a hard mount, which has begun to
    // wait for the server for as long as it takes (worth a log line).
    bool hard_wait_began = false;
  };

  // One call's course through its attempts. Not thread-safe: one call, one
  // Attempts, used by whoever runs the call's current attempt.
  class Attempts {
   public:
    // The deadline of the current attempt.
    absl::Time deadline() const { return deadline_; }

    // After the current attempt failed with `status` (not OK) at `now`: the
    // repeat to make (the next attempt's deadline is then deadline()), or
    // nullopt when `status` is the call's result.
    std::optional<Retry> OnFailure(const grpc::Status& status, absl::Time now);

   private:
    friend class RetryPolicy;
    enum class Kind { kIdempotent, kOnce, kProbe };
    Attempts(const RetryPolicy& policy, Kind kind, absl::Time now)
        : per_attempt_(policy.deadline_),
          hard_(policy.hard_),
          repeats_(policy.repeats_),
          kind_(kind),
          deadline_(now + policy.deadline_) {}

    // A repeat is about to be returned.
    void CountRepeat();

    absl::Duration per_attempt_;
    bool hard_;
    Counter* repeats_;
    Kind kind_;
    absl::Time deadline_;
    int retries_ = 0;
  };

  // The attempts of a call that starts at `now`.
  Attempts Begin(Idempotency idempotency, absl::Time now) const;
  // The attempts of a connection probe that starts at `now`.
  Attempts BeginProbe(absl::Time now) const;

 private:
  absl::Duration deadline_;
  bool hard_;
  Counter* repeats_;
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_RPC_RETRY_POLICY_H_
