#include "client/core/inflight_limiter.h"

#include <functional>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace rbfs {

namespace {

TEST(InflightLimiterTest, QueuesBeyondTheLimitAndStartsInOrder) {
  InflightLimiter limiter(2);
  std::vector<int> started;
  for (int i = 0; i < 5; ++i) {
    limiter.Submit([&started, i] { started.push_back(i); });
  }
  EXPECT_EQ(started, (std::vector<int>{0, 1}));
  EXPECT_EQ(limiter.in_flight(), 2u);
  EXPECT_EQ(limiter.queued(), 3u);
  limiter.Release();
  EXPECT_EQ(started, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(limiter.in_flight(), 2u);
  limiter.Release();
  limiter.Release();
  EXPECT_EQ(started, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_FALSE(limiter.WaitIdle(absl::ZeroDuration()));
  limiter.Release();
  limiter.Release();
  EXPECT_EQ(limiter.in_flight(), 0u);
  EXPECT_TRUE(limiter.WaitIdle(absl::ZeroDuration()));
}

TEST(InflightLimiterTest, StartThatCompletesInlineReleasesItsSlot) {
  InflightLimiter limiter(1);
  int runs = 0;
  std::function<void()> start = [&] {
    ++runs;
    limiter.Release();
  };
  for (int i = 0; i < 100; ++i) limiter.Submit(start);
  EXPECT_EQ(runs, 100);
  EXPECT_TRUE(limiter.WaitIdle(absl::ZeroDuration()));
}

}  // namespace
}  // namespace rbfs
