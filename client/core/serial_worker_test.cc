#include "client/core/serial_worker.h"

#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

TEST(SerialWorkerTest, RunsTasksInTheOrderQueued) {
  std::vector<int> ran;
  SerialWorker worker;
  for (int i = 0; i < 100; ++i) worker.Run([&ran, i] { ran.push_back(i); });
  ASSERT_TRUE(worker.Drain(absl::Seconds(10)));
  ASSERT_EQ(ran.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(ran[i], i);
}

TEST(SerialWorkerTest, DrainWaitsForARunningTask) {
  SerialWorker worker;
  absl::Notification release;
  bool finished = false;
  worker.Run([&] {
    release.WaitForNotification();
    finished = true;
  });
  EXPECT_FALSE(worker.Drain(absl::Milliseconds(50)));
  release.Notify();
  EXPECT_TRUE(worker.Drain(absl::Seconds(10)));
  EXPECT_TRUE(finished);
}

TEST(SerialWorkerTest, DestructionRunsWhatIsQueued) {
  int ran = 0;
  {
    SerialWorker worker;
    for (int i = 0; i < 10; ++i) worker.Run([&ran] { ++ran; });
  }
  EXPECT_EQ(ran, 10);
}

}  // namespace
}  // namespace rbfs
