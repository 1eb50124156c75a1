#include "common/log.h"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace rbfs {
namespace {

absl::Mutex program_mu;
std::string* program_name ABSL_GUARDED_BY(program_mu) = nullptr;
// Where records go: an open descriptor (stderr, or a file of ours), or
// syslog when `to_syslog`.
int log_fd ABSL_GUARDED_BY(program_mu) = STDERR_FILENO;
bool to_syslog ABSL_GUARDED_BY(program_mu) = false;

int SyslogPriority(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return LOG_INFO;
    case LogLevel::kWarning:
      return LOG_WARNING;
    case LogLevel::kError:
      return LOG_ERR;
  }
  return LOG_NOTICE;
}

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

absl::Status SetLogDestination(absl::string_view where) {
  int fd = STDERR_FILENO;
  const bool syslog_wanted = where == "syslog";
  if (!syslog_wanted && where != "stderr") {
    fd = open(std::string(where).c_str(),
              O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "cannot open log file %s: %s", where, strerror(errno)));
    }
  }
  absl::MutexLock lock(&program_mu);
  if (log_fd != STDERR_FILENO) close(log_fd);
  log_fd = fd;
  if (syslog_wanted && !to_syslog) {
    // openlog keeps the pointer: the name lives as long as the process.
    static const std::string* const ident =
        new std::string(program_name ? *program_name : "rbfs");
    openlog(ident->c_str(), LOG_PID | LOG_NDELAY, LOG_DAEMON);
  }
  to_syslog = syslog_wanted;
  return absl::OkStatus();
}

void LogLine(LogLevel level, absl::string_view message) {
  const std::string time =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3S", absl::Now(), absl::UTCTimeZone());
  // Under the lock: the destination may change (and its file close).
  absl::MutexLock lock(&program_mu);
  if (to_syslog) {
    syslog(SyslogPriority(level), "%.*s", static_cast<int>(message.size()),
           message.data());
    return;
  }
  const std::string line =
      absl::StrFormat("%s %s %s: %s\n", time, LevelName(level),
                      program_name ? *program_name : "rbfs", message);
  // One write() per record keeps lines from concurrent threads whole.
  ssize_t ignored = write(log_fd, line.data(), line.size());
  (void)ignored;
}

}  // namespace rbfs
