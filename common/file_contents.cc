#include "common/file_contents.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace rbfs {

absl::StatusOr<std::string> ReadFileContents(const std::string& path) {
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno != 0 ? errno : EIO;
    return ErrnoError(err, absl::StrCat(path, ": ", std::strerror(err)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  return std::move(content).str();
}

}  // namespace rbfs
