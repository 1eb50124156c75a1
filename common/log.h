// One-line log records, shared by the server and the mount: on stderr by
// default, or to syslog (journald keeps them; a daemonised mount's default)
// or appended to a file.
//
// Debian 12's Abseil (20220623) predates absl/log, so rbfs keeps this tiny
// formatter instead; records are "<time> <level> <program>: <message>" on
// stderr and in files; syslog stamps its own time, program and pid.
#ifndef RBFS_COMMON_LOG_H_
#define RBFS_COMMON_LOG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace rbfs {

enum class LogLevel { kInfo, kWarning, kError };

// Names the program in every record; call once from main().
void SetLogProgramName(absl::string_view name);

// Where records go from now on: `where` is "stderr", "syslog" or a file's
// path (opened now, so a relative path is taken from the current
// directory; appended to, created 0644). An error leaves them where they
// went.
absl::Status SetLogDestination(absl::string_view where);

void LogLine(LogLevel level, absl::string_view message);

template <typename... Args>
void LogInfo(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogLine(LogLevel::kInfo, absl::StrFormat(format, args...));
}

template <typename... Args>
void LogWarning(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogLine(LogLevel::kWarning, absl::StrFormat(format, args...));
}

template <typename... Args>
void LogError(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogLine(LogLevel::kError, absl::StrFormat(format, args...));
}

}  // namespace rbfs

#endif  // RBFS_COMMON_LOG_H_
