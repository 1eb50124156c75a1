#include "client/fuse/connection_end_watch.h"

#include <unistd.h>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

// A pipe stands for /dev/fuse: closing its write end ends the "connection"
// (POLLHUP on the read end), as an unmount makes /dev/fuse poll POLLERR.
TEST(ConnectionEndWatchTest, RunsTheCallbackOnceTheConnectionEnds) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  absl::Notification ended;
  ConnectionEndWatch watch(p[0], [&] { ended.Notify(); });
  // Data to read is not an end.
  ASSERT_EQ(write(p[1], "x", 1), 1);
  EXPECT_FALSE(ended.WaitForNotificationWithTimeout(absl::Milliseconds(100)));
  close(p[1]);
  EXPECT_TRUE(ended.WaitForNotificationWithTimeout(absl::Seconds(10)));
  watch.Stop();
  close(p[0]);
}

TEST(ConnectionEndWatchTest, AStoppedWatchRunsNothing) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  bool ran = false;
  {
    ConnectionEndWatch watch(p[0], [&] { ran = true; });
    watch.Stop();
    close(p[1]);
  }
  EXPECT_FALSE(ran);
  close(p[0]);
}

}  // namespace
}  // namespace rbfs
