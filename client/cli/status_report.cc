#include "client/cli/status_report.h"

#include <cinttypes>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rbfs {

std::string ReadableBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit + 1 < static_cast<int>(std::size(kUnits))) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

std::string ReadableDuration(absl::Duration d) {
  if (d < absl::Seconds(1)) {
    return absl::StrCat(absl::ToInt64Milliseconds(d), " ms");
  }
  if (d < absl::Minutes(1)) {
    return absl::StrFormat("%.1f s", absl::ToDoubleSeconds(d));
  }
  const int64_t seconds = absl::ToInt64Seconds(d);
  if (d < absl::Hours(1)) {
    return absl::StrFormat("%dm %02ds", seconds / 60, seconds % 60);
  }
  if (d < absl::Hours(48)) {
    return absl::StrFormat("%dh %02dm", seconds / 3600, seconds / 60 % 60);
  }
  return absl::StrFormat("%dd %02dh", seconds / 86400, seconds / 3600 % 24);
}

std::string FormatStatus(const StatusReply& status, absl::string_view server) {
  std::string out;
  const std::string commits =
      status.commits() == 0
          ? std::string("no commits yet")
          : absl::StrFormat("%d commit%s, %.1f ms each on average",
                            status.commits(), status.commits() == 1 ? "" : "s",
                            status.commit_seconds() * 1000 / status.commits());
  const std::string health =
      status.commit_failure().empty()
          ? std::string("commits ok")
          : absl::StrCat("COMMITS FAILING since: ", status.commit_failure());
  absl::StrAppend(&out, "rbfs-server ", server, ": up ",
                  ReadableDuration(absl::Milliseconds(status.uptime_ms())),
                  ", ", health, " (", commits, ")\n");

  const StatFsReply& usage = status.usage();
  const uint64_t block = usage.block_size();
  const uint64_t used_blocks = usage.total_blocks() - usage.free_blocks();
  const double used_share =
      usage.total_blocks() == 0
          ? 0
          : 100.0 * static_cast<double>(used_blocks) / usage.total_blocks();
  absl::StrAppendFormat(
      &out,
      "volume: %s of %s used (%.1f%%), %s free, %s blocks; "
      "%d of %d inodes used\n",
      ReadableBytes(used_blocks * block),
      ReadableBytes(usage.total_blocks() * block), used_share,
      ReadableBytes(usage.free_blocks() * block), ReadableBytes(block),
      usage.total_inodes() - usage.free_inodes(), usage.total_inodes());

  absl::StrAppend(&out, "sessions: ", status.sessions_size(), " (lease ",
                  ReadableDuration(absl::Milliseconds(status.lease_ms())),
                  ")\n");
  for (const SessionStatus& session : status.sessions()) {
    absl::StrAppendFormat(
        &out, "  %016x  %-24s  %d open file%s  renewed %s ago%s\n",
        session.session(), session.peer().empty() ? "-" : session.peer(),
        session.open_handles(), session.open_handles() == 1 ? "" : "s",
        ReadableDuration(absl::Milliseconds(session.renewed_ms_ago())),
        session.confirmed() ? "" : "  (reclaiming after a restart)");
  }
  return out;
}

}  // namespace rbfs
