// FormatStatus: a server's StatusReply as the few lines `rbfs status`
// prints for an operator: uptime and commit health, the volume's usage,
// then one line per session (where its renewals come from, its open files,
// how long ago it renewed its lease).
#ifndef RBFS_CLIENT_CLI_STATUS_REPORT_H_
#define RBFS_CLIENT_CLI_STATUS_REPORT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "protos/rbfs.pb.h"

namespace rbfs {

// `server`: the address the status came from, as given.
std::string FormatStatus(const StatusReply& status, absl::string_view server);

// 1536 -> "1.5 KiB"; below 1 KiB in bytes.
std::string ReadableBytes(uint64_t bytes);
// "2h 03m", "4m 10s", "12.5 s", "250 ms".
std::string ReadableDuration(absl::Duration d);

}  // namespace rbfs

#endif  // RBFS_CLIENT_CLI_STATUS_REPORT_H_
