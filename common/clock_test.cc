#include "common/clock.h"

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

TEST(ClockTest, RealClockFollowsTheSystemClock) {
  const absl::Time before = absl::Now();
  const absl::Time now = Clock::Real()->Now();
  EXPECT_LE(before, now);
  EXPECT_LE(now, absl::Now());
  EXPECT_EQ(Clock::Real(), Clock::Real());
}

}  // namespace
}  // namespace rbfs
