// Reading the shared secret that authenticates a mount to a server.
//
// Both sides read the token from a file (never from the command line, where
// `ps` would show it). The file holds one token: printable ASCII without
// spaces, 16 to 4096 characters; surrounding whitespace (a trailing newline
// from `echo` or an editor) is ignored. Error messages name the file and the
// rule broken, never the content.
#ifndef RBFS_COMMON_TOKEN_FILE_H_
#define RBFS_COMMON_TOKEN_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rbfs {

constexpr size_t kMinTokenLength = 16;
constexpr size_t kMaxTokenLength = 4096;

// The gRPC metadata key that carries the token, as "Bearer <token>".
constexpr absl::string_view kAuthorizationKey = "authorization";
constexpr absl::string_view kBearerPrefix = "Bearer ";

// Reads and validates the token in `path`. Warns (once per read) when the
// file can be read by its group or others.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

}  // namespace rbfs

#endif  // RBFS_COMMON_TOKEN_FILE_H_
