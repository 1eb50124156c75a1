// How rbfs-mount secures its connection: TLS credentials and the token.
//
// The mount's security options (tls_ca, tls_cert, tls_key, tls_server_name,
// token_file) become the RpcOptions that every channel and call uses. Files
// are read once, at mount time, and every problem is reported with the file
// and rule involved (never the token itself). A token is refused over
// plaintext to a non-loopback server unless allow_insecure_token is given,
// because anyone on the path could copy it.
#ifndef RBFS_CLIENT_RPC_CHANNEL_SECURITY_H_
#define RBFS_CLIENT_RPC_CHANNEL_SECURITY_H_

#include <string>

#include "absl/status/status.h"
#include "client/rpc/rpc_client.h"

namespace rbfs {

// The mount options that decide how the channel is secured (their meaning is
// in client/fuse/mount_options.h).
struct ChannelSecurityOptions {
  std::string server;  // HOST:PORT, to tell loopback from the network
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
  std::string token_file;
  bool allow_insecure_token = false;
};

// Fills the credentials, token and server name of `rpc` from `options`.
absl::Status ApplyChannelSecurity(const ChannelSecurityOptions& options,
                                  RpcOptions* rpc);

}  // namespace rbfs

#endif  // RBFS_CLIENT_RPC_CHANNEL_SECURITY_H_
