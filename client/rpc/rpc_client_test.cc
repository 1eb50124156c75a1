#include "client/rpc/rpc_client.h"

#include <cerrno>

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

}  // namespace
}  // namespace rbfs
