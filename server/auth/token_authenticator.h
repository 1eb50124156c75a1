// TokenAuthenticator: decides whether a call carries the server's token.
//
// The server is configured with a token file (--token-file); every call must
// carry "authorization: Bearer <token>". Only a SHA-256 digest of the token
// is kept, and presented tokens are hashed and compared in constant time, so
// neither the comparison's timing nor a memory dump of this object reveals
// the token. Reload() re-reads the file (on SIGHUP) and keeps the previous
// token when the new file is unusable, so a botched rotation never locks
// every client out. Thread-safe.
#ifndef RBFS_SERVER_AUTH_TOKEN_AUTHENTICATOR_H_
#define RBFS_SERVER_AUTH_TOKEN_AUTHENTICATOR_H_

#include <array>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace rbfs {

class TokenAuthenticator {
 public:
  using Digest = std::array<unsigned char, 32>;

  static absl::StatusOr<std::unique_ptr<TokenAuthenticator>> FromFile(
      const std::string& path);

  // Re-reads the token file; on failure the previous token stays in force.
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(mu_);

  // OK when `authorization` (the metadata value, absent → empty) is
  // "Bearer <token>"; otherwise UNAUTHENTICATED saying what was wrong
  // (missing, malformed, wrong) without repeating what was presented.
  absl::Status Check(absl::string_view authorization) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  TokenAuthenticator(std::string path, const Digest& digest)
      : path_(std::move(path)), digest_(digest) {}

  const std::string path_;
  mutable absl::Mutex mu_;
  Digest digest_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rbfs

#endif  // RBFS_SERVER_AUTH_TOKEN_AUTHENTICATOR_H_
