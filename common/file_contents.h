// Reading a small file (a token, a PEM certificate, a fault spec) whole.
#ifndef RBFS_COMMON_FILE_CONTENTS_H_
#define RBFS_COMMON_FILE_CONTENTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace rbfs {

// The whole content of `path`; when it cannot be opened, an ErrnoError
// carrying the open's errno (EIO when the stream gives none) and naming
// `path`. Callers that need a regular file check that first (a directory
// opens and reads as empty).
absl::StatusOr<std::string> ReadFileContents(const std::string& path);

}  // namespace rbfs

#endif  // RBFS_COMMON_FILE_CONTENTS_H_
