#include "server/auth/token_authenticator.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "absl/strings/match.h"
#include "common/token_file.h"

namespace rbfs {
namespace {

TokenAuthenticator::Digest Sha256(absl::string_view data) {
  TokenAuthenticator::Digest digest{};
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(),
             nullptr);
  return digest;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenAuthenticator>>
TokenAuthenticator::FromFile(const std::string& path) {
  absl::StatusOr<std::string> token = ReadTokenFile(path);
  if (!token.ok()) return token.status();
  return std::unique_ptr<TokenAuthenticator>(
      new TokenAuthenticator(path, Sha256(*token)));
}

absl::Status TokenAuthenticator::Reload() {
  absl::StatusOr<std::string> token = ReadTokenFile(path_);
  if (!token.ok()) return token.status();
  const Digest digest = Sha256(*token);
  absl::MutexLock lock(&mu_);
  digest_ = digest;
  return absl::OkStatus();
}

absl::Status TokenAuthenticator::Check(absl::string_view authorization) const {
  if (authorization.empty()) {
    return absl::UnauthenticatedError("no token");
  }
  if (!absl::StartsWith(authorization, kBearerPrefix)) {
    return absl::UnauthenticatedError("authorization is not a bearer token");
  }
  const Digest presented = Sha256(authorization.substr(kBearerPrefix.size()));
  Digest expected;
  {
    absl::MutexLock lock(&mu_);
    expected = digest_;
  }
  if (CRYPTO_memcmp(presented.data(), expected.data(), expected.size()) != 0) {
    return absl::UnauthenticatedError("wrong token");
  }
  return absl::OkStatus();
}

}  // namespace rbfs
