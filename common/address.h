// Facts about HOST:PORT addresses that both rbfs programs rely on.
#ifndef RBFS_COMMON_ADDRESS_H_
#define RBFS_COMMON_ADDRESS_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace rbfs {

// Whether HOST of HOST:PORT names only this machine (127.0.0.0/8, ::1,
// localhost). Wildcards (0.0.0.0, [::], empty) are not loopback: they
// listen on every interface.
bool IsLoopbackAddress(absl::string_view host_port);

// HOST of HOST:PORT without IPv6 brackets, and PORT; nullopt without a
// colon or with a PORT that is not a number.
struct HostPort {
  std::string host;
  int port = 0;
};
std::optional<HostPort> SplitHostPort(absl::string_view host_port);

}  // namespace rbfs

#endif  // RBFS_COMMON_ADDRESS_H_
