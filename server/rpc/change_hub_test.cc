#include "server/rpc/change_hub.h"

#include <atomic>
#include <cerrno>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr uint64_t kA = 11;  // sessions
constexpr uint64_t kB = 22;

// A watcher with a counter of how often it was told to take.
struct TestWatcher {
  std::atomic<int> notified{0};
  WatcherId id = 0;

  TestWatcher(ChangeHub* hub, uint64_t session) {
    id = hub->Attach(session, [this] { ++notified; });
  }
};

std::vector<Change> Take(ChangeHub* hub, const TestWatcher& w,
                         WatcherEnd* end = nullptr) {
  WatchBatch batch;
  hub->TakePending(w.id, &batch);
  if (end != nullptr) *end = batch.end;
  return batch.changes;
}

TEST(ChangeHubTest, SequenceStartsAtOneAndCountsChanges) {
  ChangeHub hub;
  EXPECT_EQ(hub.Sequence(), 1u);
  hub.Publish(0, Change::Attr(5));
  EXPECT_EQ(hub.Sequence(), 2u);
  const Change two[] = {Change::Attr(5), Change::Data(6)};
  hub.Publish(0, two);
  EXPECT_EQ(hub.Sequence(), 4u);
}

TEST(ChangeHubTest, HeldInodeChangesReachHoldersButNotTheOrigin) {
  ChangeHub hub;
  TestWatcher a(&hub, kA), b(&hub, kB);
  hub.Hold(a.id, 5, 0);
  hub.Hold(b.id, 5, 0);
  hub.Publish(kA, Change::Data(5));
  hub.Publish(kA, Change::Attr(6));  // nobody holds 6
  EXPECT_THAT(Take(&hub, b), ElementsAre(Change::Data(5)));
  EXPECT_THAT(Take(&hub, a), IsEmpty());
  EXPECT_EQ(b.notified, 1);
  EXPECT_EQ(a.notified, 0);
  EXPECT_TRUE(hub.HeldByOthers(kA, 5));
  EXPECT_TRUE(hub.HeldByOthers(kB, 5));
  EXPECT_FALSE(hub.HeldByOthers(kA, 6));
}

// A failed commit goes to every open watcher at once, and stays in every
// batch after.
TEST(ChangeHubTest, ACommitErrorIsSentToEveryWatcherAndStays) {
  ChangeHub hub;
  TestWatcher a(&hub, kA), b(&hub, kB);
  WatchBatch batch;
  hub.TakePending(a.id, &batch);
  EXPECT_EQ(batch.commit_err, 0);
  hub.SetCommitError(EIO);
  EXPECT_EQ(a.notified, 1);
  EXPECT_EQ(b.notified, 1);
  hub.TakePending(a.id, &batch);
  EXPECT_EQ(batch.commit_err, EIO);
  EXPECT_TRUE(batch.heartbeat_due) << "a message to carry it";
  hub.Publish(kB, Change::Attr(ChangeHub::kRootIno));
  hub.TakePending(a.id, &batch);
  EXPECT_EQ(batch.commit_err, EIO);
  EXPECT_EQ(hub.commit_err(), EIO);
}

TEST(ChangeHubTest, RootIsHeldByEveryWatcher) {
  ChangeHub hub;
  TestWatcher b(&hub, kB);
  EXPECT_TRUE(hub.HeldByOthers(kA, ChangeHub::kRootIno));
  EXPECT_FALSE(hub.HeldByOthers(kB, ChangeHub::kRootIno));
  hub.Drop(b.id, ChangeHub::kRootIno);  // ignored
  hub.Publish(kA, Change::Entry(ChangeHub::kRootIno, "f"));
  EXPECT_THAT(Take(&hub, b),
              ElementsAre(Change::Entry(ChangeHub::kRootIno, "f")));
}

TEST(ChangeHubTest, DroppedInodeIsNoLongerSent) {
  ChangeHub hub;
  TestWatcher b(&hub, kB);
  hub.Hold(b.id, 5, 0);
  hub.Drop(b.id, 5);
  hub.Publish(kA, Change::Attr(5));
  EXPECT_THAT(Take(&hub, b), IsEmpty());
  EXPECT_FALSE(hub.HeldByOthers(kA, 5));
}

TEST(ChangeHubTest, OneNotifyPerBatch) {
  ChangeHub hub;
  TestWatcher b(&hub, kB);
  hub.Hold(b.id, 5, 0);
  hub.Publish(kA, Change::Attr(5));
  hub.Publish(kA, Change::Data(5));
  EXPECT_EQ(b.notified, 1);
  EXPECT_THAT(Take(&hub, b), ElementsAre(Change::Attr(5), Change::Data(5)));
  hub.Publish(kA, Change::Data(5));
  EXPECT_EQ(b.notified, 2);
}

TEST(ChangeHubTest, HoldCatchesUpFromTheRing) {
  ChangeHub hub;
  const uint64_t as_of = hub.Sequence();
  hub.Publish(kA, Change::Attr(5));
  hub.Publish(kA, Change::Attr(6));
  hub.Publish(kA, Change::Data(5));
  TestWatcher b(&hub, kB);
  hub.Hold(b.id, 5, as_of);
  EXPECT_THAT(Take(&hub, b), ElementsAre(Change::Attr(5), Change::Data(5)));
  // Only what came after as_of.
  TestWatcher b2(&hub, kB + 1);
  hub.Hold(b2.id, 5, as_of + 1);
  EXPECT_THAT(Take(&hub, b2), ElementsAre(Change::Data(5)));
  // Not the watcher's own changes.
  TestWatcher a(&hub, kA);
  hub.Hold(a.id, 5, as_of);
  EXPECT_THAT(Take(&hub, a), IsEmpty());
  // Nothing when the reply is current, or without catch-up.
  hub.Hold(b2.id, 5, hub.Sequence());
  hub.Hold(b2.id, 6, 0);
  EXPECT_THAT(Take(&hub, b2), IsEmpty());
}

TEST(ChangeHubTest, HoldOlderThanTheRingGetsAll) {
  ChangeHub::Options options;
  options.ring_size = 2;
  ChangeHub hub(options);
  const uint64_t as_of = hub.Sequence();
  hub.Publish(kA, Change::Attr(5));
  hub.Publish(kA, Change::Attr(6));
  hub.Publish(kA, Change::Attr(7));
  TestWatcher b(&hub, kB);
  hub.Hold(b.id, 5, as_of);
  EXPECT_THAT(Take(&hub, b), ElementsAre(Change::All(5)));
  // The ring still reaches back to as_of + 2: exact catch-up.
  hub.Hold(b.id, 6, as_of + 1);
  EXPECT_THAT(Take(&hub, b), ElementsAre(Change::Attr(6)));
  // A sequence from the future (another server run) is not trusted.
  hub.Hold(b.id, 8, hub.Sequence() + 10);
  EXPECT_THAT(Take(&hub, b), ElementsAre(Change::All(8)));
}

TEST(ChangeHubTest, FullQueueEndsTheWatcher) {
  ChangeHub::Options options;
  options.queue_limit = 3;
  ChangeHub hub(options);
  TestWatcher b(&hub, kB), c(&hub, kB + 1);
  hub.Hold(b.id, 5, 0);
  hub.Hold(c.id, 5, 0);
  for (int i = 0; i < 3; ++i) hub.Publish(kA, Change::Attr(5));
  EXPECT_THAT(Take(&hub, c), ::testing::SizeIs(3));
  hub.Publish(kA, Change::Attr(5));  // b's fourth
  WatcherEnd end;
  EXPECT_THAT(Take(&hub, b, &end), IsEmpty());
  EXPECT_EQ(end, WatcherEnd::kOverflowed);
  EXPECT_THAT(Take(&hub, c, &end), ElementsAre(Change::Attr(5)));
  EXPECT_EQ(end, WatcherEnd::kOpen);
  EXPECT_EQ(hub.WatcherCount(), 1u);
  // b holds nothing any more.
  hub.Hold(b.id, 6, 0);
  EXPECT_FALSE(hub.HeldByOthers(kA, 6));
  hub.Detach(b.id);
}

TEST(ChangeHubTest, SecondAttachOfASessionReplacesTheFirst) {
  ChangeHub hub;
  TestWatcher old_b(&hub, kB);
  hub.Hold(old_b.id, 5, 0);
  TestWatcher new_b(&hub, kB);
  EXPECT_EQ(old_b.notified, 1);
  WatcherEnd end;
  Take(&hub, old_b, &end);
  EXPECT_EQ(end, WatcherEnd::kReplaced);
  EXPECT_FALSE(hub.HeldByOthers(kA, 5));  // the new one holds only root
  hub.Publish(kA, Change::Entry(ChangeHub::kRootIno, "x"));
  EXPECT_THAT(Take(&hub, new_b), ::testing::SizeIs(1));
  EXPECT_EQ(hub.WatcherCount(), 1u);
  hub.Detach(old_b.id);
  EXPECT_EQ(hub.WatcherCount(), 1u);
}

TEST(ChangeHubTest, DetachDropsHolds) {
  ChangeHub hub;
  TestWatcher b(&hub, kB);
  hub.Hold(b.id, 5, 0);
  hub.Detach(b.id);
  EXPECT_FALSE(hub.HeldByOthers(kA, 5));
  EXPECT_FALSE(hub.HeldByOthers(kA, ChangeHub::kRootIno));
  EXPECT_EQ(hub.WatcherCount(), 0u);
}

TEST(ChangeHubTest, ShutdownEndsWatchersNowAndLater) {
  ChangeHub hub;
  TestWatcher b(&hub, kB);
  hub.Shutdown();
  EXPECT_EQ(b.notified, 1);
  WatcherEnd end;
  Take(&hub, b, &end);
  EXPECT_EQ(end, WatcherEnd::kShutDown);
  TestWatcher late(&hub, kA);
  Take(&hub, late, &end);
  EXPECT_EQ(end, WatcherEnd::kShutDown);
  hub.Detach(b.id);
  hub.Detach(late.id);
}

TEST(ChangeHubTest, IdleWatcherIsAskedForAHeartbeat) {
  ChangeHub::Options options;
  options.heartbeat = absl::Milliseconds(20);
  ChangeHub hub(options);
  absl::Notification told;
  const WatcherId id = hub.Attach(kB, [&] {
    if (!told.HasBeenNotified()) told.Notify();
  });
  ASSERT_TRUE(told.WaitForNotificationWithTimeout(absl::Seconds(10)));
  WatchBatch batch;
  hub.TakePending(id, &batch);
  EXPECT_TRUE(batch.heartbeat_due);
  EXPECT_THAT(batch.changes, IsEmpty());
  hub.TakePending(id, &batch);
  EXPECT_FALSE(batch.heartbeat_due);
  hub.Detach(id);
}

// Detach waits out a notify in progress, so notify may use what Detach's
// caller frees next.
TEST(ChangeHubTest, ConcurrentPublishAndDetach) {
  ChangeHub hub;
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    while (!stop) hub.Publish(kA, Change::Entry(ChangeHub::kRootIno, "f"));
  });
  for (int i = 0; i < 200; ++i) {
    auto alive = std::make_unique<std::atomic<int>>(0);
    const WatcherId id = hub.Attach(kB, [p = alive.get()] { ++*p; });
    WatchBatch batch;
    hub.TakePending(id, &batch);
    hub.Detach(id);
    alive.reset();
  }
  stop = true;
  publisher.join();
}

}  // namespace
}  // namespace rbfs
