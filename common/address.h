// Facts about HOST:PORT addresses that both rbfs programs rely on.
#ifndef RBFS_COMMON_ADDRESS_H_
#define RBFS_COMMON_ADDRESS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rbfs {

// Whether HOST of HOST:PORT names only this machine (127.0.0.0/8, ::1,
// localhost); for a list (below), whether every one does. Wildcards
// (0.0.0.0, [::], empty) are not loopback: they listen on every interface.
bool IsLoopbackAddress(absl::string_view host_port);

// The addresses of a list "HOST:PORT[,HOST:PORT...]" in order, each
// trimmed, empty ones dropped.
std::vector<std::string> SplitAddressList(absl::string_view list);

// The gRPC channel target of such a list: one address as it is (a DNS name
// may stand for several servers), several as gRPC's "ipv4:" list, whose
// channel uses the first that answers and moves on when it stops.
// InvalidArgument for an empty list, or several that are not all IPv4
// address:port.
absl::StatusOr<std::string> GrpcTargetOf(absl::string_view list);

// HOST of HOST:PORT without IPv6 brackets, and PORT; nullopt without a
// colon or with a PORT that is not a number.
struct HostPort {
  std::string host;
  int port = 0;
};
std::optional<HostPort> SplitHostPort(absl::string_view host_port);

}  // namespace rbfs

#endif  // RBFS_COMMON_ADDRESS_H_
