// MountOptions: rbfs's own mount settings, parsed the libfuse way.
//
// rbfs-mount takes `-o` options meant for libfuse and the kernel
// (allow_other, ro, default_permissions, ...) mixed with its own, which one
// table in mount_options.cc lists (their spellings, including the security
// options' --tls-ca F, --token-file F, ..., and their help); the defaults are
// MountOptions' initialisers, and `rbfs-mount --help` shows both.
// ParseMountOptions() removes rbfs's options and the server address from the
// argument vector and leaves everything else, so the rest goes on to
// fuse_parse_cmdline() and fuse_session_new() unchanged.
#ifndef RBFS_CLIENT_FUSE_MOUNT_OPTIONS_H_
#define RBFS_CLIENT_FUSE_MOUNT_OPTIONS_H_

#define FUSE_USE_VERSION 35
#include <fuse3/fuse_lowlevel.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/address.h"
#include "common/wire_limits.h"

namespace rbfs {

struct MountOptions {
  std::string server;  // HOST:PORT
  // Bytes per RPC; 0 picks the default. Rounded up to the server's block size.
  uint32_t chunk_size = 0;
  uint32_t max_inflight = 64;
  // false: direct I/O (cache=none); true: page cache, kept coherent by the
  // server's invalidations, close-to-open when they cannot be trusted.
  bool cache_auto = true;
  // With cache_auto: regular files up to this many bytes opened for
  // reading come whole with their Open reply; 0: never.
  uint32_t open_data = 64 << 10;
  // The kernel's readahead window for buffered reads, in KiB (one
  // full-size READ); 0 leaves the kernel's.
  uint32_t read_ahead_kib = 1024;
  // The kernel's timeouts while the server's change stream is up (every
  // change another mount makes then arrives as an invalidation), and the
  // one for all three while it is not.
  absl::Duration attr_timeout = absl::Seconds(60);
  absl::Duration entry_timeout = absl::Seconds(60);
  absl::Duration negative_timeout = absl::Seconds(60);
  absl::Duration fallback_timeout = absl::Seconds(1);
  absl::Duration deadline = absl::Seconds(30);
  // hard: retry forever through server outages; soft: EIO at the deadline.
  bool hard = false;
  uint32_t channels = 4;
  // true: calls multiplexed on one Exchange stream per channel
  // (transport=stream); false: a unary gRPC call each (transport=unary).
  bool exchange_streams = true;
  // Transport security (docs/security.md). Paths; empty = not used.
  std::string tls_ca;           // verify the server against this CA (TLS)
  std::string tls_cert;         // client certificate, for mutual TLS
  std::string tls_key;          // its private key
  std::string tls_server_name;  // name to expect in the server certificate
  std::string token_file;       // token sent with every call
  bool allow_insecure_token = false;
  // -o log: "syslog", "stderr" or a file's path; empty: stderr in the
  // foreground, syslog once daemonised.
  std::string log;
  // -o metrics: where (a loopback address) the mount serves its
  // Prometheus metrics at /metrics; none when not given.
  std::optional<HostPort> metrics;
  // The mount point as given (it stays in the arguments for libfuse).
  std::string mountpoint;
};

// Largest readahead window -o read_ahead accepts, in KiB (1 GiB).
constexpr uint32_t kMaxReadAheadKib = 1u << 20;

// Largest chunk the server accepts in one Read or Write.
constexpr uint32_t kMaxChunkBytes = kMaxIoBytesPerCall;

// Takes rbfs's options and the first non-option argument (HOST:PORT) out of
// `args`; fails on malformed values.
absl::StatusOr<MountOptions> ParseMountOptions(fuse_args* args);

// The chunk size to use for a server with `block_size`-byte blocks.
uint32_t EffectiveChunkSize(const MountOptions& options, uint32_t block_size);

// Describes rbfs's own options with their defaults, for --help; made from
// the one table of options in mount_options.cc.
const std::string& MountOptionsHelp();

}  // namespace rbfs

#endif  // RBFS_CLIENT_FUSE_MOUNT_OPTIONS_H_
