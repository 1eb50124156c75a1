// Transport security of rbfs-server: who may reach it, and over what.
//
// Safe defaults: without TLS the server serves only loopback addresses, and
// a token (a reusable secret) is only accepted where it cannot be sniffed —
// over TLS or loopback. Operators widen this explicitly with --insecure and
// --allow-insecure-token. TLS certificates are checked when the server
// starts (a missing file or a key that does not match its certificate stops
// it with a clear message) and then watched: gRPC re-reads them when they
// change, so rotation needs no restart and drops no connection.
#ifndef RBFS_SERVER_AUTH_TRANSPORT_SECURITY_H_
#define RBFS_SERVER_AUTH_TRANSPORT_SECURITY_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"

namespace rbfs {

struct TlsFiles {
  std::string cert;       // PEM certificate chain of the server
  std::string key;        // PEM private key of `cert`
  std::string client_ca;  // when set, clients must present a cert it signed
  bool enabled() const { return !cert.empty() || !key.empty(); }
};

struct ExposurePolicy {
  std::string listen;  // HOST:PORT
  bool tls = false;
  bool token = false;
  bool insecure = false;              // --insecure
  bool allow_insecure_token = false;  // --allow-insecure-token
};

// OK when the server may start with `policy`; otherwise the error says what
// is exposed and which flag would allow it.
absl::Status CheckExposure(const ExposurePolicy& policy);

// Insecure credentials when `files` is not enabled; otherwise validated,
// file-watching TLS credentials (mutual TLS when client_ca is set).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files);

}  // namespace rbfs

#endif  // RBFS_SERVER_AUTH_TRANSPORT_SECURITY_H_
