// rbfs-mount: mounts an rbfs-server volume through FUSE.
//
//   rbfs-mount [options] HOST:PORT MOUNTPOINT
//
// The process forks before it creates any gRPC state (gRPC does not survive a
// fork); the parent waits until the child has mounted and then exits 0, so
// `mount` and shell scripts see the file system ready when the command
// returns. SIGTERM, SIGINT and `fusermount3 -u` end the session; in-flight
// reads and writes are answered before the session is torn down. A mount
// point left behind by a killed rbfs-mount ("Transport endpoint is not
// connected") is detached before mounting on it again.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#define FUSE_USE_VERSION 35
#include <fuse3/fuse_lowlevel.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "client/core/io_size.h"
#include "client/core/mount_core.h"
#include "client/core/mount_metrics.h"
#include "client/fuse/connection_end_watch.h"
#include "client/fuse/fuse_ops.h"
#include "client/fuse/mount_options.h"
#include "client/rpc/channel_security.h"
#include "client/rpc/client_session.h"
#include "client/rpc/rpc_client.h"
#include "client/rpc/watch_stream.h"
#include "common/address.h"
#include "common/errno_status.h"
#include "common/log.h"
#include "common/malloc_tuning.h"
#include "common/metrics/metrics.h"
#include "common/metrics/metrics_http_server.h"
#include "protos/rbfs.pb.h"

namespace rbfs {
namespace {

constexpr unsigned kDefaultIdleThreads = 16;

constexpr char kUsage[] =
    "usage: %s [options] HOST:PORT[,HOST:PORT...] MOUNTPOINT\n\n"
    "Several servers of one volume (metadata in etcd): the mount uses the "
    "first\nthat answers and moves to another when it stops.\n\n";

constexpr char kMountHelp[] = R"(
    -o ro                  read-only mount
    -o default_permissions the kernel checks permissions from the
                           attributes (always on: the server does not)
    -o nosuid,nodev,noexec the usual mount(8) restrictions
    -o fsname=NAME         source shown in mount(8) (default HOST:PORT)

mount(8) and /etc/fstab (after client/fuse/install.sh):
    mount -t fuse.rbfs HOST:PORT /mnt/x -o allow_other
    HOST:PORT  /mnt/x  fuse.rbfs  _netdev,allow_other,cache=auto  0  0
)";

void PrintHelp(const char* program) {
  printf(kUsage, program);
  printf("general options:\n");
  fuse_cmdline_help();
  printf("\n%s\nFUSE options:\n", MountOptionsHelp().c_str());
  fflush(stdout);
  fuse_lowlevel_help();
  printf("%s", kMountHelp);
}

// True if some -o option already starts with `name`.
bool HasOption(const fuse_args& args, const char* name) {
  for (int i = 1; i < args.argc; ++i) {
    if (absl::StrContains(args.argv[i], name)) return true;
  }
  return false;
}

// The kernel keeps the mount of an rbfs-mount that died (SIGKILL, crash)
// and fails every access to it with ENOTCONN, so nothing can be mounted
// there. Detaches such a dead mount, lazily as `fusermount3 -u -z` does;
// false if one is there and stays.
bool DetachDeadMount(const std::string& dir) {
  struct stat st;
  if (dir.empty() || stat(dir.c_str(), &st) == 0 || errno != ENOTCONN) {
    return true;
  }
  LogWarning("%s: left mounted by a dead rbfs-mount; detaching it", dir);
  const char* argv[] = {"fusermount3", "-u", "-z", dir.c_str(), nullptr};
  pid_t pid;
  if (posix_spawnp(&pid, "fusermount3", nullptr, nullptr,
                   const_cast<char* const*>(argv), environ) != 0) {
    LogError("cannot run fusermount3: %s", strerror(errno));
    return false;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return stat(dir.c_str(), &st) == 0;
}

// libfuse's handlers for SIGTERM, SIGINT and SIGHUP mark the session ended,
// which the loop only notices when the signal interrupts one of its own
// waits; a signal the kernel hands to a gRPC or watch thread instead leaves
// the loop asleep until the next FUSE request (seen: SIGTERM ignored for
// 30 s). These handlers call libfuse's and pass the signal on to the loop's
// thread. Set once, before the loop; the loop's thread never changes.
struct SignalForwarding {
  pthread_t loop_thread;
  // libfuse's handler of each signal forwarded, by signal number.
  void (*fuse_handler[NSIG])(int);
};
SignalForwarding signal_forwarding;

void ForwardSessionSignal(int sig) {
  signal_forwarding.fuse_handler[sig](sig);
  // From the loop's thread too, so that its wait returns (EINTR).
  if (!pthread_equal(pthread_self(), signal_forwarding.loop_thread)) {
    pthread_kill(signal_forwarding.loop_thread, sig);
  }
}

// After fuse_set_signal_handlers, from the thread that runs the loop. A
// signal libfuse left alone (ignored when rbfs-mount started, as under
// nohup) stays as it was.
bool ForwardSessionSignalsToThisThread() {
  signal_forwarding.loop_thread = pthread_self();
  for (const int sig : {SIGTERM, SIGINT, SIGHUP}) {
    struct sigaction fuse;
    if (sigaction(sig, nullptr, &fuse) != 0) return false;
    if ((fuse.sa_flags & SA_SIGINFO) != 0 || fuse.sa_handler == SIG_DFL ||
        fuse.sa_handler == SIG_IGN) {
      continue;
    }
    signal_forwarding.fuse_handler[sig] = fuse.sa_handler;
    struct sigaction forward = fuse;
    forward.sa_handler = ForwardSessionSignal;
    if (sigaction(sig, &forward, nullptr) != 0) return false;
  }
  return true;
}

// Forks. The parent exits once the child reports (0 = mounted) or dies; the
// child gets the descriptor to report on.
int ForkDaemon() {
  int fds[2];
  if (pipe(fds) != 0) {
    perror("pipe");
    exit(1);
  }
  const pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(1);
  }
  if (pid > 0) {
    close(fds[1]);
    char verdict = 1;
    const ssize_t n = read(fds[0], &verdict, 1);
    _exit(n == 1 && verdict == 0 ? 0 : 1);
  }
  close(fds[0]);
  setsid();
  return fds[1];
}

// Tells the waiting parent the mount is up and detaches from the terminal.
void FinishDaemon(int report_fd) {
  const char ok = 0;
  ssize_t ignored = write(report_fd, &ok, 1);
  (void)ignored;
  close(report_fd);
  if (chdir("/") != 0) perror("chdir");
  const int null_fd = open("/dev/null", O_RDWR);
  if (null_fd >= 0) {
    dup2(null_fd, STDIN_FILENO);
    dup2(null_fd, STDOUT_FILENO);
    dup2(null_fd, STDERR_FILENO);
    if (null_fd > STDERR_FILENO) close(null_fd);
  }
}

int Run(int argc, char** argv) {
  SetLogProgramName("rbfs-mount");
  TuneMallocForLargeBuffers();
  // Debian's Abseil is built with deadlock detection on, which costs a
  // graph update on every lock of the data path.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  fuse_args args = FUSE_ARGS_INIT(argc, argv);
  absl::Cleanup free_args = [&args] { fuse_opt_free_args(&args); };
  absl::StatusOr<MountOptions> options = ParseMountOptions(&args);
  if (!options.ok()) {
    fprintf(stderr, "rbfs-mount: %s\n", options.status().ToString().c_str());
    return 2;
  }
  if (!HasOption(args, "subtype=")) fuse_opt_add_arg(&args, "-osubtype=rbfs");
  if (!HasOption(args, "fsname=") && !options->server.empty()) {
    // A list of servers keeps its commas: libfuse splits options at
    // unescaped ones.
    fuse_opt_add_arg(
        &args, absl::StrCat("-ofsname=", absl::StrReplaceAll(options->server,
                                                             {{",", "\\,"}}))
                   .c_str());
  }
  // The server does not check permissions: the kernel enforces mode bits
  // for every caller, as on a local filesystem.
  if (!HasOption(args, "default_permissions")) {
    fuse_opt_add_arg(&args, "-odefault_permissions");
  }
  // The kernel caps direct reads at max_read; libfuse wants it both here and
  // in the init reply.
  fuse_opt_add_arg(&args,
                   absl::StrCat("-omax_read=", kMaxRequestBytes).c_str());
  // Before fuse_parse_cmdline, which cannot resolve a dead mount's path.
  if (!DetachDeadMount(options->mountpoint)) {
    fprintf(stderr, "rbfs-mount: %s is a dead mount; run fusermount3 -u -z\n",
            options->mountpoint.c_str());
    return 1;
  }

  fuse_cmdline_opts cmdline;
  memset(&cmdline, 0, sizeof(cmdline));
  if (fuse_parse_cmdline(&args, &cmdline) != 0) return 2;
  absl::Cleanup free_mountpoint = [&cmdline] { free(cmdline.mountpoint); };
  if (cmdline.show_help) {
    PrintHelp(argv[0]);
    return 0;
  }
  if (cmdline.show_version) {
    printf("rbfs-mount\n");
    fuse_lowlevel_version();
    return 0;
  }
  if (options->server.empty() || cmdline.mountpoint == nullptr) {
    fprintf(stderr, kUsage, argv[0]);
    fprintf(stderr, "see '%s --help'\n", argv[0]);
    return 2;
  }

  // HOST:PORT, or several for a mount that moves between servers.
  absl::StatusOr<std::string> target = GrpcTargetOf(options->server);
  if (!target.ok()) {
    fprintf(stderr, "rbfs-mount: %s\n",
            std::string(target.status().message()).c_str());
    return 2;
  }
  // A log file is opened here, before the daemon leaves the directory a
  // relative path names.
  if (!options->log.empty()) {
    if (absl::Status set = SetLogDestination(options->log); !set.ok()) {
      fprintf(stderr, "rbfs-mount: %s\n", std::string(set.message()).c_str());
      return 2;
    }
  }
  const int report_fd = cmdline.foreground ? -1 : ForkDaemon();

  RpcOptions rpc_options;
  rpc_options.target = *std::move(target);
  rpc_options.channels = static_cast<int>(options->channels);
  rpc_options.exchange_streams = options->exchange_streams;
  rpc_options.deadline = options->deadline;
  ChannelSecurityOptions security;
  security.server = options->server;
  security.tls_ca = options->tls_ca;
  security.tls_cert = options->tls_cert;
  security.tls_key = options->tls_key;
  security.tls_server_name = options->tls_server_name;
  security.token_file = options->token_file;
  security.allow_insecure_token = options->allow_insecure_token;
  if (absl::Status secured = ApplyChannelSecurity(security, &rpc_options);
      !secured.ok()) {
    LogError("%s", secured.message());
    return 2;
  }
  rpc_options.hard = options->hard;
  // Deliberately never destroyed: the process ends right after the session,
  // and gRPC 1.51 may crash when channels are torn down while the callback
  // threads of their last calls are still unwinding. Held by a static so it
  // stays reachable and LeakSanitizer does not report it.
  static RpcClient* const rpc_client = new RpcClient(rpc_options);
  RpcClient& rpc = *rpc_client;

  StatFsReply statfs;
  if (absl::Status status = rpc.Handshake(&statfs); !status.ok()) {
    LogError("cannot mount rbfs-server at %s: %s (%s)", options->server,
             status.message(), strerror(StatusToErrno(status)));
    return 1;
  }
  const uint32_t chunk_size = EffectiveChunkSize(*options, statfs.block_size());
  // Destroyed after the session loop: it renews the lease until then.
  ClientSession client_session(&rpc);
  client_session.Start();
  MountCore::Options core_options;
  core_options.chunk_size = chunk_size;
  core_options.max_inflight = options->max_inflight;
  // With direct I/O every read goes to the server, as cache=none promises.
  core_options.open_data_up_to = options->cache_auto ? options->open_data : 0;
  core_options.cache.entry_timeout = options->entry_timeout;
  core_options.cache.attr_timeout = options->attr_timeout;
  core_options.cache.negative_timeout = options->negative_timeout;
  core_options.cache.fallback_timeout = options->fallback_timeout;
  MountCore core(core_options, &rpc, &client_session);
  FuseOps ops(*options, &core, cmdline.mountpoint);

  fuse_session* session = fuse_session_new(&args, &FuseOps::Operations(),
                                           sizeof(fuse_lowlevel_ops), &ops);
  if (session == nullptr) return 1;
  absl::Cleanup destroy_session = [session] { fuse_session_destroy(session); };
  ops.set_session(session);
  ops.set_server_keeps_acls(statfs.keeps_acls());
  if (fuse_set_signal_handlers(session) != 0) return 1;
  if (!ForwardSessionSignalsToThisThread()) {
    LogError("cannot install the signal handlers: %s", strerror(errno));
    return 1;
  }
  absl::Cleanup remove_handlers = [session] {
    fuse_remove_signal_handlers(session);
  };
  // Started once mounted (below): before the loop serves a request, so
  // every inode the kernel gets is held on the stream from the start.
  // Stopped before the session goes away, since it notifies the kernel
  // through it.
  WatchStream watch(&rpc, client_session.id(), &core.coherence(),
                    WatchStream::Options());
  // Served before the mount, so that a port already taken fails the mount
  // instead of leaving it half made; the server goes first.
  MetricsRegistry metrics;
  std::unique_ptr<MetricsHttpServer> metrics_server;
  if (const std::optional<HostPort>& at = options->metrics; at.has_value()) {
    ops.metrics().Export(&metrics);
    ExportMountMetrics(&metrics, &core, &rpc, &client_session, &watch);
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> started =
        MetricsHttpServer::Start(at->host, at->port, &metrics);
    if (!started.ok()) {
      LogError("-o metrics: %s", started.status().message());
      return 1;
    }
    metrics_server = *std::move(started);
  }
  if (fuse_session_mount(session, cmdline.mountpoint) != 0) return 1;
  core.coherence().Connect(&ops, &watch);
  watch.Start();
  absl::Cleanup stop_watch = [&watch] { watch.Stop(); };
  if (report_fd >= 0) {
    FinishDaemon(report_fd);
    // Its stderr is /dev/null now.
    if (options->log.empty()) SetLogDestination("syslog").IgnoreError();
  }
  // Logged where the daemon logs from now on (syslog by default), so that
  // the journal names the mount's session and metrics endpoint.
  if (metrics_server != nullptr) {
    LogInfo("metrics on http://%s:%d/metrics", options->metrics->host,
            metrics_server->port());
  }
  LogInfo("mounted %s on %s (block %d, chunk %d, %s, %s, session %016x)",
          options->server, cmdline.mountpoint, statfs.block_size(), chunk_size,
          options->cache_auto ? "cache=auto" : "cache=none",
          options->hard ? "hard" : "soft", client_session.id());
  // Once the kernel has ended the connection nobody waits for a reply: the
  // calls still in flight (a release, say, with the server gone) get one
  // more deadline, then fail, so the daemon exits even on a hard mount.
  ConnectionEndWatch connection_end(fuse_session_fd(session), [&] {
    rpc.GiveUpBy(absl::Now() + options->deadline);
  });

  int result;
  if (cmdline.singlethread) {
    result = fuse_session_loop(session);
  } else {
    fuse_loop_config config;
    memset(&config, 0, sizeof(config));
    config.clone_fd = cmdline.clone_fd;
    // libfuse 3.14 reads an unset (UINT_MAX) idle limit as a thread limit
    // and complains; metadata calls block workers, so keep a few spare.
    config.max_idle_threads = cmdline.max_idle_threads == UINT_MAX
                                  ? kDefaultIdleThreads
                                  : cmdline.max_idle_threads;
    result = fuse_session_loop_mt(session, &config);
  }
  std::move(stop_watch).Invoke();
  if (!core.WaitIdle(options->deadline + absl::Seconds(5))) {
    LogWarning("requests still in flight at unmount");
  }
  fuse_session_unmount(session);
  // Files still open at unmount get no release from the kernel.
  client_session.ReleaseAll();
  connection_end.Stop();
  // The session's renewals go at once: the lease ends it on the server.
  rpc.GiveUpBy(absl::Now());
  if (const ExchangeStreams* streams = rpc.exchange_streams()) {
    const uint64_t batches = streams->counters().batches.load();
    const uint64_t requests = streams->counters().requests.load();
    LogInfo(
        "exchange streams carried %d requests in %d batches "
        "(%.2f per batch); %d replies overtook their request's write",
        requests, batches,
        batches == 0 ? 0.0 : static_cast<double>(requests) / batches,
        streams->counters().deferred.load());
  }
  LogInfo("unmounted %s", cmdline.mountpoint);
  // libfuse reports the signal that ended the loop; that is a clean exit.
  const bool clean =
      result == 0 || result == SIGTERM || result == SIGINT || result == SIGHUP;
  return clean ? 0 : 1;
}

}  // namespace
}  // namespace rbfs

int main(int argc, char** argv) { return rbfs::Run(argc, argv); }
