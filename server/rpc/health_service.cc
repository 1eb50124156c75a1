#include "server/rpc/health_service.h"

#include <string>

#include "absl/time/time.h"

namespace rbfs {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

namespace {

// How often a Watch with nothing to send looks whether its client went away:
// the synchronous API has no cancellation callback.
constexpr absl::Duration kCancelPoll = absl::Seconds(1);

HealthCheckResponse::ServingStatus ToStatus(bool serving) {
  return serving ? HealthCheckResponse::SERVING
                 : HealthCheckResponse::NOT_SERVING;
}

}  // namespace

bool HealthService::Known(const std::string& service) {
  return service.empty() || service == "rbfs.Rbfs";
}

void HealthService::SetServing(bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_ || serving_ == serving) return;
  serving_ = serving;
  ++version_;
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  serving_ = false;
  shut_down_ = true;
  ++version_;
}

grpc::Status HealthService::Check(grpc::ServerContext*,
                                  const HealthCheckRequest* request,
                                  HealthCheckResponse* reply) {
  if (!Known(request->service())) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
  }
  absl::MutexLock lock(&mu_);
  reply->set_status(ToStatus(serving_));
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(
    grpc::ServerContext* context, const HealthCheckRequest* request,
    grpc::ServerWriter<HealthCheckResponse>* writer) {
  HealthCheckResponse reply;
  if (!Known(request->service())) {
    reply.set_status(HealthCheckResponse::SERVICE_UNKNOWN);
    writer->Write(reply);
    return grpc::Status::OK;
  }
  uint64_t sent_version;
  bool serving;
  bool shut_down;
  {
    absl::MutexLock lock(&mu_);
    sent_version = version_;
    serving = serving_;
    shut_down = shut_down_;
  }
  for (;;) {
    reply.set_status(ToStatus(serving));
    // The write happens with no lock held: it may wait for the client.
    if (!writer->Write(reply) || shut_down) return grpc::Status::OK;
    absl::MutexLock lock(&mu_);
    auto news = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return version_ != sent_version;
    };
    while (!mu_.AwaitWithTimeout(absl::Condition(&news), kCancelPoll)) {
      if (context->IsCancelled()) return grpc::Status::CANCELLED;
    }
    sent_version = version_;
    serving = serving_;
    shut_down = shut_down_;
  }
}

}  // namespace rbfs
