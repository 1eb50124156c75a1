#include "server/rpc/health_probe.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "protos/rbfs.grpc.pb.h"
#include "testing/process.h"

namespace rbfs {
namespace {

// In-process gRPC servers on loopback ports, built once and kept for the
// whole process: Debian's gRPC 1.51 crashes when every server of a process
// is destroyed and new ones are created. They answer with gRPC's built-in
// health service, so the probe is checked against an implementation of the
// protocol other than rbfs-server's own (health_service_test covers that).
struct Servers {
  std::unique_ptr<grpc::Server> without_health;
  int without_health_port = 0;
  std::unique_ptr<grpc::Server> serving;
  int serving_port = 0;
  std::unique_ptr<grpc::Server> not_serving;
  int not_serving_port = 0;
};

// gRPC starts no server without a service of its own; the Rbfs service's
// generated base answers every call UNIMPLEMENTED and is never called here.
std::unique_ptr<grpc::Server> Start(int* port) {
  static Rbfs::Service* unimplemented = new Rbfs::Service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           port);
  builder.RegisterService(unimplemented);
  return builder.BuildAndStart();
}

const Servers& TheServers() {
  static const Servers* servers = [] {
    auto* s = new Servers;
    // The default health service is registered by servers built after it is
    // enabled, so the one without it comes first.
    grpc::EnableDefaultHealthCheckService(false);
    s->without_health = Start(&s->without_health_port);
    grpc::EnableDefaultHealthCheckService(true);
    s->serving = Start(&s->serving_port);
    s->not_serving = Start(&s->not_serving_port);
    s->not_serving->GetHealthCheckService()->SetServingStatus(false);
    return s;
  }();
  return *servers;
}

std::string Loopback(int port) { return absl::StrCat("127.0.0.1:", port); }

TEST(HealthProbeTest, ServingServerIsHealthy) {
  const Servers& servers = TheServers();
  ASSERT_NE(servers.serving_port, 0);
  EXPECT_TRUE(
      ProbeHealth(Loopback(servers.serving_port), absl::Seconds(10)).ok());
  EXPECT_EQ(RunHealthProbe(Loopback(servers.serving_port), absl::Seconds(10)),
            0);
}

TEST(HealthProbeTest, NotServingServerIsUnhealthy) {
  const Servers& servers = TheServers();
  ASSERT_NE(servers.not_serving_port, 0);
  absl::Status health =
      ProbeHealth(Loopback(servers.not_serving_port), absl::Seconds(10));
  EXPECT_EQ(health.code(), absl::StatusCode::kFailedPrecondition) << health;
  EXPECT_EQ(health.message(), "NOT_SERVING");
  EXPECT_EQ(
      RunHealthProbe(Loopback(servers.not_serving_port), absl::Seconds(10)), 1);
}

TEST(HealthProbeTest, UnknownServiceIsUnhealthy) {
  const Servers& servers = TheServers();
  absl::Status health = ProbeHealth(Loopback(servers.serving_port),
                                    absl::Seconds(10), "no.such.Service");
  EXPECT_EQ(health.code(), absl::StatusCode::kNotFound) << health;
}

TEST(HealthProbeTest, ServerWithoutHealthServiceIsUnhealthy) {
  const Servers& servers = TheServers();
  ASSERT_NE(servers.without_health_port, 0);
  absl::Status health =
      ProbeHealth(Loopback(servers.without_health_port), absl::Seconds(10));
  EXPECT_EQ(health.code(), absl::StatusCode::kUnimplemented) << health;
  EXPECT_EQ(
      RunHealthProbe(Loopback(servers.without_health_port), absl::Seconds(10)),
      1);
}

TEST(HealthProbeTest, NothingListeningIsUnhealthy) {
  absl::StatusOr<int> port = testing::FreeLoopbackPort();
  ASSERT_TRUE(port.ok()) << port.status();
  absl::Status health = ProbeHealth(Loopback(*port), absl::Seconds(10));
  EXPECT_EQ(health.code(), absl::StatusCode::kUnavailable) << health;
}

// A peer that completes TCP handshakes (the kernel does) but never speaks
// HTTP/2: only the probe's deadline ends the call.
TEST(HealthProbeTest, SilentPeerEndsAtTheDeadline) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  absl::Status health =
      ProbeHealth(Loopback(ntohs(addr.sin_port)), absl::Milliseconds(500));
  EXPECT_EQ(health.code(), absl::StatusCode::kDeadlineExceeded) << health;
  close(fd);
}

}  // namespace
}  // namespace rbfs
