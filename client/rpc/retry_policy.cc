#include "client/rpc/retry_policy.h"

#include <algorithm>

namespace rbfs {

bool IsRetryable(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         WasRefusedUnrun(status);
}

bool IsRetryableWhenHard(const grpc::Status& status) {
  return IsRetryable(status) ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

bool WasRefusedUnrun(const grpc::Status& status) {
  // rbfs-server's handlers never return RESOURCE_EXHAUSTED (they answer
  // with errno); gRPC does, before a handler runs, when the server's
  // --threads quota is used up.
  return status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

absl::Duration RetryBackoff(int attempt) {
  return std::min(absl::Milliseconds(20) * (1 << std::min(attempt, 6)),
                  absl::Seconds(1));
}

RetryPolicy::Attempts RetryPolicy::Begin(Idempotency idempotency,
                                         absl::Time now) const {
  return Attempts(*this,
                  idempotency == Idempotency::kIdempotent
                      ? Attempts::Kind::kIdempotent
                      : Attempts::Kind::kOnce,
                  now);
}

RetryPolicy::Attempts RetryPolicy::BeginProbe(absl::Time now) const {
  return Attempts(*this, Attempts::Kind::kProbe, now);
}

std::optional<RetryPolicy::Retry> RetryPolicy::Attempts::OnFailure(
    const grpc::Status& status, absl::Time now) {
  Retry retry;
  retry.at = now + RetryBackoff(retries_);
  if (kind_ == Kind::kIdempotent && hard_ && IsRetryableWhenHard(status)) {
    // Every attempt of a hard mount gets a whole deadline of its own.
    retry.hard_wait_began = retries_ == 0;
    deadline_ = retry.at + per_attempt_;
    CountRepeat();
    return retry;
  }
  bool may_repeat = false;  // every Kind sets it below
  switch (kind_) {
    case Kind::kIdempotent:
      may_repeat = IsRetryable(status);
      break;
    case Kind::kOnce:
      may_repeat = WasRefusedUnrun(status);
      break;
    case Kind::kProbe:
      may_repeat = status.error_code() == grpc::StatusCode::UNAVAILABLE;
      break;
  }
  if (!may_repeat || retry.at >= deadline_) return std::nullopt;
  CountRepeat();
  return retry;
}

void RetryPolicy::Attempts::CountRepeat() {
  ++retries_;
  if (repeats_ != nullptr) repeats_->Add();
}

}  // namespace rbfs
