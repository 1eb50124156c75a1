// HealthService: the standard grpc.health.v1.Health service (Check and
// Watch), answered synchronously for the server as a whole ("") and for
// "rbfs.Rbfs"; any other name is NOT_FOUND.
//
// Why not gRPC's built-in one: in gRPC 1.51 it is a callback service, and a
// single callback service makes the server start "nexting" threads that poll
// its sockets beside the synchronous pollers. Most rbfs calls were then read
// by one thread and handed to another, and the synchronous pool kept ending
// and creating threads: 4 KiB reads at depth 16 through a mount went from
// ~8 200 to ~13 500/s without it (docs/benchmarks.md).
//
// Invariant: once Shutdown() is called every Watch ends and Check answers
// NOT_SERVING, so server shutdown never waits on an open Watch.
#ifndef RBFS_SERVER_RPC_HEALTH_SERVICE_H_
#define RBFS_SERVER_RPC_HEALTH_SERVICE_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "protos/health.grpc.pb.h"

namespace rbfs {

class HealthService final : public grpc::health::v1::Health::Service {
 public:
  // Starts SERVING.
  HealthService() = default;

  void SetServing(bool serving) ABSL_LOCKS_EXCLUDED(mu_);
  // NOT_SERVING for good, and every Watch returns.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  grpc::Status Check(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* reply) override
      ABSL_LOCKS_EXCLUDED(mu_);
  // Sends the current status, then every change, until the client cancels
  // or Shutdown().
  grpc::Status Watch(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>*
                         writer) override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  static bool Known(const std::string& service);

  absl::Mutex mu_;
  bool serving_ ABSL_GUARDED_BY(mu_) = true;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  // Bumped on every change, so a Watch knows it has news to send.
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_RPC_HEALTH_SERVICE_H_
