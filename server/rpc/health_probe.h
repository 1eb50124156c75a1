// ProbeHealth: asks a server's standard gRPC health service
// (grpc.health.v1.Health/Check) whether it is serving, within a deadline.
//
// This is what `rbfs-server --probe HOST:PORT` runs for container and
// service-manager health checks: a real gRPC call over plaintext HTTP/2, so
// a server that accepts connections but cannot answer calls is unhealthy.
// With TLS on, rbfs-server's --health-listen port serves the health service
// in plaintext for exactly this purpose.
#ifndef RBFS_SERVER_RPC_HEALTH_PROBE_H_
#define RBFS_SERVER_RPC_HEALTH_PROBE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace rbfs {

// OK when the server at `address` reports SERVING for `service` ("" is the
// server as a whole). Otherwise: FAILED_PRECONDITION naming the reported
// status, or the call's own error (UNAVAILABLE when nothing listens,
// DEADLINE_EXCEEDED when no answer came within `timeout`, UNIMPLEMENTED
// without a health service). Never takes much longer than `timeout`.
absl::Status ProbeHealth(const std::string& address, absl::Duration timeout,
                         const std::string& service = "");

// ProbeHealth as a program: prints one line saying what it found to stdout
// (healthy) or stderr, and returns the exit code, 0 when serving, else 1.
int RunHealthProbe(const std::string& address, absl::Duration timeout);

}  // namespace rbfs

#endif  // RBFS_SERVER_RPC_HEALTH_PROBE_H_
