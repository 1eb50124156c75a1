#include "client/rpc/client_session.h"

#include <fcntl.h>

#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/rpc/rpc_client.h"
#include "client/testing/fake_rbfs_stub.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

using ::testing::_;
using ::testing::DoAll;
using ::testing::Invoke;
using ::testing::NiceMock;
using ::testing::Return;
using ::testing::SaveArg;
using ::testing::SetArgPointee;

InodeId Id(uint64_t ino) {
  InodeId id;
  id.set_ino(ino);
  id.set_generation(7);
  return id;
}

KeepAliveReply Known(bool known, uint32_t lease_ms = 30000) {
  KeepAliveReply reply;
  reply.set_known(known);
  reply.set_lease_ms(lease_ms);
  return reply;
}

grpc::Status Unavailable() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "away");
}

class ClientSessionTest : public testing::Test {
 protected:
  ClientSessionTest() {
    FakeRpc fake = NewFakeRpc(absl::Seconds(30));
    stub_ = fake.stub;
    rpc_ = std::move(fake.client);
    session_ = std::make_unique<ClientSession>(rpc_.get());
  }

  // Stops the renewal thread: every call it made has returned.
  void Stop() { session_.reset(); }

  NiceMock<FakeRbfsStub>* stub_;
  std::unique_ptr<RpcClient> rpc_;
  std::unique_ptr<ClientSession> session_;
};

TEST_F(ClientSessionTest, NumbersCallsAndHandlesFromOne) {
  EXPECT_NE(session_->id(), 0u);
  CallId first;
  CallId second;
  session_->BeginCall(&first);
  session_->BeginCall(&second);
  EXPECT_EQ(first.session(), session_->id());
  EXPECT_EQ(first.seq(), 1u);
  EXPECT_EQ(second.seq(), 2u);
  EXPECT_EQ(session_->NewHandle(), 1u);
  EXPECT_EQ(session_->NewHandle(), 2u);
}

TEST_F(ClientSessionTest, KeepAliveReportsTheLowestUnansweredCall) {
  CallId calls[3];
  for (CallId& call : calls) session_->BeginCall(&call);
  session_->EndCall(calls[0]);
  session_->EndCall(calls[2]);
  KeepAliveRequest sent;
  std::chrono::system_clock::time_point deadline;
  absl::Notification renewed;
  EXPECT_CALL(*stub_, KeepAlive(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent),
                      Invoke([&](grpc::ClientContext* c, const auto&, auto*) {
                        deadline = c->deadline();
                      }),
                      SetArgPointee<2>(Known(true)), Invoke([&](auto...) {
                        renewed.Notify();
                        return grpc::Status::OK;
                      })))
      .WillRepeatedly(Return(grpc::Status::OK));
  const absl::Time started = absl::Now();
  session_->Start();
  renewed.WaitForNotification();
  Stop();
  EXPECT_EQ(sent.session(), calls[0].session());
  // Call 2 is still running; 1 and 3 were answered.
  EXPECT_EQ(sent.answered_below(), 2u);
  // A single attempt bounded at 5 s, though the mount's deadline is 30 s.
  EXPECT_LE(absl::FromChrono(deadline),
            started + absl::Seconds(5) + absl::Milliseconds(500));
}

TEST_F(ClientSessionTest, AnUnknownSessionReregistersTheHandlesHeld) {
  session_->Opened(1, Id(10), O_RDWR | O_TRUNC | O_CREAT);
  session_->Opened(2, Id(11), O_RDONLY);
  session_->Released(2);
  OpenRequest reclaimed;
  absl::Notification done;
  EXPECT_CALL(*stub_, KeepAlive(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Known(false)), Return(grpc::Status::OK)))
      .WillRepeatedly(
          DoAll(SetArgPointee<2>(Known(true)), Return(grpc::Status::OK)));
  EXPECT_CALL(*stub_, Open(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&reclaimed), Invoke([&](auto...) {
                        done.Notify();
                        return grpc::Status::OK;
                      })));
  EXPECT_CALL(*stub_, Release(_, _, _)).Times(0);
  const uint64_t id = session_->id();
  session_->Start();
  done.WaitForNotification();
  // Counted before the handles are re-registered.
  EXPECT_EQ(session_->rejoins(), 1u);
  Stop();
  EXPECT_TRUE(reclaimed.reclaim());
  EXPECT_EQ(reclaimed.handle(), 1u);
  EXPECT_EQ(reclaimed.session(), id);
  EXPECT_EQ(reclaimed.id().ino(), 10u);
  EXPECT_EQ(reclaimed.id().generation(), 7u);
  // Re-registering must not truncate or create again.
  EXPECT_EQ(reclaimed.flags(), static_cast<uint32_t>(O_RDWR));
}

// The locks the server granted are re-asserted after the handles, with
// what an unlock left of them.
TEST_F(ClientSessionTest, AnUnknownSessionReassertsItsLocks) {
  LockRequest granted;
  *granted.mutable_id() = Id(10);
  granted.set_owner(5);
  granted.set_type(F_WRLCK);
  granted.set_start(0);
  granted.set_end(99);
  granted.set_pid(42);
  session_->LockGranted(granted);
  LockRequest unlocked = granted;
  unlocked.set_type(F_UNLCK);
  unlocked.set_start(50);
  unlocked.set_end(kLockToEnd);
  session_->LockGranted(unlocked);
  EXPECT_TRUE(session_->HoldsLocks(10, /*flock=*/false, 5));
  EXPECT_FALSE(session_->HoldsLocks(10, /*flock=*/true, 5));
  EXPECT_FALSE(session_->HoldsLocks(10, /*flock=*/false, 6));

  LockRequest reclaimed;
  absl::Notification done;
  EXPECT_CALL(*stub_, KeepAlive(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Known(false)), Return(grpc::Status::OK)))
      .WillRepeatedly(
          DoAll(SetArgPointee<2>(Known(true)), Return(grpc::Status::OK)));
  EXPECT_CALL(*stub_, Lock(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&reclaimed), Invoke([&](auto...) {
                        done.Notify();
                        return grpc::Status::OK;
                      })));
  const uint64_t id = session_->id();
  session_->Start();
  done.WaitForNotification();
  Stop();
  EXPECT_TRUE(reclaimed.reclaim());
  EXPECT_EQ(reclaimed.session(), id);
  EXPECT_EQ(reclaimed.owner(), 5u);
  EXPECT_EQ(reclaimed.type(), static_cast<uint32_t>(F_WRLCK));
  EXPECT_EQ(reclaimed.start(), 0u);
  EXPECT_EQ(reclaimed.end(), 49u);
  EXPECT_EQ(reclaimed.pid(), 42u);
}

TEST_F(ClientSessionTest, AReclaimThatRacedWithTheReleaseIsUndone) {
  session_->Opened(4, Id(12), O_RDWR);
  ReleaseRequest released;
  absl::Notification done;
  EXPECT_CALL(*stub_, KeepAlive(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Known(false)), Return(grpc::Status::OK)))
      .WillRepeatedly(
          DoAll(SetArgPointee<2>(Known(true)), Return(grpc::Status::OK)));
  // The kernel releases the file while its reclaim is on the wire.
  EXPECT_CALL(*stub_, Open(_, _, _)).WillOnce(Invoke([&](auto...) {
    session_->Released(4);
    return grpc::Status::OK;
  }));
  EXPECT_CALL(*stub_, Release(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&released), Invoke([&](auto...) {
                        done.Notify();
                        return grpc::Status::OK;
                      })));
  const uint64_t id = session_->id();
  session_->Start();
  done.WaitForNotification();
  Stop();
  EXPECT_EQ(released.handle(), 4u);
  EXPECT_EQ(released.session(), id);
  EXPECT_EQ(released.id().ino(), 12u);
}

TEST_F(ClientSessionTest, AReclaimCutShortIsRepeatedAtTheNextRenewal) {
  session_->Opened(5, Id(13), O_RDWR);
  absl::Notification done;
  // A 3 ms lease: renewals every millisecond.
  EXPECT_CALL(*stub_, KeepAlive(_, _, _))
      .WillOnce(
          DoAll(SetArgPointee<2>(Known(false, 3)), Return(grpc::Status::OK)))
      .WillRepeatedly(
          DoAll(SetArgPointee<2>(Known(true, 3)), Return(grpc::Status::OK)));
  EXPECT_CALL(*stub_, Open(_, _, _))
      .WillOnce(Return(Unavailable()))
      .WillOnce(Invoke([&](auto...) {
        done.Notify();
        return grpc::Status::OK;
      }));
  session_->Start();
  done.WaitForNotification();
  Stop();
}

TEST_F(ClientSessionTest, ReleaseAllReleasesEachHandleOnce) {
  session_->Opened(1, Id(10), O_RDWR);
  session_->Opened(2, Id(11), O_RDONLY);
  std::vector<uint64_t> released;
  EXPECT_CALL(*stub_, Release(_, _, _))
      .Times(2)
      .WillRepeatedly(Invoke(
          [&](grpc::ClientContext*, const ReleaseRequest& request, ErrReply*) {
            EXPECT_EQ(request.session(), session_->id());
            released.push_back(request.handle());
            return grpc::Status::OK;
          }));
  session_->ReleaseAll();
  EXPECT_THAT(released, testing::UnorderedElementsAre(1u, 2u));
  // Nothing is held any more.
  session_->ReleaseAll();
}

TEST_F(ClientSessionTest, ReleaseAllStopsAtTheFirstUnreachableRelease) {
  session_->Opened(1, Id(10), O_RDWR);
  session_->Opened(2, Id(11), O_RDONLY);
  EXPECT_CALL(*stub_, Release(_, _, _)).WillOnce(Return(Unavailable()));
  session_->ReleaseAll();
}

}  // namespace
}  // namespace rbfs
