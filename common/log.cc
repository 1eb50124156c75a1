#include "common/log.h"

#include <unistd.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace rbfs {
namespace {

absl::Mutex program_mu;
std::string* program_name ABSL_GUARDED_BY(program_mu) = nullptr;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "I";
    case LogLevel::kWarning:
      return "W";
    case LogLevel::kError:
      return "E";
  }
  return "?";
}

}  // namespace

void SetLogProgramName(absl::string_view name) {
  absl::MutexLock lock(&program_mu);
  delete program_name;
  program_name = new std::string(name);
}

void LogLine(LogLevel level, absl::string_view message) {
  std::string program;
  {
    absl::MutexLock lock(&program_mu);
    program = program_name ? *program_name : "rbfs";
  }
  std::string line = absl::StrFormat(
      "%s %s %s: %s\n",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3S", absl::Now(), absl::UTCTimeZone()),
      LevelName(level), program, message);
  // One write() per record keeps lines from concurrent threads whole.
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace rbfs
