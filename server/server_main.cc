#include "server/server_main.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/address.h"
#include "common/dashed_flags.h"
#include "common/errno_status.h"
#include "common/log.h"
#include "common/malloc_tuning.h"
#include "common/metrics/metrics.h"
#include "common/metrics/metrics_http_server.h"
#include "common/wire_limits.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/resource_quota.h"
#include "server/auth/access_policy.h"
#include "server/auth/token_authenticator.h"
#include "server/auth/transport_security.h"
#include "server/env_flags.h"
#include "server/fs/filesystem.h"
#include "server/rpc/health_probe.h"
#include "server/rpc/health_service.h"
#include "server/rpc/rbfs_service.h"
#include "server/rpc/store_changes.h"
#include "server/store/block_store.h"
#include "server/store/checker.h"
#include "server/store/etcd_meta_store.h"
#include "server/store/etcd_serving_lock.h"
#include "server/store/etcd_shared_volume.h"
#include "server/store/local_stores.h"
#include "server/store/rbd_volume.h"
#include "server/store/rocks_meta_store.h"
#include "server/store/stores.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7420",
          "HOST:PORT to serve on; port 0 picks a free port (logged)");
ABSL_FLAG(std::string, data, "",
          "data directory: holds the metadata store and, unless --volume is "
          "given, the volume file (created on first start)");
ABSL_FLAG(std::string, volume, "",
          "volume file or raw block device to use instead of DATA/volume; a "
          "device or non-empty file is formatted only together with a new "
          "metadata store");
ABSL_FLAG(uint64_t, volume_size, rbfs::BlockStore::kDefaultVolumeSize,
          "size in bytes of a volume file created on first start (sparse)");
ABSL_FLAG(uint32_t, block_size, rbfs::BlockStore::kDefaultBlockSize,
          "block size in bytes for a new volume: a power of two, 4 KiB..4 MiB");
ABSL_FLAG(std::string, ceph_conf, "",
          "keep the volume in a Ceph RBD image instead of a file: the "
          "cluster's ceph.conf (monitors, auth, keyring); with --ceph-pool. "
          "The metadata stays in --data");
ABSL_FLAG(std::string, ceph_pool, "",
          "the RADOS pool of the volume's RBD image (with --ceph-conf)");
ABSL_FLAG(std::string, ceph_image, "rbfs",
          "the RBD image holding the volume; created (sparse, --volume-size) "
          "when missing");
ABSL_FLAG(std::string, ceph_client, "admin",
          "the Ceph client to connect as (client.NAME)");
ABSL_FLAG(absl::Duration, ceph_op_timeout, absl::Seconds(20),
          "limit on every Ceph operation: an unreachable or stuck cluster "
          "makes calls fail with EIO after it, never hang");
ABSL_FLAG(std::string, etcd_endpoints, "",
          "keep the metadata in etcd instead of DATA/meta: its members' "
          "HOST:PORT, comma-separated (several must be IPv4 addresses; one "
          "DNS name may stand for all). The volume stays where --data, "
          "--volume or --ceph-* put it");
ABSL_FLAG(std::string, etcd_prefix, rbfs::EtcdOptions::kDefaultPrefix,
          "the etcd key prefix of this volume's metadata (one per volume)");
ABSL_FLAG(absl::Duration, etcd_timeout, rbfs::EtcdOptions::kDefaultOpTimeout,
          "limit on every etcd call: an unreachable etcd makes calls fail "
          "with EIO after it, never hang");
ABSL_FLAG(absl::Duration, etcd_lease, rbfs::EtcdServingLock::kDefaultTtl,
          "with --etcd-endpoints, one server serves a volume and others "
          "started on it stand by: how long after the serving one died a "
          "standby takes over (it stopping cleanly hands over at once)");
ABSL_FLAG(bool, etcd_shared, false,
          "with --etcd-endpoints: serve the volume together with the other "
          "servers started on the same prefix with --etcd-shared (each "
          "allocates from its own groups of blocks and tells its mounts what "
          "the others change), instead of one serving while the others "
          "stand by; all of them must see one volume (an RBD image, or one "
          "file). Byte-range locks are still each server's own");
ABSL_FLAG(int, threads, 0, "maximum threads serving calls (0: gRPC's default)");
ABSL_FLAG(bool, check, false,
          "check the consistency of --data and exit: 0 when clean, 1 when "
          "problems were found, 2 when it could not be checked");
ABSL_FLAG(absl::Duration, commit_interval, absl::Seconds(1),
          "how often un-synced writes are made durable in the background");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate (chain) to serve TLS with; needs --tls-key. "
          "Re-read when the file changes");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificate: require client certificates it signed "
          "(mutual TLS)");
ABSL_FLAG(std::string, token_file, "",
          "file holding the token every call must carry (16+ printable "
          "characters); re-read on SIGHUP");
ABSL_FLAG(bool, insecure, false,
          "allow serving a non-loopback address without TLS (warned at every "
          "start)");
ABSL_FLAG(bool, allow_insecure_token, false,
          "accept the token over plaintext on a non-loopback address");
ABSL_FLAG(bool, read_only, false,
          "export the volume read-only: every call that would change it gets "
          "EROFS");
ABSL_FLAG(bool, squash_root, false,
          "treat uid/gid 0 of clients as --squash-uid/--squash-gid for new "
          "files, and refuse giving files to uid/gid 0 (NFS root_squash)");
ABSL_FLAG(uint32_t, squash_uid, 65534, "uid that --squash-root maps root to");
ABSL_FLAG(uint32_t, squash_gid, 65534, "gid that --squash-root maps root to");
ABSL_FLAG(std::string, health_listen, "",
          "extra HOST:PORT serving only the plaintext gRPC health service "
          "(for probes that speak neither TLS nor tokens)");
ABSL_FLAG(std::string, log, "stderr",
          "where the server logs: stderr (containers), syslog (journald "
          "keeps it), or appended to a file's path");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT serving Prometheus metrics at /metrics over plain HTTP "
          "(a non-loopback address needs --insecure)");
ABSL_FLAG(int, max_streams_per_connection, 256,
          "concurrent calls one client connection may have open; more wait "
          "in the client");
ABSL_FLAG(absl::Duration, lease_timeout, absl::Seconds(30),
          "a mount that has not renewed its session for this long is "
          "considered gone and its open files are released; after a start, "
          "unlinked files stay this long for mounts to re-open them");
ABSL_FLAG(std::string, probe, "",
          "HOST:PORT of a running rbfs-server (its --listen or --health-listen "
          "address): ask its gRPC health service whether it is serving and "
          "exit 0 when it is, 1 when not; for container health checks");
ABSL_FLAG(absl::Duration, probe_timeout, absl::Seconds(5),
          "how long --probe waits for the answer");

namespace rbfs {
namespace {

constexpr char kUsage[] =
    "serves an rbfs volume over gRPC.\n\n"
    "  rbfs-server --data DIR [--listen HOST:PORT] [--volume PATH]\n"
    "      [--volume-size BYTES] [--block-size BYTES] [--threads N]\n"
    "      [--tls-cert F --tls-key F [--tls-client-ca F]]\n"
    "      [--token-file F] [--read-only] [--squash-root]\n"
    "      [--ceph-conf F --ceph-pool P [--ceph-image I]]\n"
    "      [--etcd-endpoints HOST:PORT[,...] [--etcd-prefix /rbfs/VOLUME/]\n"
    "       [--etcd-lease DURATION] [--etcd-shared]]\n"
    "  rbfs-server --check --data DIR [--ceph-* ...] [--etcd-* ...]\n"
    "  rbfs-server --probe HOST:PORT [--probe-timeout DURATION]\n\n"
    "Without TLS only loopback addresses are served (--insecure allows\n"
    "others). See docs/security.md.\n"
    "Flag names take dashes or underscores (--volume-size = "
    "--volume_size).\n";

// The RBD volume the --ceph-* flags name; nullopt without --ceph-conf,
// EINVAL when they contradict the others.
absl::StatusOr<std::optional<RbdOptions>> CephVolumeFromFlags() {
  const std::string conf = absl::GetFlag(FLAGS_ceph_conf);
  if (conf.empty()) return std::nullopt;
  if (absl::GetFlag(FLAGS_ceph_pool).empty() ||
      !absl::GetFlag(FLAGS_volume).empty()) {
    return ErrnoError(EINVAL,
                      "--ceph-conf needs --ceph-pool, and rules out --volume");
  }
  RbdOptions rbd;
  rbd.conf_path = conf;
  rbd.client_id = absl::GetFlag(FLAGS_ceph_client);
  rbd.pool = absl::GetFlag(FLAGS_ceph_pool);
  rbd.image = absl::GetFlag(FLAGS_ceph_image);
  rbd.block_size = absl::GetFlag(FLAGS_block_size);
  rbd.volume_size = absl::GetFlag(FLAGS_volume_size);
  rbd.op_timeout = absl::GetFlag(FLAGS_ceph_op_timeout);
  rbd.shared = absl::GetFlag(FLAGS_etcd_shared) &&
               !absl::GetFlag(FLAGS_etcd_endpoints).empty();
  return rbd;
}

// The etcd metadata store the --etcd-* flags name; nullopt without
// --etcd-endpoints.
std::optional<EtcdOptions> EtcdMetaFromFlags() {
  const std::string endpoints = absl::GetFlag(FLAGS_etcd_endpoints);
  if (endpoints.empty()) return std::nullopt;
  EtcdOptions etcd;
  etcd.endpoints = absl::StrSplit(endpoints, ',', absl::SkipWhitespace());
  etcd.prefix = absl::GetFlag(FLAGS_etcd_prefix);
  etcd.op_timeout = absl::GetFlag(FLAGS_etcd_timeout);
  return etcd;
}

// The serving lock of the volume in `etcd`, held under this server's name
// (for the standbys' log) followed by `role`.
EtcdServingLock::Options ServingLockFromFlags(const EtcdOptions& etcd,
                                              absl::string_view role) {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  EtcdServingLock::Options lock;
  lock.etcd = etcd;
  lock.ttl = absl::GetFlag(FLAGS_etcd_lease);
  lock.shared = absl::GetFlag(FLAGS_etcd_shared);
  lock.holder = absl::StrCat(host, " ", absl::GetFlag(FLAGS_listen), " pid ",
                             getpid(), role);
  return lock;
}

// Set when the serving lock was lost: the server then stops, failing.
std::atomic<bool> serving_lock_lost{false};

int RunCheck() {
  absl::StatusOr<std::optional<RbdOptions>> ceph = CephVolumeFromFlags();
  if (!ceph.ok()) {
    LogError("%s", ceph.status().message());
    return 2;
  }
  const std::string data = absl::GetFlag(FLAGS_data);
  std::unique_ptr<BlockDeviceFactory> volume;
  if (ceph->has_value()) {
    volume = std::make_unique<RbdVolumeFactory>(**ceph);
  } else {
    volume = std::make_unique<BlockStoreFactory>(
        LocalVolumePath(data, absl::GetFlag(FLAGS_volume)),
        BlockStore::Options());
  }
  std::unique_ptr<MetaStoreFactory> meta;
  std::unique_ptr<EtcdServingLock> serving;
  if (std::optional<EtcdOptions> etcd = EtcdMetaFromFlags()) {
    // Taken, not waited for: checking beside a serving server (or the
    // servers sharing the volume) is refused.
    EtcdServingLock::Options sole = ServingLockFromFlags(*etcd, " (--check)");
    sole.shared = false;
    absl::StatusOr<std::unique_ptr<EtcdServingLock>> taken =
        EtcdServingLock::Acquire(
            sole, [](absl::Duration) { return false; }, nullptr);
    if (!taken.ok()) {
      LogError("cannot check %s: %s", etcd->prefix,
               absl::IsCancelled(taken.status())
                   ? "a server serves it; stop it first"
                   : taken.status().message());
      return 2;
    }
    serving = *std::move(taken);
    etcd->fence_key = serving->key();
    etcd->fence_revision = serving->revision();
    meta = std::make_unique<EtcdMetaStoreFactory>(*std::move(etcd));
  } else {
    meta = std::make_unique<RocksMetaStoreFactory>(LocalMetaPath(data));
  }
  absl::StatusOr<CheckReport> report = CheckStores(*meta, *volume);
  if (!report.ok()) {
    LogError("check failed: %s", report.status().message());
    return 2;
  }
  for (const std::string& note : report->notes) LogInfo("note: %s", note);
  for (const std::string& p : report->problems) LogError("problem: %s", p);
  std::printf("%s: %llu inodes, %llu entries, %llu blocks, %zu problems\n",
              report->clean() ? "clean" : "NOT CLEAN",
              static_cast<unsigned long long>(report->inodes),
              static_cast<unsigned long long>(report->entries),
              static_cast<unsigned long long>(report->blocks),
              report->problems.size());
  return report->clean() ? 0 : 1;
}

int Serve(const VolumeWrapper& wrap_volume) {
  LocalStoreOptions local;
  local.data_dir = absl::GetFlag(FLAGS_data);
  local.volume_path = absl::GetFlag(FLAGS_volume);
  local.volume_size = absl::GetFlag(FLAGS_volume_size);
  local.block_size = absl::GetFlag(FLAGS_block_size);
  Filesystem::Options options;
  options.wrap_volume = wrap_volume;
  options.commit_interval = absl::GetFlag(FLAGS_commit_interval);
  options.lease_timeout = absl::GetFlag(FLAGS_lease_timeout);

  const std::string listen = absl::GetFlag(FLAGS_listen);
  TlsFiles tls;
  tls.cert = absl::GetFlag(FLAGS_tls_cert);
  tls.key = absl::GetFlag(FLAGS_tls_key);
  tls.client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  if (!tls.enabled() && !tls.client_ca.empty()) {
    LogError("--tls-client-ca needs --tls-cert and --tls-key");
    return 2;
  }
  ExposurePolicy exposure;
  exposure.listen = listen;
  exposure.tls = tls.enabled();
  exposure.token = !absl::GetFlag(FLAGS_token_file).empty();
  exposure.insecure = absl::GetFlag(FLAGS_insecure);
  exposure.allow_insecure_token = absl::GetFlag(FLAGS_allow_insecure_token);
  if (absl::Status allowed = CheckExposure(exposure); !allowed.ok()) {
    LogError("%s", allowed.message());
    return 2;
  }
  if (!exposure.tls && !IsLoopbackAddress(listen)) {
    LogWarning(
        "serving %s without TLS (--insecure): anyone who can reach it can "
        "read%s the volume",
        listen, exposure.token ? " the token and with it" : " and change");
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(tls);
  if (!credentials.ok()) {
    LogError("%s", credentials.status().message());
    return 2;
  }

  // Handle SIGTERM/SIGINT (stop) and SIGHUP (re-read the token) on a thread of
  // our own: block them everywhere (threads started later inherit the mask) and
  // wait for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<Stores> stores = MakeLocalStores(local);
  if (!stores.ok()) {
    LogError("cannot open the volume: %s", stores.status().message());
    return 1;
  }
  absl::StatusOr<std::optional<RbdOptions>> ceph = CephVolumeFromFlags();
  if (!ceph.ok()) {
    LogError("%s", ceph.status().message());
    return 2;
  }
  if (ceph->has_value()) {
    stores->volume = std::make_shared<RbdVolumeFactory>(**std::move(ceph));
  }
  // Declared before the filesystem, whose last commits it must outlive.
  std::unique_ptr<EtcdServingLock> serving;
  std::shared_ptr<SharedVolume> shared;
  if (absl::GetFlag(FLAGS_etcd_shared) &&
      absl::GetFlag(FLAGS_etcd_endpoints).empty()) {
    LogError(
        "--etcd-shared needs --etcd-endpoints: only a volume in etcd is "
        "served by several servers");
    return 2;
  }
  if (std::optional<EtcdOptions> etcd = EtcdMetaFromFlags()) {
    // Standing by, SIGTERM or SIGINT ends the wait (SIGHUP does not).
    auto wait = [&signals](absl::Duration d) {
      const timespec timeout = absl::ToTimespec(d);
      const int sig = sigtimedwait(&signals, nullptr, &timeout);
      return sig < 0 || sig == SIGHUP;
    };
    absl::StatusOr<std::unique_ptr<EtcdServingLock>> taken =
        EtcdServingLock::Acquire(ServingLockFromFlags(*etcd, ""), wait, [] {
          serving_lock_lost = true;
          kill(getpid(), SIGTERM);
        });
    if (!taken.ok()) {
      if (absl::IsCancelled(taken.status())) {
        LogInfo("stopped while standing by");
        return 0;
      }
      LogError("cannot take the volume's serving lock: %s",
               taken.status().message());
      return 1;
    }
    serving = *std::move(taken);
    etcd->fence_key = serving->key();
    etcd->fence_revision = serving->revision();
    if (absl::GetFlag(FLAGS_etcd_shared)) {
      etcd->own_commits = std::make_shared<CommitRevisions>();
      EtcdSharedVolume::Options volume;
      volume.etcd = *etcd;
      volume.lease = serving->lease();
      volume.on_lost = [] {
        serving_lock_lost = true;
        kill(getpid(), SIGTERM);
      };
      absl::StatusOr<std::unique_ptr<EtcdSharedVolume>> opened =
          EtcdSharedVolume::Open(std::move(volume));
      if (!opened.ok()) {
        LogError("cannot share the volume: %s", opened.status().message());
        return 1;
      }
      shared = *std::move(opened);
      options.shared = shared;
    }
    stores->meta = std::make_shared<EtcdMetaStoreFactory>(*std::move(etcd));
  }
  options.stores = *std::move(stores);
  absl::StatusOr<std::unique_ptr<Filesystem>> fs = Filesystem::Open(options);
  if (!fs.ok()) {
    LogError("cannot open the volume: %s", fs.status().message());
    return 1;
  }
  std::unique_ptr<TokenAuthenticator> authenticator;
  if (std::string path = absl::GetFlag(FLAGS_token_file); !path.empty()) {
    absl::StatusOr<std::unique_ptr<TokenAuthenticator>> loaded =
        TokenAuthenticator::FromFile(path);
    if (!loaded.ok()) {
      LogError("%s", loaded.status().message());
      return 1;
    }
    authenticator = std::move(*loaded);
  }
  AccessOptions access;
  access.authenticator = authenticator.get();
  access.read_only = absl::GetFlag(FLAGS_read_only);
  if (absl::GetFlag(FLAGS_squash_root)) {
    access.squash_root = PosixIds{absl::GetFlag(FLAGS_squash_uid),
                                  absl::GetFlag(FLAGS_squash_gid)};
  }
  RbfsService service(fs->get(), access);
  if (shared != nullptr) {
    // Other servers' changes reach this server's mounts as their own do.
    shared->SetChangeListener([&service](const StoreChange& change) {
      if (change.own) return;
      const std::vector<Change> changes = ChangesOf(change);
      if (!changes.empty()) service.hub()->Publish(0, changes);
    });
  }
  // Before the service goes, on every path out.
  absl::Cleanup stop_listening = [&shared] {
    if (shared != nullptr) shared->SetChangeListener(nullptr);
  };
  // Before the service serves: its calls are counted from the first.
  MetricsRegistry metrics;
  std::unique_ptr<MetricsHttpServer> metrics_server;
  if (std::string at = absl::GetFlag(FLAGS_metrics_listen); !at.empty()) {
    if (!IsLoopbackAddress(at) && !absl::GetFlag(FLAGS_insecure)) {
      LogError(
          "--metrics-listen %s is not a loopback address: the metrics are "
          "served without TLS or token; allow it with --insecure",
          at);
      return 2;
    }
    const std::optional<HostPort> split = SplitHostPort(at);
    if (!split.has_value()) {
      LogError("--metrics-listen %s: expected HOST:PORT", at);
      return 2;
    }
    service.ExportMetrics(&metrics);
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> started =
        MetricsHttpServer::Start(split->host, split->port, &metrics);
    if (!started.ok()) {
      LogError("%s", started.status().message());
      return 1;
    }
    metrics_server = *std::move(started);
    LogInfo("metrics on http://%s:%d/metrics", split->host,
            metrics_server->port());
  }
  // Our own synchronous health service instead of gRPC's (see its header).
  grpc::EnableDefaultHealthCheckService(false);
  HealthService health;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, *credentials, &port);
  builder.RegisterService(&service);
  builder.RegisterService(&health);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             absl::GetFlag(FLAGS_max_streams_per_connection));
  if (int threads = absl::GetFlag(FLAGS_threads); threads > 0) {
    grpc::ResourceQuota quota("rbfs-server");
    quota.SetMaxThreads(threads);
    builder.SetResourceQuota(quota);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    LogError("cannot listen on %s", listen);
    return 1;
  }
  // A second server, so the health port carries nothing but health checks:
  // the Rbfs base class answers every rbfs call with UNIMPLEMENTED. Declared
  // before the server that uses them, so they outlive it.
  Rbfs::Service unimplemented;
  HealthService plain_health;
  std::unique_ptr<grpc::Server> health_server;
  if (std::string health = absl::GetFlag(FLAGS_health_listen);
      !health.empty()) {
    grpc::ServerBuilder health_builder;
    int health_port = 0;
    health_builder.AddListeningPort(health, grpc::InsecureServerCredentials(),
                                    &health_port);
    health_builder.RegisterService(&unimplemented);
    health_builder.RegisterService(&plain_health);
    health_server = health_builder.BuildAndStart();
    if (!health_server || health_port == 0) {
      LogError("cannot listen on --health-listen %s", health);
      return 1;
    }
    LogInfo("health service on %s", health);
  }
  std::string host = listen.substr(0, listen.rfind(':'));
  LogInfo(
      "ready on %s:%d (data %s, block size %d%s%s%s)", host, port,
      local.data_dir, (*fs)->block_size(),
      tls.enabled() ? (tls.client_ca.empty() ? ", TLS" : ", mutual TLS") : "",
      authenticator ? ", token" : "", access.read_only ? ", read-only" : "");

  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    if (tls.enabled()) {
      LogInfo("SIGHUP: certificate files are re-read whenever they change");
    }
    if (!authenticator) {
      LogInfo("SIGHUP: no token file to re-read");
    } else if (absl::Status reloaded = authenticator->Reload(); reloaded.ok()) {
      LogInfo("SIGHUP: token re-read from %s", absl::GetFlag(FLAGS_token_file));
    } else {
      LogError("SIGHUP: keeping the previous token: %s", reloaded.message());
    }
  }
  if (serving_lock_lost) {
    LogError(
        "stopping: another server may serve the volume now (this one's "
        "commits are refused)");
  }
  LogInfo("signal %d: finishing in-flight calls", sig);
  health.Shutdown();
  plain_health.Shutdown();
  // Watch streams last as long as their mounts: end them first, so the
  // mounts see the server go (and resync) instead of gRPC cancelling them at
  // the deadline.
  service.ShutdownWatches();
  // Calls last milliseconds; the grace period mostly bounds how long gRPC
  // lingers over idle client connections (it uses all of it when any is open).
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  if (health_server) health_server->Shutdown();
  absl::Status synced = (*fs)->SyncAll();
  service.DetachFromCommits();
  fs->reset();
  if (!synced.ok()) {
    LogError("final sync failed: %s", synced.message());
    return 1;
  }
  if (serving_lock_lost) return 1;
  LogInfo("stopped cleanly");
  return 0;
}

}  // namespace

int RunServerMain(int argc, char** argv, const VolumeWrapper& wrap_volume) {
  const std::function<bool(absl::string_view)> own_flags =
      SetFlagsHelp(absl::StrCat(kUsage, EnvironmentFlagsHelp("RBFS_")),
                   "server/server_main.cc");
  SetLogProgramName("rbfs-server");
  if (absl::Status env = SetFlagsFromEnvironment("RBFS_", own_flags);
      !env.ok()) {
    LogError("%s", env.message());
    return 2;
  }
  std::vector<char*> args = UnderscoreFlagNames(argc, argv);
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  if (absl::Status set = SetLogDestination(absl::GetFlag(FLAGS_log));
      !set.ok()) {
    LogError("--log: %s", set.message());
    return 2;
  }
  if (!absl::GetFlag(FLAGS_probe).empty()) {
    return RunHealthProbe(absl::GetFlag(FLAGS_probe),
                          absl::GetFlag(FLAGS_probe_timeout));
  }
  TuneMallocForLargeBuffers();
  // Debian's Abseil checks every lock for deadlock cycles; the tests keep
  // that check, the server's hot paths do not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (absl::GetFlag(FLAGS_data).empty()) {
    LogError("--data DIR is required (see --help)");
    return 2;
  }
  return absl::GetFlag(FLAGS_check) ? RunCheck() : Serve(wrap_volume);
}

}  // namespace rbfs
