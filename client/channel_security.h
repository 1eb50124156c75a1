// How rbfs-mount secures its connection: TLS credentials and the token.
//
// The mount's security options (tls_ca, tls_cert, tls_key, tls_server_name,
// token_file) become the RpcOptions that every channel and call uses. Files
// are read once, at mount time, and every problem is reported with the file
// and rule involved (never the token itself). A token is refused over
// plaintext to a non-loopback server unless allow_insecure_token is given,
// because anyone on the path could copy it.
#ifndef RBFS_CLIENT_CHANNEL_SECURITY_H_
#define RBFS_CLIENT_CHANNEL_SECURITY_H_

#include "absl/status/status.h"
#include "client/mount_options.h"
#include "client/rpc_client.h"

namespace rbfs {

// Fills the credentials, token and server name of `rpc` from `options`.
absl::Status ApplyChannelSecurity(const MountOptions& options, RpcOptions* rpc);

}  // namespace rbfs

#endif  // RBFS_CLIENT_CHANNEL_SECURITY_H_
