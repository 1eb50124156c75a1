#include "common/address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace rbfs {
namespace {

absl::string_view HostOf(absl::string_view host_port) {
  const size_t colon = host_port.rfind(':');
  absl::string_view host =
      colon == absl::string_view::npos ? host_port : host_port.substr(0, colon);
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

}  // namespace

std::optional<HostPort> SplitHostPort(absl::string_view host_port) {
  const size_t colon = host_port.rfind(':');
  HostPort split;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(host_port.substr(colon + 1), &split.port)) {
    return std::nullopt;
  }
  split.host = std::string(HostOf(host_port));
  return split;
}

bool IsLoopbackAddress(absl::string_view host_port) {
  if (absl::StrContains(host_port, ',')) {
    const std::vector<std::string> all = SplitAddressList(host_port);
    return !all.empty() &&
           std::all_of(all.begin(), all.end(), [](const std::string& one) {
             return IsLoopbackAddress(one);
           });
  }
  const std::string host = absl::AsciiStrToLower(HostOf(host_port));
  if (host == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

std::vector<std::string> SplitAddressList(absl::string_view list) {
  std::vector<std::string> out;
  for (absl::string_view one : absl::StrSplit(list, ',')) {
    one = absl::StripAsciiWhitespace(one);
    if (!one.empty()) out.emplace_back(one);
  }
  return out;
}

absl::StatusOr<std::string> GrpcTargetOf(absl::string_view list) {
  const std::vector<std::string> all = SplitAddressList(list);
  if (all.empty()) return absl::InvalidArgumentError("no server address");
  if (all.size() == 1) return all[0];
  for (const std::string& one : all) {
    const std::optional<HostPort> split = SplitHostPort(one);
    in_addr v4;
    if (!split.has_value() || split->port <= 0 || split->port > 65535 ||
        inet_pton(AF_INET, split->host.c_str(), &v4) != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          one,
          ": several servers must each be an IPv4 address:port (or give one "
          "DNS name that resolves to all of them)"));
    }
  }
  return absl::StrCat("ipv4:", absl::StrJoin(all, ","));
}

}  // namespace rbfs
