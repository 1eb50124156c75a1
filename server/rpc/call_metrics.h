// CallMetrics: the server's per-call metrics (issue 16), for every method of
// the Rbfs service as its descriptor lists them, whether a call came unary
// or on an Exchange stream:
//   rbfs_server_calls_total{method, result}  result "ok", the errno's name
//                                            ("ENOENT"), or "refused" (the
//                                            call never ran: credentials)
//   rbfs_server_call_seconds{method}         latency histogram
//   rbfs_server_calls_in_flight              gauge
//   rbfs_server_read_bytes_total, rbfs_server_written_bytes_total
// The series of a method are found once, at construction; recording takes
// no lock but for the first call of a (method, errno) pair.
#ifndef RBFS_SERVER_RPC_CALL_METRICS_H_
#define RBFS_SERVER_RPC_CALL_METRICS_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics/metrics.h"

namespace rbfs {

class CallMetrics {
 public:
  // The `err` of a call refused before it ran.
  static constexpr int kRefused = -1;

  // Registers the series in `registry`, which must outlive this.
  explicit CallMetrics(MetricsRegistry* registry);

  // A call of `method` ("Lookup", as the service names it) is starting.
  void Began() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  // It ended after `took` with errno `err` (0: success; kRefused).
  void Ended(absl::string_view method, int err, absl::Duration took);

  Counter* read_bytes() const { return read_bytes_; }
  Counter* written_bytes() const { return written_bytes_; }

 private:
  struct Method {
    std::string name;
    Counter* ok = nullptr;
    Histogram* latency = nullptr;
    absl::Mutex mu;
    absl::flat_hash_map<int, Counter*> failed ABSL_GUARDED_BY(mu);
  };

  Counter* ResultCounter(Method* m, int err);

  MetricsRegistry* const registry_;
  // Keys fixed at construction: read without a lock.
  absl::node_hash_map<std::string, Method> methods_;
  std::atomic<int64_t> in_flight_{0};
  Counter* read_bytes_;
  Counter* written_bytes_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_RPC_CALL_METRICS_H_
