#include "client/fuse/mount_options.h"

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/errno_status.h"

namespace rbfs {
namespace {

// One RPC per kernel request (max_read/max_write are 1 MiB): on the 2-core
// benchmark machine 1 MiB chunks beat 256 KiB by 16-40% for 1 MiB writes and
// 30-45% for reads at depth 16, since the per-call CPU cost, not
// parallelism, is the limit (docs/benchmarks.md).
constexpr uint32_t kDefaultChunkBytes = 1 << 20;

// Plain C fields, because fuse_opt_parse writes through offsets.
struct RawOptions {
  unsigned chunk_size;
  unsigned max_inflight;
  char* cache;
  double attr_timeout;
  double entry_timeout;
  double deadline;
  int hard;
  unsigned channels;
  char* tls_ca;
  char* tls_cert;
  char* tls_key;
  char* tls_server_name;
  char* token_file;
  int allow_insecure_token;
  char* server;
  char* mountpoint;
};

#define RBFS_OPT(templ, field) \
  { templ, offsetof(RawOptions, field), 1 }

const fuse_opt kOptionSpecs[] = {
    RBFS_OPT("chunk_size=%u", chunk_size),
    RBFS_OPT("max_inflight=%u", max_inflight),
    RBFS_OPT("cache=%s", cache),
    RBFS_OPT("attr_timeout=%lf", attr_timeout),
    RBFS_OPT("entry_timeout=%lf", entry_timeout),
    RBFS_OPT("deadline=%lf", deadline),
    RBFS_OPT("channels=%u", channels),
    // Security options also take the --flag spelling that the server uses.
    // fuse_opt reads "--tls-ca F" and "--tls-caF" with one template, so
    // "--tls-ca=F" arrives as "=F" (stripped below).
    RBFS_OPT("tls_ca=%s", tls_ca),
    RBFS_OPT("--tls-ca %s", tls_ca),
    RBFS_OPT("tls_cert=%s", tls_cert),
    RBFS_OPT("--tls-cert %s", tls_cert),
    RBFS_OPT("tls_key=%s", tls_key),
    RBFS_OPT("--tls-key %s", tls_key),
    RBFS_OPT("tls_server_name=%s", tls_server_name),
    RBFS_OPT("--tls-server-name %s", tls_server_name),
    RBFS_OPT("token_file=%s", token_file),
    RBFS_OPT("--token-file %s", token_file),
    RBFS_OPT("allow_insecure_token", allow_insecure_token),
    RBFS_OPT("--allow-insecure-token", allow_insecure_token),
    {"hard", offsetof(RawOptions, hard), 1},
    {"soft", offsetof(RawOptions, hard), 0},
    FUSE_OPT_END,
};

#undef RBFS_OPT

int KeepServerAddress(void* data, const char* arg, int key, fuse_args*) {
  RawOptions* raw = static_cast<RawOptions*>(data);
  if (key == FUSE_OPT_KEY_NONOPT && raw->server == nullptr) {
    raw->server = strdup(arg);
    return 0;
  }
  if (key == FUSE_OPT_KEY_NONOPT && raw->mountpoint == nullptr) {
    raw->mountpoint = strdup(arg);
  }
  return 1;
}

}  // namespace

absl::StatusOr<MountOptions> ParseMountOptions(fuse_args* args) {
  MountOptions options;
  RawOptions raw = {};
  raw.max_inflight = options.max_inflight;
  raw.attr_timeout = absl::ToDoubleSeconds(options.attr_timeout);
  raw.entry_timeout = absl::ToDoubleSeconds(options.entry_timeout);
  raw.deadline = absl::ToDoubleSeconds(options.deadline);
  raw.channels = options.channels;
  const int parsed =
      fuse_opt_parse(args, &raw, kOptionSpecs, KeepServerAddress);
  std::string cache = raw.cache ? raw.cache : "none";
  if (raw.server) options.server = raw.server;
  for (auto [from, to] : {std::pair{raw.tls_ca, &options.tls_ca},
                          {raw.tls_cert, &options.tls_cert},
                          {raw.tls_key, &options.tls_key},
                          {raw.tls_server_name, &options.tls_server_name},
                          {raw.token_file, &options.token_file}}) {
    if (from != nullptr) *to = std::string(absl::StripPrefix(from, "="));
    free(from);
  }
  options.allow_insecure_token = raw.allow_insecure_token != 0;
  if (raw.mountpoint) options.mountpoint = raw.mountpoint;
  free(raw.cache);
  free(raw.server);
  free(raw.mountpoint);
  if (parsed != 0) return ErrnoError(EINVAL, "cannot parse options");
  if (cache == "auto") {
    options.cache_auto = true;
  } else if (cache != "none") {
    return ErrnoError(EINVAL,
                      absl::StrCat("cache must be none or auto, not ", cache));
  }
  if (raw.chunk_size > kMaxChunkBytes) {
    return ErrnoError(EINVAL, "chunk_size is limited to 4 MiB");
  }
  if (raw.max_inflight == 0 || raw.channels == 0) {
    return ErrnoError(EINVAL, "max_inflight and channels must be positive");
  }
  if (!(raw.deadline > 0) || raw.attr_timeout < 0 || raw.entry_timeout < 0) {
    return ErrnoError(EINVAL, "deadline must be positive, timeouts >= 0");
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return ErrnoError(EINVAL, "tls_cert and tls_key go together");
  }
  if (!options.tls_cert.empty() && options.tls_ca.empty()) {
    return ErrnoError(EINVAL, "tls_cert (mutual TLS) needs tls_ca");
  }
  options.chunk_size = raw.chunk_size;
  options.max_inflight = raw.max_inflight;
  options.channels = raw.channels;
  options.attr_timeout = absl::Seconds(raw.attr_timeout);
  options.entry_timeout = absl::Seconds(raw.entry_timeout);
  options.deadline = absl::Seconds(raw.deadline);
  options.hard = raw.hard != 0;
  return options;
}

uint32_t EffectiveChunkSize(const MountOptions& options, uint32_t block_size) {
  const uint32_t wanted =
      options.chunk_size ? options.chunk_size : kDefaultChunkBytes;
  if (block_size == 0 || block_size > kMaxChunkBytes) return wanted;
  // Whole blocks per chunk, so no two chunks ever touch the same block.
  const uint32_t blocks = (wanted + block_size - 1) / block_size;
  const uint32_t chunk = blocks * block_size;
  return chunk > kMaxChunkBytes ? (kMaxChunkBytes / block_size) * block_size
                                : chunk;
}

const char* MountOptionsHelp() {
  return R"(rbfs options:
    -o chunk_size=BYTES    bytes per read/write RPC, rounded up to whole
                           server blocks (default 1048576, at most 4194304)
    -o max_inflight=N      chunk RPCs in flight per mount; more queue
                           (default 64)
    -o cache=none|auto     none: direct I/O, every read and write goes to
                           the server (default); auto: page cache with
                           close-to-open consistency (executables, shared
                           mmap, small files)
    -o attr_timeout=SECS   how long the kernel caches attributes (default 1)
    -o entry_timeout=SECS  how long the kernel caches names (default 1)
    -o deadline=SECS       soft mounts: longest time one operation may take
                           while the server is away, retries included; then
                           it fails with EIO (default 30). hard mounts: the
                           bound of one attempt
    -o soft                (default) operations fail with EIO once the
                           server has been unreachable for `deadline`
    -o hard                operations wait for the server however long it
                           is away, retrying, as an NFS hard mount (the
                           waiting process cannot be interrupted)
    -o channels=N          gRPC connections to the server (default 4)

rbfs security options (also --tls-ca F, --token-file F, ...; see
docs/security.md):
    -o tls_ca=FILE         connect with TLS; trust server certificates
                           signed by this PEM CA (default: plaintext, which
                           the server allows on loopback only)
    -o tls_cert=FILE       client certificate for mutual TLS (with tls_key)
    -o tls_key=FILE        private key of tls_cert
    -o tls_server_name=N   name the server certificate must carry, when it
                           differs from HOST (e.g. connecting by IP)
    -o token_file=FILE     send the token in FILE with every call; refused
                           over plaintext to a non-loopback server
    -o allow_insecure_token
                           send the token over plaintext anyway
)";
}

}  // namespace rbfs
