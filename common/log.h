// One-line log records on stderr, shared by the server and the mount.
//
// Debian 12's Abseil (20220623) predates absl/log, so rbfs keeps this tiny
// formatter instead; records are "<time> <level> <program>: <message>".
#ifndef RBFS_COMMON_LOG_H_
#define RBFS_COMMON_LOG_H_

#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace rbfs {

enum class LogLevel { kInfo, kWarning, kError };

// Names the program in every record; call once from main().
void SetLogProgramName(absl::string_view name);

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
