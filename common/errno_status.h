// absl::Status values that carry an exact Linux errno.
//
// Inside rbfs errors are absl::Status; at the wire and FUSE edges they become
// errno values. ErrnoError() attaches the errno as a payload so that the edge
// returns precisely the value the filesystem logic chose (ENOTEMPTY, EXDEV,
// ...), not a lossy mapping of the canonical code.
#ifndef RBFS_COMMON_ERRNO_STATUS_H_
#define RBFS_COMMON_ERRNO_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace rbfs {

// A non-OK status whose canonical code matches `err` and which carries `err`.
absl::Status ErrnoError(int err, absl::string_view message = "");

// The errno a status stands for: its payload if it has one, else a mapping of
// its canonical code; 0 for OK.
int StatusToErrno(const absl::Status& status);

// The errno's symbolic name ("ENOENT"), for logs and metrics; "errno_N"
// for a number Linux does not name.
std::string ErrnoName(int err);

}  // namespace rbfs

#endif  // RBFS_COMMON_ERRNO_STATUS_H_
