#include "server/rpc/call_metrics.h"

#include <google/protobuf/descriptor.h>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/log.h"
#include "protos/rbfs.grpc.pb.h"

namespace rbfs {
namespace {

constexpr absl::string_view kCalls = "rbfs_server_calls_total";
constexpr absl::string_view kCallsHelp =
    "Calls served, by method and result (ok, the errno, or refused).";

std::string ResultName(int err) {
  if (err == CallMetrics::kRefused) return "refused";
  return ErrnoName(err);
}

}  // namespace

CallMetrics::CallMetrics(MetricsRegistry* registry) : registry_(registry) {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          Rbfs::service_full_name());
  for (int i = 0; service != nullptr && i < service->method_count(); ++i) {
    const google::protobuf::MethodDescriptor* method = service->method(i);
    // Watch and Exchange are streams, not calls: what they carry counts.
    if (method->client_streaming() || method->server_streaming()) continue;
    const std::string name = method->name();
    Method& m = methods_[name];
    m.name = name;
    m.ok = registry->GetCounter(kCalls, kCallsHelp,
                                {{"method", name}, {"result", "ok"}});
    m.latency = registry->GetHistogram("rbfs_server_call_seconds",
                                       "How long calls took, by method.",
                                       LatencyBuckets(), {{"method", name}});
  }
  registry->AddGauge(
      "rbfs_server_calls_in_flight", "Calls being served now.",
      [this] { return in_flight_.load(std::memory_order_relaxed); });
  read_bytes_ = registry->GetCounter("rbfs_server_read_bytes_total",
                                     "Bytes of file data read.");
  written_bytes_ = registry->GetCounter("rbfs_server_written_bytes_total",
                                        "Bytes of file data written.");
}

Counter* CallMetrics::ResultCounter(Method* m, int err) {
  if (err == 0) return m->ok;
  absl::MutexLock lock(&m->mu);
  Counter*& c = m->failed[err];
  if (c == nullptr) {
    c = registry_->GetCounter(
        kCalls, kCallsHelp, {{"method", m->name}, {"result", ResultName(err)}});
  }
  return c;
}

void CallMetrics::Ended(absl::string_view method, int err,
                        absl::Duration took) {
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  auto it = methods_.find(method);
  if (it == methods_.end()) return;
  ResultCounter(&it->second, err)->Add();
  it->second.latency->ObserveDuration(took);
}

}  // namespace rbfs
