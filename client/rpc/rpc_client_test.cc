#include "client/rpc/rpc_client.h"

#include <grpcpp/grpcpp.h>

#include <cerrno>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/coherence.h"
#include "common/errno_status.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

TEST(RpcClientTest, TransportFailuresMapToErrnos) {
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
  EXPECT_EQ(StatusToErrno(FromGrpcStatus(
                grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"))),
            EIO);
  EXPECT_EQ(StatusToErrno(FromGrpcStatus(
                grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "slow"))),
            EIO);
  EXPECT_EQ(StatusToErrno(FromGrpcStatus(
                grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "big"))),
            EAGAIN);
  EXPECT_EQ(StatusToErrno(FromGrpcStatus(
                grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "no"))),
            EPERM);
  EXPECT_EQ(StatusToErrno(FromGrpcStatus(
                grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "who"))),
            EACCES);
  EXPECT_EQ(StatusToErrno(FromGrpcStatus(
                grpc::Status(grpc::StatusCode::INTERNAL, "bug"))),
            EIO);
}

TEST(RpcClientTest, CallToAbsentServerEndsAtTheDeadline) {
  RpcOptions options;
  // Port 1 on loopback: nothing listens there.
  options.target = "127.0.0.1:1";
  options.channels = 2;
  options.deadline = absl::Milliseconds(300);
  RpcClient client(options);
  StatFsRequest request;
  StatFsReply reply;
  const absl::Time start = absl::Now();
  absl::Status status = client.Call(&Rbfs::StubInterface::StatFs, request,
                                    &reply, Idempotency::kIdempotent);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(StatusToErrno(status), EIO) << status;
  EXPECT_GE(took, absl::Milliseconds(250));
  EXPECT_LT(took, absl::Seconds(5));
}

// A hard mount retries for ever; once the mount is going away, a call in
// flight gives up at the time given and later ones at once.
TEST(RpcClientTest, AHardCallGivesUpOnceTheMountIsGoingAway) {
  RpcOptions options;
  options.target = "127.0.0.1:1";
  options.deadline = absl::Milliseconds(200);
  options.hard = true;
  RpcClient client(options);
  absl::Status status;
  absl::Notification returned;
  std::thread call([&] {
    StatFsReply reply;
    status = client.Call(&Rbfs::StubInterface::StatFs, StatFsRequest(), &reply,
                         Idempotency::kIdempotent);
    returned.Notify();
  });
  // Several deadlines pass: a hard call is still retrying.
  EXPECT_FALSE(returned.WaitForNotificationWithTimeout(absl::Seconds(1)));
  const absl::Time by = absl::Now() + absl::Milliseconds(300);
  client.GiveUpBy(by);
  EXPECT_TRUE(returned.WaitForNotificationWithTimeout(absl::Seconds(5)));
  call.join();
  EXPECT_EQ(StatusToErrno(status), EIO) << status;
  EXPECT_GE(absl::Now(), by - absl::Milliseconds(250));

  // Brought forward only: a later time changes nothing.
  client.GiveUpBy(absl::Now() + absl::Hours(1));
  const absl::Time start = absl::Now();
  StatFsReply reply;
  EXPECT_EQ(
      StatusToErrno(client.Call(&Rbfs::StubInterface::StatFs, StatFsRequest(),
                                &reply, Idempotency::kIdempotent)),
      EIO);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(150));
}

// A client that lives as long as the process, as the mount's does: gRPC
// 1.51 does not take kindly to callback-API users (the Exchange streams)
// being created and destroyed repeatedly in one process, and a test run
// crashed at exit once when they were.
RpcClient* Kept(const RpcOptions& options) { return new RpcClient(options); }

TEST(RpcClientTest, StreamedCallToAbsentServerEndsAtTheDeadline) {
  RpcOptions options;
  options.target = "127.0.0.1:1";
  options.deadline = absl::Milliseconds(300);
  options.exchange_streams = true;
  RpcClient& client = *Kept(options);
  LookupRequest request;
  EntryReply reply;
  const absl::Time start = absl::Now();
  absl::Status status = client.Call(&Rbfs::StubInterface::Lookup, request,
                                    &reply, Idempotency::kIdempotent);
  EXPECT_EQ(StatusToErrno(status), EIO) << status;
  // Deadlines on a stream are checked once a second.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

// Answers Lookup (ENOENT) and StatFs both as unary calls and, for Lookup,
// on an Exchange stream, counting which way each came.
class CountingService final : public Rbfs::Service {
 public:
  grpc::Status Lookup(grpc::ServerContext* context, const LookupRequest*,
                      EntryReply* reply) override {
    absl::MutexLock lock(&mu_);
    NoteSession(*context);
    ++unary_lookups_;
    reply->set_err(ENOENT);
    return grpc::Status::OK;
  }
  grpc::Status StatFs(grpc::ServerContext* context, const StatFsRequest*,
                      StatFsReply* reply) override {
    absl::MutexLock lock(&mu_);
    NoteSession(*context);
    ++unary_statfs_;
    reply->set_block_size(4096);
    return grpc::Status::OK;
  }
  grpc::Status Exchange(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<ReplyBatch, RequestBatch>* stream) override {
    {
      absl::MutexLock lock(&mu_);
      NoteSession(*context);
    }
    RequestBatch batch;
    while (stream->Read(&batch)) {
      ReplyBatch replies;
      for (const StreamRequest& request : batch.requests()) {
        StreamReply* reply = replies.add_replies();
        reply->set_id(request.id());
        if (request.has_lookup()) {
          absl::MutexLock lock(&mu_);
          ++streamed_lookups_;
          reply->mutable_entry()->set_err(ENOENT);
        }
      }
      if (!stream->Write(replies)) break;
    }
    return grpc::Status::OK;
  }

  // The "rbfs-session" metadata of a call or stream ("" without).
  void NoteSession(const grpc::ServerContext& context)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = context.client_metadata().find(std::string(kSessionMetadataKey));
    sessions_.push_back(
        it == context.client_metadata().end()
            ? ""
            : std::string(it->second.data(), it->second.size()));
  }

  absl::Mutex mu_;
  // Per call and per stream, in arrival order.
  std::vector<std::string> sessions_ ABSL_GUARDED_BY(mu_);
  int unary_lookups_ ABSL_GUARDED_BY(mu_) = 0;
  int unary_statfs_ ABSL_GUARDED_BY(mu_) = 0;
  int streamed_lookups_ ABSL_GUARDED_BY(mu_) = 0;
};

class RpcClientTransportTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  // The kept client's streams stay open: cancel them rather than wait.
  void TearDown() override {
    server_->Shutdown(
        absl::ToChronoTime(absl::Now() + absl::Milliseconds(100)));
  }

  RpcClient& Client(bool streams) {
    RpcOptions options;
    options.target = "127.0.0.1:" + std::to_string(port_);
    options.channels = 2;
    options.deadline = absl::Seconds(10);
    options.exchange_streams = streams;
    return *Kept(options);
  }

  CountingService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_P(RpcClientTransportTest, CarriedCallsRideTheStreamsOthersStayUnary) {
  const bool streams = GetParam();
  RpcClient& client = Client(streams);
  for (int i = 0; i < 3; ++i) {
    EntryReply entry;
    absl::Status looked =
        client.Call(&Rbfs::StubInterface::Lookup, LookupRequest(), &entry,
                    Idempotency::kIdempotent);
    EXPECT_EQ(StatusToErrno(looked), ENOENT) << looked;
  }
  StatFsReply statfs;
  ASSERT_TRUE(client
                  .Call(&Rbfs::StubInterface::StatFs, StatFsRequest(), &statfs,
                        Idempotency::kIdempotent)
                  .ok());
  EXPECT_EQ(statfs.block_size(), 4096u);
  absl::MutexLock lock(&service_.mu_);
  EXPECT_EQ(service_.streamed_lookups_, streams ? 3 : 0);
  EXPECT_EQ(service_.unary_lookups_, streams ? 0 : 3);
  EXPECT_EQ(service_.unary_statfs_, 1);
}

TEST_P(RpcClientTransportTest, HandshakeChecksTheServerServesTheStreams) {
  const bool streams = GetParam();
  StatFsReply statfs;
  absl::Status status = Client(streams).Handshake(&statfs);
  EXPECT_TRUE(status.ok()) << status;
}

// The server keeps a session's own changes off its Watch stream by this
// name: a stream opened before the session was known (the handshake's
// probe) once sent every change a mount made back to it as invalidations.
TEST_P(RpcClientTransportTest, EveryCallAndStreamNamesTheSessionFromTheStart) {
  const bool streams = GetParam();
  RpcClient& client = Client(streams);
  ASSERT_NE(client.session(), 0u);
  StatFsReply statfs;
  ASSERT_TRUE(client.Handshake(&statfs).ok());
  EntryReply entry;
  EXPECT_EQ(
      StatusToErrno(client.Call(&Rbfs::StubInterface::Lookup, LookupRequest(),
                                &entry, Idempotency::kIdempotent)),
      ENOENT);
  absl::MutexLock lock(&service_.mu_);
  // StatFs, then the streams (the probe's, perhaps another for the
  // Lookup) or the unary Lookup.
  EXPECT_GE(service_.sessions_.size(), 2u);
  for (const std::string& session : service_.sessions_) {
    EXPECT_EQ(session, absl::StrCat(client.session()));
  }
}

INSTANTIATE_TEST_SUITE_P(StreamsAndUnary, RpcClientTransportTest,
                         ::testing::Bool());

// A server from before the Exchange stream: StatFs only.
class OldService final : public Rbfs::Service {
 public:
  grpc::Status StatFs(grpc::ServerContext*, const StatFsRequest*,
                      StatFsReply* reply) override {
    reply->set_block_size(4096);
    return grpc::Status::OK;
  }
};

TEST(RpcClientTest, HandshakeWithAServerWithoutStreamsNamesTheUnaryTransport) {
  OldService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  RpcOptions options;
  options.target = "127.0.0.1:" + std::to_string(port);
  options.deadline = absl::Seconds(10);
  options.exchange_streams = true;
  StatFsReply statfs;
  absl::Status status = Kept(options)->Handshake(&statfs);
  EXPECT_EQ(StatusToErrno(status), EPROTONOSUPPORT) << status;
  EXPECT_NE(status.message().find("transport=unary"), absl::string_view::npos)
      << status;
  server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(100)));
}

}  // namespace
}  // namespace rbfs
