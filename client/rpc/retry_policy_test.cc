#include "client/rpc/retry_policy.h"

#include <optional>

#include "gtest/gtest.h"

namespace rbfs {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

grpc::Status Failed(grpc::StatusCode code) { return grpc::Status(code, ""); }

TEST(RetryPolicyTest, UnavailableAndRefusedCallsAreRetried) {
  EXPECT_TRUE(IsRetryable(Failed(grpc::StatusCode::UNAVAILABLE)));
  EXPECT_TRUE(IsRetryable(Failed(grpc::StatusCode::RESOURCE_EXHAUSTED)));
  EXPECT_FALSE(IsRetryable(Failed(grpc::StatusCode::DEADLINE_EXCEEDED)));
  EXPECT_FALSE(IsRetryable(Failed(grpc::StatusCode::INTERNAL)));
  // A hard mount also repeats attempts that ran out of time.
  EXPECT_TRUE(IsRetryableWhenHard(Failed(grpc::StatusCode::DEADLINE_EXCEEDED)));
  EXPECT_TRUE(IsRetryableWhenHard(Failed(grpc::StatusCode::UNAVAILABLE)));
  EXPECT_FALSE(IsRetryableWhenHard(Failed(grpc::StatusCode::INTERNAL)));
  // Only a refusal before the handler ran makes a non-idempotent call safe
  // to repeat.
  EXPECT_TRUE(WasRefusedUnrun(Failed(grpc::StatusCode::RESOURCE_EXHAUSTED)));
  EXPECT_FALSE(WasRefusedUnrun(Failed(grpc::StatusCode::UNAVAILABLE)));
}

TEST(RetryPolicyTest, BackoffGrowsAndIsCapped) {
  EXPECT_EQ(RetryBackoff(0), absl::Milliseconds(20));
  EXPECT_EQ(RetryBackoff(1), absl::Milliseconds(40));
  EXPECT_LT(RetryBackoff(3), RetryBackoff(4));
  EXPECT_EQ(RetryBackoff(30), absl::Seconds(1));
}

TEST(RetryPolicyTest, SoftMountRepeatsWithBackoffUntilTheDeadline) {
  RetryPolicy policy(absl::Seconds(1), /*hard=*/false);
  RetryPolicy::Attempts attempts =
      policy.Begin(Idempotency::kIdempotent, kStart);
  EXPECT_EQ(attempts.deadline(), kStart + absl::Seconds(1));
  absl::Time now = kStart;
  absl::Duration expected_wait = absl::Milliseconds(20);
  int retries = 0;
  while (std::optional<RetryPolicy::Retry> retry =
             attempts.OnFailure(Failed(grpc::StatusCode::UNAVAILABLE), now)) {
    EXPECT_EQ(retry->at - now, expected_wait);
    EXPECT_LT(retry->at, kStart + absl::Seconds(1));
    EXPECT_FALSE(retry->hard_wait_began);
    // The deadline is the call's, not the attempt's.
    EXPECT_EQ(attempts.deadline(), kStart + absl::Seconds(1));
    now = retry->at;
    expected_wait *= 2;
    ++retries;
  }
  // Waits of 20+40+80+160+320 ms; the next would start past the deadline.
  EXPECT_EQ(retries, 5);
}

TEST(RetryPolicyTest, EveryRepeatOfEveryCallIsCounted) {
  Counter repeats;
  RetryPolicy policy(absl::Seconds(1), /*hard=*/false, &repeats);
  RetryPolicy::Attempts soft = policy.Begin(Idempotency::kIdempotent, kStart);
  ASSERT_TRUE(soft.OnFailure(Failed(grpc::StatusCode::UNAVAILABLE), kStart));
  // A final failure is no repeat.
  EXPECT_FALSE(soft.OnFailure(Failed(grpc::StatusCode::INTERNAL), kStart));
  RetryPolicy::Attempts once = policy.Begin(Idempotency::kOnce, kStart);
  ASSERT_TRUE(
      once.OnFailure(Failed(grpc::StatusCode::RESOURCE_EXHAUSTED), kStart));
  EXPECT_EQ(repeats.value(), 2u);
  RetryPolicy hard_policy(absl::Seconds(1), /*hard=*/true, &repeats);
  RetryPolicy::Attempts hard =
      hard_policy.Begin(Idempotency::kIdempotent, kStart);
  ASSERT_TRUE(
      hard.OnFailure(Failed(grpc::StatusCode::DEADLINE_EXCEEDED), kStart));
  EXPECT_EQ(repeats.value(), 3u);
}

TEST(RetryPolicyTest, OtherFailuresAreFinal) {
  RetryPolicy policy(absl::Seconds(30), /*hard=*/false);
  for (grpc::StatusCode code :
       {grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::INTERNAL,
        grpc::StatusCode::PERMISSION_DENIED,
        grpc::StatusCode::UNAUTHENTICATED}) {
    RetryPolicy::Attempts attempts =
        policy.Begin(Idempotency::kIdempotent, kStart);
    EXPECT_FALSE(attempts.OnFailure(Failed(code), kStart)) << code;
  }
}

TEST(RetryPolicyTest, CallsRunOnlyOnceRepeatOnlyWhenRefusedUnrun) {
  for (bool hard : {false, true}) {
    RetryPolicy policy(absl::Seconds(1), hard);
    RetryPolicy::Attempts attempts = policy.Begin(Idempotency::kOnce, kStart);
    EXPECT_FALSE(
        attempts.OnFailure(Failed(grpc::StatusCode::UNAVAILABLE), kStart));
    EXPECT_FALSE(attempts.OnFailure(Failed(grpc::StatusCode::DEADLINE_EXCEEDED),
                                    kStart));
    std::optional<RetryPolicy::Retry> retry = attempts.OnFailure(
        Failed(grpc::StatusCode::RESOURCE_EXHAUSTED), kStart);
    ASSERT_TRUE(retry);
    EXPECT_FALSE(retry->hard_wait_began);
    // Not past the call's deadline, on a hard mount too.
    EXPECT_EQ(attempts.deadline(), kStart + absl::Seconds(1));
    EXPECT_FALSE(
        attempts.OnFailure(Failed(grpc::StatusCode::RESOURCE_EXHAUSTED),
                           kStart + absl::Seconds(1)));
  }
}

TEST(RetryPolicyTest, HardMountRepeatsForeverWithADeadlinePerAttempt) {
  RetryPolicy policy(absl::Seconds(2), /*hard=*/true);
  RetryPolicy::Attempts attempts =
      policy.Begin(Idempotency::kIdempotent, kStart);
  absl::Time now = attempts.deadline();
  for (int i = 0; i < 100; ++i) {
    std::optional<RetryPolicy::Retry> retry =
        attempts.OnFailure(Failed(i % 2 ? grpc::StatusCode::DEADLINE_EXCEEDED
                                        : grpc::StatusCode::UNAVAILABLE),
                           now);
    ASSERT_TRUE(retry) << "retry " << i;
    // Logged once, when the wait for the server begins.
    EXPECT_EQ(retry->hard_wait_began, i == 0);
    EXPECT_EQ(retry->at - now, RetryBackoff(i));
    EXPECT_EQ(attempts.deadline(), retry->at + absl::Seconds(2));
    now = attempts.deadline();
  }
  EXPECT_FALSE(attempts.OnFailure(Failed(grpc::StatusCode::INTERNAL), now));
}

TEST(RetryPolicyTest, ProbeRepeatsOnlyWhileUnreachableWithinOneDeadline) {
  for (bool hard : {false, true}) {
    RetryPolicy policy(absl::Seconds(1), hard);
    RetryPolicy::Attempts probe = policy.BeginProbe(kStart);
    std::optional<RetryPolicy::Retry> retry =
        probe.OnFailure(Failed(grpc::StatusCode::UNAVAILABLE), kStart);
    ASSERT_TRUE(retry);
    EXPECT_FALSE(retry->hard_wait_began);
    EXPECT_EQ(probe.deadline(), kStart + absl::Seconds(1));
    EXPECT_FALSE(probe.OnFailure(Failed(grpc::StatusCode::UNAVAILABLE),
                                 kStart + absl::Milliseconds(990)));
    RetryPolicy::Attempts other = policy.BeginProbe(kStart);
    EXPECT_FALSE(
        other.OnFailure(Failed(grpc::StatusCode::RESOURCE_EXHAUSTED), kStart));
    EXPECT_FALSE(
        other.OnFailure(Failed(grpc::StatusCode::DEADLINE_EXCEEDED), kStart));
  }
}

}  // namespace
}  // namespace rbfs
