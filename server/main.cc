// rbfs-server: serves a block-backed rbfs volume over gRPC.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/malloc_tuning.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "server/checker.h"
#include "server/filesystem.h"
#include "server/rbfs_service.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7420",
          "HOST:PORT to serve on; port 0 picks a free port (logged)");
ABSL_FLAG(std::string, data, "",
          "data directory: holds the metadata store and, unless --volume is "
          "given, the volume file (created on first start)");
ABSL_FLAG(std::string, volume, "",
          "volume file or raw block device to use instead of DATA/volume; a "
          "device or non-empty file is formatted only together with a new "
          "metadata store");
ABSL_FLAG(uint64_t, volume_size, 16ull << 30,
          "size in bytes of a volume file created on first start (sparse)");
ABSL_FLAG(uint32_t, block_size, 64 * 1024,
          "block size in bytes for a new volume: a power of two, 4 KiB..4 MiB");
ABSL_FLAG(int, threads, 0, "maximum threads serving calls (0: gRPC's default)");
ABSL_FLAG(bool, check, false,
          "check the consistency of --data and exit: 0 when clean, 1 when "
          "problems were found, 2 when it could not be checked");
ABSL_FLAG(absl::Duration, commit_interval, absl::Seconds(1),
          "how often un-synced writes are made durable in the background");

namespace rbfs {
namespace {

int RunCheck() {
  absl::StatusOr<CheckReport> report =
      CheckDataDir(absl::GetFlag(FLAGS_data), absl::GetFlag(FLAGS_volume));
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

int Serve() {
  Filesystem::Options options;
  options.data_dir = absl::GetFlag(FLAGS_data);
  options.volume_path = absl::GetFlag(FLAGS_volume);
  options.volume_size = absl::GetFlag(FLAGS_volume_size);
  options.block_size = absl::GetFlag(FLAGS_block_size);
  options.commit_interval = absl::GetFlag(FLAGS_commit_interval);

  // Handle SIGTERM/SIGINT on a thread of our own: block them everywhere
  // (threads started later inherit the mask) and wait for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<Filesystem>> fs = Filesystem::Open(options);
  if (!fs.ok()) {
    LogError("cannot open the volume: %s", fs.status().message());
    return 1;
  }
  RbfsService service(fs->get());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen),
                           grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(RbfsService::kMaxMessageBytes);
  builder.SetMaxSendMessageSize(RbfsService::kMaxMessageBytes);
  if (int threads = absl::GetFlag(FLAGS_threads); threads > 0) {
    grpc::ResourceQuota quota("rbfs-server");
    quota.SetMaxThreads(threads);
    builder.SetResourceQuota(quota);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    LogError("cannot listen on %s", absl::GetFlag(FLAGS_listen));
    return 1;
  }
  std::string listen = absl::GetFlag(FLAGS_listen);
  std::string host = listen.substr(0, listen.rfind(':'));
  LogInfo("ready on %s:%d (data %s, block size %d)", host, port,
          options.data_dir, (*fs)->block_size());

  int sig = 0;
  sigwait(&signals, &sig);
  LogInfo("signal %d: finishing in-flight calls", sig);
  // Calls last milliseconds; the grace period mostly bounds how long gRPC
  // lingers over idle client connections (it uses all of it when any is open).
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  absl::Status synced = (*fs)->SyncAll();
  fs->reset();
  if (!synced.ok()) {
    LogError("final sync failed: %s", synced.message());
    return 1;
  }
  LogInfo("stopped cleanly");
  return 0;
}

}  // namespace

// Abseil spells flags with underscores; the documented CLI uses dashes.
std::vector<char*> UnderscoreFlagNames(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  for (int i = 1; i < argc; ++i) {
    char* arg = argv[i];
    if (std::strcmp(arg, "--") == 0) break;
    if (std::strncmp(arg, "--", 2) != 0) continue;
    for (char* c = arg + 2; *c != '\0' && *c != '='; ++c) {
      if (*c == '-') *c = '_';
    }
  }
  return args;
}

}  // namespace rbfs

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "serves an rbfs volume over gRPC.\n\n"
      "  rbfs-server --data DIR [--listen HOST:PORT] [--volume PATH]\n"
      "              [--volume-size BYTES] [--block-size BYTES] [--threads N]\n"
      "  rbfs-server --check --data DIR\n\n"
      "Flag names take dashes or underscores (--volume-size = --volume_size).");
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "server/main.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  std::vector<char*> args = rbfs::UnderscoreFlagNames(argc, argv);
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  rbfs::SetLogProgramName("rbfs-server");
  rbfs::TuneMallocForLargeBuffers();
  // Debian's Abseil checks every lock for deadlock cycles; the tests keep
  // that check, the server's hot paths do not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (absl::GetFlag(FLAGS_data).empty()) {
    rbfs::LogError("--data DIR is required (see --help)");
    return 2;
  }
  return absl::GetFlag(FLAGS_check) ? rbfs::RunCheck() : rbfs::Serve();
}
