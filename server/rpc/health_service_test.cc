#include "server/rpc/health_service.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "protos/health.grpc.pb.h"
#include "server/rpc/health_probe.h"

namespace rbfs {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One in-process server per test, kept for the whole process (Debian's gRPC
// 1.51 crashes when every server of a process is destroyed and new ones are
// created); each test gets its own HealthService.
struct ServedHealth {
  HealthService service;
  std::unique_ptr<grpc::Server> server;
  std::string address;
  std::unique_ptr<Health::Stub> stub;
};

ServedHealth* Serve() {
  auto* served = new ServedHealth;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&served->service);
  served->server = builder.BuildAndStart();
  EXPECT_NE(port, 0);
  served->address = absl::StrCat("127.0.0.1:", port);
  served->stub = Health::NewStub(
      grpc::CreateChannel(served->address, grpc::InsecureChannelCredentials()));
  return served;
}

HealthCheckResponse::ServingStatus Check(ServedHealth* served,
                                         const std::string& service,
                                         grpc::StatusCode* code) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse reply;
  *code = served->stub->Check(&context, request, &reply).error_code();
  return reply.status();
}

TEST(HealthServiceTest, ChecksServerAndRbfsServiceOnly) {
  ServedHealth* served = Serve();
  grpc::StatusCode code;
  EXPECT_EQ(Check(served, "", &code), HealthCheckResponse::SERVING);
  EXPECT_EQ(code, grpc::StatusCode::OK);
  EXPECT_EQ(Check(served, "rbfs.Rbfs", &code), HealthCheckResponse::SERVING);
  EXPECT_EQ(code, grpc::StatusCode::OK);
  Check(served, "no.Such", &code);
  EXPECT_EQ(code, grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(ProbeHealth(served->address, absl::Seconds(10)).ok());
}

TEST(HealthServiceTest, NotServingAfterShutdownForGood) {
  ServedHealth* served = Serve();
  served->service.SetServing(false);
  grpc::StatusCode code;
  EXPECT_EQ(Check(served, "", &code), HealthCheckResponse::NOT_SERVING);
  served->service.SetServing(true);
  EXPECT_EQ(Check(served, "", &code), HealthCheckResponse::SERVING);
  served->service.Shutdown();
  served->service.SetServing(true);
  EXPECT_EQ(Check(served, "", &code), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(ProbeHealth(served->address, absl::Seconds(10)).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(HealthServiceTest, WatchStreamsChangesUntilShutdown) {
  ServedHealth* served = Serve();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  HealthCheckRequest request;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader =
      served->stub->Watch(&context, request);
  HealthCheckResponse reply;
  ASSERT_TRUE(reader->Read(&reply));
  EXPECT_EQ(reply.status(), HealthCheckResponse::SERVING);
  // Each Read waits for the change made before it: the stream only carries
  // news, so a status read proves the service pushed it.
  served->service.SetServing(false);
  ASSERT_TRUE(reader->Read(&reply));
  EXPECT_EQ(reply.status(), HealthCheckResponse::NOT_SERVING);
  served->service.SetServing(true);
  ASSERT_TRUE(reader->Read(&reply));
  EXPECT_EQ(reply.status(), HealthCheckResponse::SERVING);
  served->service.Shutdown();
  ASSERT_TRUE(reader->Read(&reply));
  EXPECT_EQ(reply.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(reader->Read(&reply));
  EXPECT_TRUE(reader->Finish().ok());
}

TEST(HealthServiceTest, WatchOfUnknownServiceSaysSo) {
  ServedHealth* served = Serve();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  HealthCheckRequest request;
  request.set_service("no.Such");
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader =
      served->stub->Watch(&context, request);
  HealthCheckResponse reply;
  ASSERT_TRUE(reader->Read(&reply));
  EXPECT_EQ(reply.status(), HealthCheckResponse::SERVICE_UNKNOWN);
  EXPECT_FALSE(reader->Read(&reply));
}

}  // namespace
}  // namespace rbfs
