#include "client/fuse/mount_options.h"

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/strings/substitute.h"
#include "client/core/io_size.h"
#include "common/address.h"
#include "common/errno_status.h"

namespace rbfs {
namespace {

// One RPC per kernel request: on the 2-core benchmark machine 1 MiB chunks
// beat 256 KiB by 16-40% for 1 MiB writes and 30-45% for reads at depth 16,
// since the per-call CPU cost, not parallelism, is the limit
// (docs/benchmarks.md).
constexpr uint32_t kDefaultChunkBytes = kMaxRequestBytes;

// Plain C fields, because fuse_opt_parse writes through offsets.
struct RawOptions {
  unsigned chunk_size;
  unsigned max_inflight;
  unsigned open_data;
  unsigned read_ahead;
  char* cache;
  char* transport;
  char* log;
  char* metrics;
  double attr_timeout;
  double entry_timeout;
  double negative_timeout;
  double fallback_timeout;
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

enum class Section { kGeneral, kSecurity };

// One rbfs option: how fuse_opt reads it, and what --help says of it. The
// default shown comes from MountOptions' own initialisers.
struct OptionRow {
  Section section;
  // The -o template, and the --flag template of the security options (which
  // the server spells the same way) or null. fuse_opt reads "--tls-ca F"
  // and "--tls-caF" with one template, so "--tls-ca=F" arrives as "=F"
  // (stripped when parsed).
  const char* templ;
  const char* flag_templ;
  // Where fuse_opt stores the value, and the value of a plain flag.
  size_t offset;
  int value;
  // As --help shows it; "$0" in `help` stands for kMaxChunkBytes, "$1" for
  // kMaxOpenDataBytes.
  const char* usage;
  const char* help;
  // The default value, as --help shows it; null if the help says it in
  // words or the option is a plain flag.
  std::string (*default_text)(const MountOptions& defaults);
  // For a plain flag: whether it is what a mount does by default.
  bool (*is_default)(const MountOptions& defaults) = nullptr;
};

#define RBFS_FIELD(field) offsetof(RawOptions, field)

const OptionRow kOptionRows[] = {
    {Section::kGeneral, "chunk_size=%u", nullptr, RBFS_FIELD(chunk_size), 1,
     "-o chunk_size=BYTES",
     "bytes per read/write RPC, rounded up to whole server blocks, at most "
     "$0",
     [](const MountOptions& d) {
       return absl::StrCat(d.chunk_size ? d.chunk_size : kDefaultChunkBytes);
     }},
    {Section::kGeneral, "max_inflight=%u", nullptr, RBFS_FIELD(max_inflight), 1,
     "-o max_inflight=N", "chunk RPCs in flight per mount; more queue",
     [](const MountOptions& d) { return absl::StrCat(d.max_inflight); }},
    {Section::kGeneral, "cache=%s", nullptr, RBFS_FIELD(cache), 1,
     "-o cache=none|auto",
     "auto: the page cache (readahead, shared mmap, executables), kept "
     "coherent with other mounts by the server's invalidations; O_DIRECT "
     "opens still go straight to the server. none: direct I/O for every "
     "open",
     [](const MountOptions& d) {
       return std::string(d.cache_auto ? "auto" : "none");
     }},
    {Section::kGeneral, "open_data=%u", nullptr, RBFS_FIELD(open_data), 1,
     "-o open_data=BYTES",
     "cache=auto: a file of at most this size opened for reading comes whole "
     "with the open's reply, so its reads need no round trip each (0: "
     "never; at most $1)",
     [](const MountOptions& d) { return absl::StrCat(d.open_data); }},
    {Section::kGeneral, "read_ahead=%u", nullptr, RBFS_FIELD(read_ahead), 1,
     "-o read_ahead=KIB",
     "the kernel's readahead window for buffered reads (Linux gives FUSE "
     "mounts 128 KiB); setting it needs root, else the kernel's stays "
     "(0: leave it)",
     [](const MountOptions& d) { return absl::StrCat(d.read_ahead_kib); }},
    {Section::kGeneral, "attr_timeout=%lf", nullptr, RBFS_FIELD(attr_timeout),
     1, "-o attr_timeout=SECS",
     "how long the kernel caches attributes while the server's change "
     "stream is up",
     [](const MountOptions& d) {
       return absl::StrCat(absl::ToDoubleSeconds(d.attr_timeout));
     }},
    {Section::kGeneral, "entry_timeout=%lf", nullptr, RBFS_FIELD(entry_timeout),
     1, "-o entry_timeout=SECS",
     "how long the kernel caches names while the change stream is up",
     [](const MountOptions& d) {
       return absl::StrCat(absl::ToDoubleSeconds(d.entry_timeout));
     }},
    {Section::kGeneral, "negative_timeout=%lf", nullptr,
     RBFS_FIELD(negative_timeout), 1, "-o negative_timeout=SECS",
     "how long the kernel caches that a name does not exist, while the "
     "change stream is up (0: not at all)",
     [](const MountOptions& d) {
       return absl::StrCat(absl::ToDoubleSeconds(d.negative_timeout));
     }},
    {Section::kGeneral, "fallback_timeout=%lf", nullptr,
     RBFS_FIELD(fallback_timeout), 1, "-o fallback_timeout=SECS",
     "all three timeouts while the change stream is down or not yet up: "
     "with the 1 s the stream may stay silent, the most another mount's "
     "change can stay unseen",
     [](const MountOptions& d) {
       return absl::StrCat(absl::ToDoubleSeconds(d.fallback_timeout));
     }},
    {Section::kGeneral, "deadline=%lf", nullptr, RBFS_FIELD(deadline), 1,
     "-o deadline=SECS",
     "soft mounts: longest time one operation may take while the server is "
     "away, retries included; then it fails with EIO. hard mounts: the bound "
     "of one attempt",
     [](const MountOptions& d) {
       return absl::StrCat(absl::ToDoubleSeconds(d.deadline));
     }},
    {Section::kGeneral, "soft", nullptr, RBFS_FIELD(hard), 0, "-o soft",
     "operations fail with EIO once the server has been unreachable for "
     "`deadline`",
     nullptr, [](const MountOptions& d) { return !d.hard; }},
    {Section::kGeneral, "hard", nullptr, RBFS_FIELD(hard), 1, "-o hard",
     "operations wait for the server however long it is away, retrying, as "
     "an NFS hard mount (the waiting process cannot be interrupted)",
     nullptr, [](const MountOptions& d) { return d.hard; }},
    {Section::kGeneral, "channels=%u", nullptr, RBFS_FIELD(channels), 1,
     "-o channels=N", "gRPC connections to the server",
     [](const MountOptions& d) { return absl::StrCat(d.channels); }},
    {Section::kGeneral, "transport=%s", nullptr, RBFS_FIELD(transport), 1,
     "-o transport=stream|unary",
     "stream: calls (all but fsync and statfs) multiplexed on one "
     "long-lived stream per channel, batched under load; unary: one gRPC "
     "call each (for servers older than the Exchange stream)",
     [](const MountOptions& d) {
       return std::string(d.exchange_streams ? "stream" : "unary");
     }},
    {Section::kGeneral, "log=%s", nullptr, RBFS_FIELD(log), 1,
     "-o log=syslog|stderr|FILE",
     "where the mount logs: syslog (journald keeps it), stderr, or appended "
     "to FILE (default: stderr in the foreground, syslog once daemonised)",
     nullptr},
    {Section::kGeneral, "metrics=%s", nullptr, RBFS_FIELD(metrics), 1,
     "-o metrics=HOST:PORT",
     "serve the mount's Prometheus metrics at http://HOST:PORT/metrics; "
     "plain HTTP without a token, so HOST must be a loopback address; "
     "PORT 0 picks a free one, which the log names (default: none)",
     nullptr},
    {Section::kSecurity, "tls_ca=%s", "--tls-ca %s", RBFS_FIELD(tls_ca), 1,
     "-o tls_ca=FILE",
     "connect with TLS; trust server certificates signed by this PEM CA "
     "(default: plaintext, which the server allows on loopback only)",
     nullptr},
    {Section::kSecurity, "tls_cert=%s", "--tls-cert %s", RBFS_FIELD(tls_cert),
     1, "-o tls_cert=FILE", "client certificate for mutual TLS (with tls_key)",
     nullptr},
    {Section::kSecurity, "tls_key=%s", "--tls-key %s", RBFS_FIELD(tls_key), 1,
     "-o tls_key=FILE", "private key of tls_cert", nullptr},
    {Section::kSecurity, "tls_server_name=%s", "--tls-server-name %s",
     RBFS_FIELD(tls_server_name), 1, "-o tls_server_name=N",
     "name the server certificate must carry, when it differs from HOST "
     "(e.g. connecting by IP)",
     nullptr},
    {Section::kSecurity, "token_file=%s", "--token-file %s",
     RBFS_FIELD(token_file), 1, "-o token_file=FILE",
     "send the token in FILE with every call; refused over plaintext to a "
     "non-loopback server",
     nullptr},
    {Section::kSecurity, "allow_insecure_token", "--allow-insecure-token",
     RBFS_FIELD(allow_insecure_token), 1, "-o allow_insecure_token",
     "send the token over plaintext anyway", nullptr},
};

#undef RBFS_FIELD

// The fuse_opt table made from kOptionRows.
const fuse_opt* OptionSpecs() {
  static const std::vector<fuse_opt>* const specs = [] {
    auto* specs = new std::vector<fuse_opt>;
    for (const OptionRow& row : kOptionRows) {
      specs->push_back(
          {row.templ, static_cast<unsigned long>(row.offset), row.value});
      if (row.flag_templ != nullptr) {
        specs->push_back({row.flag_templ,
                          static_cast<unsigned long>(row.offset), row.value});
      }
    }
    specs->push_back(FUSE_OPT_END);
    return specs;
  }();
  return specs->data();
}

// Appends `usage` and `text`, wrapped, as one entry of the help.
void AppendHelpEntry(const std::string& usage, const std::string& text,
                     std::string* out) {
  constexpr size_t kIndent = 4;
  constexpr size_t kTextColumn = 27;
  constexpr size_t kWidth = 76;
  std::string line = std::string(kIndent, ' ') + usage;
  if (line.size() + 1 > kTextColumn) {
    absl::StrAppend(out, line, "\n");
    line.clear();
  }
  line.resize(kTextColumn, ' ');
  bool line_empty = true;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (!line_empty && line.size() + 1 + word.size() > kWidth) {
      absl::StrAppend(out, line, "\n");
      line.assign(kTextColumn, ' ');
      line_empty = true;
    }
    if (!line_empty) line += ' ';
    absl::StrAppend(&line, word);
    line_empty = false;
  }
  absl::StrAppend(out, line, "\n");
}

std::string BuildHelp() {
  const MountOptions defaults;
  std::string help = "rbfs options:\n";
  bool security_started = false;
  for (const OptionRow& row : kOptionRows) {
    if (row.section == Section::kSecurity && !security_started) {
      security_started = true;
      absl::StrAppend(&help,
                      "\nrbfs security options (also --tls-ca F, "
                      "--token-file F, ...; see\ndocs/security.md):\n");
    }
    std::string text =
        absl::Substitute(row.help, kMaxChunkBytes, kMaxOpenDataBytes);
    if (row.default_text != nullptr) {
      absl::StrAppend(&text, " (default ", row.default_text(defaults), ")");
    }
    if (row.is_default != nullptr && row.is_default(defaults)) {
      text = absl::StrCat("(default) ", text);
    }
    AppendHelpEntry(row.usage, text, &help);
  }
  return help;
}

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
  raw.open_data = options.open_data;
  raw.read_ahead = options.read_ahead_kib;
  raw.attr_timeout = absl::ToDoubleSeconds(options.attr_timeout);
  raw.entry_timeout = absl::ToDoubleSeconds(options.entry_timeout);
  raw.negative_timeout = absl::ToDoubleSeconds(options.negative_timeout);
  raw.fallback_timeout = absl::ToDoubleSeconds(options.fallback_timeout);
  raw.deadline = absl::ToDoubleSeconds(options.deadline);
  raw.channels = options.channels;
  const int parsed =
      fuse_opt_parse(args, &raw, OptionSpecs(), KeepServerAddress);
  const std::string cache =
      raw.cache ? raw.cache : (options.cache_auto ? "auto" : "none");
  const std::string transport =
      raw.transport ? raw.transport
                    : (options.exchange_streams ? "stream" : "unary");
  if (raw.server) options.server = raw.server;
  std::string metrics;
  for (auto [from, to] : {std::pair{raw.tls_ca, &options.tls_ca},
                          {raw.tls_cert, &options.tls_cert},
                          {raw.tls_key, &options.tls_key},
                          {raw.tls_server_name, &options.tls_server_name},
                          {raw.token_file, &options.token_file},
                          {raw.log, &options.log},
                          {raw.metrics, &metrics}}) {
    if (from != nullptr) *to = std::string(absl::StripPrefix(from, "="));
    free(from);
  }
  options.allow_insecure_token = raw.allow_insecure_token != 0;
  if (raw.mountpoint) options.mountpoint = raw.mountpoint;
  free(raw.cache);
  free(raw.transport);
  free(raw.server);
  free(raw.mountpoint);
  if (parsed != 0) return ErrnoError(EINVAL, "cannot parse options");
  if (cache != "auto" && cache != "none") {
    return ErrnoError(EINVAL,
                      absl::StrCat("cache must be none or auto, not ", cache));
  }
  options.cache_auto = cache == "auto";
  if (transport != "stream" && transport != "unary") {
    return ErrnoError(EINVAL, absl::StrCat("transport must be stream or unary, "
                                           "not ",
                                           transport));
  }
  options.exchange_streams = transport == "stream";
  if (raw.chunk_size > kMaxChunkBytes) {
    return ErrnoError(EINVAL, absl::StrCat("chunk_size is limited to ",
                                           kMaxChunkBytes >> 20, " MiB"));
  }
  if (raw.open_data > kMaxOpenDataBytes) {
    return ErrnoError(EINVAL, absl::StrCat("open_data is limited to ",
                                           kMaxOpenDataBytes >> 20, " MiB"));
  }
  if (raw.read_ahead > kMaxReadAheadKib) {
    return ErrnoError(EINVAL, absl::StrCat("read_ahead is limited to ",
                                           kMaxReadAheadKib, " KiB"));
  }
  if (raw.max_inflight == 0 || raw.channels == 0) {
    return ErrnoError(EINVAL, "max_inflight and channels must be positive");
  }
  if (!(raw.deadline > 0) || raw.attr_timeout < 0 || raw.entry_timeout < 0 ||
      raw.negative_timeout < 0 || raw.fallback_timeout < 0) {
    return ErrnoError(EINVAL, "deadline must be positive, timeouts >= 0");
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return ErrnoError(EINVAL, "tls_cert and tls_key go together");
  }
  if (!options.tls_cert.empty() && options.tls_ca.empty()) {
    return ErrnoError(EINVAL, "tls_cert (mutual TLS) needs tls_ca");
  }
  if (!metrics.empty()) {
    options.metrics = SplitHostPort(metrics);
    if (!options.metrics.has_value()) {
      return ErrnoError(
          EINVAL, absl::StrCat("metrics=", metrics, ": expected HOST:PORT"));
    }
    if (!IsLoopbackAddress(metrics)) {
      return ErrnoError(
          EINVAL, absl::StrCat("metrics=", metrics,
                               " is not a loopback address: the metrics are "
                               "served without TLS or token"));
    }
  }
  options.chunk_size = raw.chunk_size;
  options.max_inflight = raw.max_inflight;
  options.open_data = raw.open_data;
  options.read_ahead_kib = raw.read_ahead;
  options.channels = raw.channels;
  options.attr_timeout = absl::Seconds(raw.attr_timeout);
  options.entry_timeout = absl::Seconds(raw.entry_timeout);
  options.negative_timeout = absl::Seconds(raw.negative_timeout);
  options.fallback_timeout = absl::Seconds(raw.fallback_timeout);
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

const std::string& MountOptionsHelp() {
  static const std::string* const help = new std::string(BuildHelp());
  return *help;
}

}  // namespace rbfs
