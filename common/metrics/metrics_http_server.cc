#include "common/metrics/metrics_http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace rbfs {

// The content type Prometheus asks for in the text format.
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& host, int port, const MetricsRegistry* registry) {
  auto http = std::make_unique<httplib::Server>();
  // cpp-httplib's default sets SO_REUSEPORT, with which a second process
  // given the same port shares it silently and scrapes reach either one at
  // random; SO_REUSEADDR alone still allows a restart while old connections
  // linger, and a taken port fails the start.
  http->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http->Get("/metrics",
            [registry](const httplib::Request&, httplib::Response& response) {
              response.set_content(registry->Exposition(), kContentType);
            });
  int bound = port;
  if (port == 0) {
    bound = http->bind_to_any_port(host);
  } else if (!http->bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound < 0) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot listen on ", host, ":", port));
  }
  std::unique_ptr<MetricsHttpServer> server(
      new MetricsHttpServer(std::move(http), bound));
  httplib::Server* raw = server->http_.get();
  server->thread_ = std::thread([raw] { raw->listen_after_bind(); });
  // Until the loop runs, stop() would not reach it (and the destructor's
  // join would wait for ever); cpp-httplib 0.11 offers no readiness call.
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!raw->is_running() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  return server;
}

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<httplib::Server> http,
                                     int port)
    : http_(std::move(http)), port_(port) {}

MetricsHttpServer::~MetricsHttpServer() {
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace rbfs
