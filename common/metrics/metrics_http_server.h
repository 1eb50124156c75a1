// MetricsHttpServer: serves a MetricsRegistry's exposition at GET /metrics
// over plain HTTP (cpp-httplib), on a thread of its own, for Prometheus to
// scrape. Anything else is 404. Whether a non-loopback address may be used
// is the caller's rule (the server's --metrics-listen checks it).
#ifndef RBFS_COMMON_METRICS_METRICS_HTTP_SERVER_H_
#define RBFS_COMMON_METRICS_METRICS_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/metrics/metrics.h"

namespace httplib {
class Server;
}

namespace rbfs {

class MetricsHttpServer {
 public:
  // Listens on `host`:`port` (0: any free port); `registry` must outlive
  // the server.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& host, int port, const MetricsRegistry* registry);
  // Stops listening and joins the thread.
  ~MetricsHttpServer();

  int port() const { return port_; }

 private:
  MetricsHttpServer(std::unique_ptr<httplib::Server> http, int port);

  std::unique_ptr<httplib::Server> http_;
  const int port_;
  std::thread thread_;
};

}  // namespace rbfs

#endif  // RBFS_COMMON_METRICS_METRICS_HTTP_SERVER_H_
