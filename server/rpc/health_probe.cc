#include "server/rpc/health_probe.h"

#include <chrono>
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "protos/health.grpc.pb.h"

namespace rbfs {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

absl::Status ProbeHealth(const std::string& address, absl::Duration timeout,
                         const std::string& service) {
  // A channel of its own: the probe must not reuse a connection that an
  // earlier probe found healthy.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args);
  std::unique_ptr<Health::Stub> stub = Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
  if (response.status() != HealthCheckResponse::SERVING) {
    return absl::FailedPreconditionError(
        HealthCheckResponse::ServingStatus_Name(response.status()));
  }
  return absl::OkStatus();
}

int RunHealthProbe(const std::string& address, absl::Duration timeout) {
  absl::Status health = ProbeHealth(address, timeout);
  if (!health.ok()) {
    std::fprintf(stderr, "%s: not serving: %s\n", address.c_str(),
                 health.ToString().c_str());
    return 1;
  }
  std::printf("%s: SERVING\n", address.c_str());
  return 0;
}

}  // namespace rbfs
