#include "common/token_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/file_contents.h"
#include "common/log.h"

namespace rbfs {

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    const int err = errno;
    return ErrnoError(
        err, absl::StrCat("token file ", path, ": ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    return ErrnoError(EINVAL,
                      absl::StrCat("token file ", path, " is not a file"));
  }
  if (st.st_size > static_cast<off_t>(2 * kMaxTokenLength)) {
    return ErrnoError(EINVAL, absl::StrCat("token file ", path,
                                           " is too large to hold a token"));
  }
  absl::StatusOr<std::string> content = ReadFileContents(path);
  if (!content.ok()) {
    return ErrnoError(EACCES, absl::StrCat("cannot read token file ", path));
  }
  std::string token(absl::StripAsciiWhitespace(*content));
  if (token.size() < kMinTokenLength || token.size() > kMaxTokenLength) {
    return ErrnoError(
        EINVAL, absl::StrCat("token in ", path, " must be ", kMinTokenLength,
                             " to ", kMaxTokenLength, " characters long"));
  }
  for (char c : token) {
    // gRPC metadata values must be printable ASCII; spaces would make the
    // "Bearer <token>" header ambiguous.
    if (c <= ' ' || c > '~') {
      return ErrnoError(
          EINVAL, absl::StrCat("token in ", path,
                               " may hold only printable ASCII without "
                               "spaces (e.g. from `openssl rand -hex 32`)"));
    }
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    LogWarning("token file %s is readable by group or others (chmod 600 it)",
               path);
  }
  return token;
}

}  // namespace rbfs
