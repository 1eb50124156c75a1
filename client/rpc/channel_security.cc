#include "client/rpc/channel_security.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "common/errno_status.h"
#include "common/file_contents.h"
#include "common/token_file.h"

namespace rbfs {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    const char* option) {
  absl::StatusOr<std::string> content = ReadFileContents(path);
  if (!content.ok()) {
    const int err = StatusToErrno(content.status());
    return ErrnoError(err, absl::StrCat(option, ": cannot read ", path, ": ",
                                        std::strerror(err)));
  }
  if (content->find("-----BEGIN ") == std::string::npos) {
    return ErrnoError(EINVAL,
                      absl::StrCat(option, ": ", path, " is not a PEM file"));
  }
  return content;
}

}  // namespace

absl::Status ApplyChannelSecurity(const ChannelSecurityOptions& options,
                                  RpcOptions* rpc) {
  const bool tls = !options.tls_ca.empty();
  if (!options.token_file.empty()) {
    if (!tls && !IsLoopbackAddress(options.server) &&
        !options.allow_insecure_token) {
      return ErrnoError(
          EPERM, absl::StrCat("refusing to send the token to ", options.server,
                              " without TLS: give tls_ca=FILE, or "
                              "allow_insecure_token to accept that"));
    }
    absl::StatusOr<std::string> token = ReadTokenFile(options.token_file);
    if (!token.ok()) return token.status();
    rpc->token = std::move(*token);
  }
  if (!tls) return absl::OkStatus();
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca = ReadPem(options.tls_ca, "tls_ca");
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = std::move(*ca);
  if (!options.tls_cert.empty()) {
    absl::StatusOr<std::string> cert = ReadPem(options.tls_cert, "tls_cert");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPem(options.tls_key, "tls_key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = std::move(*cert);
    ssl.pem_private_key = std::move(*key);
  }
  rpc->credentials = grpc::SslCredentials(ssl);
  rpc->tls_server_name = options.tls_server_name;
  return absl::OkStatus();
}

}  // namespace rbfs
