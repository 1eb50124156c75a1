#include "server/auth/transport_security.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "common/errno_status.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace rbfs {
namespace {

// How often gRPC looks for changed certificate files.
constexpr unsigned kTlsRefreshSeconds = 1;

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

absl::StatusOr<std::unique_ptr<X509, X509Deleter>> ReadCert(
    const std::string& path, const char* what) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    return ErrnoError(ENOENT, absl::StrCat("cannot read ", what, " ", path));
  }
  std::unique_ptr<X509, X509Deleter> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return ErrnoError(
        EINVAL, absl::StrCat(what, " ", path, " holds no PEM certificate"));
  }
  return cert;
}

absl::Status ValidateTlsFiles(const TlsFiles& files) {
  if (files.cert.empty() || files.key.empty()) {
    return ErrnoError(EINVAL, "--tls-cert and --tls-key go together");
  }
  absl::StatusOr<std::unique_ptr<X509, X509Deleter>> cert =
      ReadCert(files.cert, "--tls-cert");
  if (!cert.ok()) return cert.status();
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_file(files.key.c_str(), "r"));
  if (!bio) {
    return ErrnoError(ENOENT,
                      absl::StrCat("cannot read --tls-key ", files.key));
  }
  std::unique_ptr<EVP_PKEY, PkeyDeleter> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return ErrnoError(EINVAL, absl::StrCat("--tls-key ", files.key,
                                           " holds no unencrypted PEM key"));
  }
  if (X509_check_private_key(cert->get(), key.get()) != 1) {
    return ErrnoError(EINVAL,
                      absl::StrCat("--tls-key ", files.key,
                                   " does not match --tls-cert ", files.cert));
  }
  if (!files.client_ca.empty()) {
    absl::StatusOr<std::unique_ptr<X509, X509Deleter>> ca =
        ReadCert(files.client_ca, "--tls-client-ca");
    if (!ca.ok()) return ca.status();
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckExposure(const ExposurePolicy& policy) {
  if (IsLoopbackAddress(policy.listen) || policy.tls) return absl::OkStatus();
  if (!policy.insecure) {
    return ErrnoError(
        EPERM,
        absl::StrCat("refusing to serve ", policy.listen,
                     " without TLS: anyone on that network could read and "
                     "change the volume. Give --tls-cert and --tls-key, or "
                     "--insecure to accept that"));
  }
  if (policy.token && !policy.allow_insecure_token) {
    return ErrnoError(
        EPERM, absl::StrCat("refusing a token on ", policy.listen,
                            " without TLS: it would cross the network in clear "
                            "text. Give --tls-cert and --tls-key, or "
                            "--allow-insecure-token to accept that"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files) {
  if (!files.enabled()) return grpc::InsecureServerCredentials();
  if (absl::Status valid = ValidateTlsFiles(files); !valid.ok()) return valid;
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          files.key, files.cert, files.client_ca, kTlsRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!files.client_ca.empty()) {
    options.watch_root_certs();
    options.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace rbfs
