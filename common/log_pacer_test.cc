#include "common/log_pacer.h"

#include "gtest/gtest.h"
#include "testing/fake_clock.h"

namespace rbfs {
namespace {

TEST(LogPacerTest, OneRecordPerIntervalWithTheHeldBackCounted) {
  FakeClock clock;
  LogPacer pacer(absl::Seconds(1), &clock);
  EXPECT_EQ(pacer.Admit(), 0u);
  clock.Advance(absl::Milliseconds(400));
  EXPECT_EQ(pacer.Admit(), std::nullopt);
  clock.Advance(absl::Milliseconds(599));
  EXPECT_EQ(pacer.Admit(), std::nullopt);
  clock.Advance(absl::Milliseconds(1));
  EXPECT_EQ(pacer.Admit(), 2u);
  // The count starts again after a record is let through.
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(pacer.Admit(), 0u);
}

}  // namespace
}  // namespace rbfs
