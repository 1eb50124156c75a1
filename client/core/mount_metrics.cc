#include "client/core/mount_metrics.h"

#include <atomic>

namespace rbfs {
namespace {

std::function<double()> ValueOf(const std::atomic<uint64_t>* counter) {
  return [counter] { return static_cast<double>(counter->load()); };
}

}  // namespace

void ExportMountMetrics(MetricsRegistry* registry, MountCore* core,
                        const RpcClient* rpc, const ClientSession* session,
                        const WatchStream* watch) {
  const MountCore::CacheAnswers& answers = core->cache_answers();
  const char* kAnswersHelp =
      "Requests the mount answered from what it keeps (hit) or asked the "
      "server for (miss), by kind: attr (GETATTR), data (READ from a file's "
      "open data), xattr (getxattr/listxattr of an inode known to have "
      "none).";
  const struct {
    const char* kind;
    const Counter* hits;
    const Counter* misses;
  } kinds[] = {
      {"attr", &answers.attr_hits, &answers.attr_misses},
      {"data", &answers.data_hits, &answers.data_misses},
      {"xattr", &answers.xattr_hits, &answers.xattr_misses},
  };
  for (const auto& kind : kinds) {
    registry->AddCounter("rbfs_mount_cache_answers_total", kAnswersHelp,
                         kind.hits, {{"kind", kind.kind}, {"result", "hit"}});
    registry->AddCounter("rbfs_mount_cache_answers_total", kAnswersHelp,
                         kind.misses,
                         {{"kind", kind.kind}, {"result", "miss"}});
  }

  const InflightLimiter* limiter = &core->limiter();
  registry->AddGauge(
      "rbfs_mount_chunks_in_flight", "Chunk transfers on their way now.",
      [limiter] { return static_cast<double>(limiter->in_flight()); });
  registry->AddGauge(
      "rbfs_mount_chunks_queued",
      "Chunk transfers waiting for a slot (-o max_inflight).",
      [limiter] { return static_cast<double>(limiter->queued()); });

  registry->AddCounter(
      "rbfs_mount_rpc_retries_total",
      "Repeats of call attempts that failed (the connection broke, the "
      "server refused before running the call, or a hard mount's attempt "
      "ran out of time).",
      &rpc->repeats());

  const char* kReconnectsHelp =
      "watch: the change stream synced again after it was lost; session: "
      "the server had lost the mount's session (a restart) and the mount "
      "re-registered its open files and locks.";
  registry->AddCounterFn(
      "rbfs_mount_reconnects_total", kReconnectsHelp,
      [watch] { return static_cast<double>(watch->resyncs()); },
      {{"what", "watch"}});
  registry->AddCounterFn(
      "rbfs_mount_reconnects_total", kReconnectsHelp,
      [session] { return static_cast<double>(session->rejoins()); },
      {{"what", "session"}});

  CacheCoherence* coherence = &core->coherence();
  registry->AddGauge(
      "rbfs_mount_synced",
      "1 while the change stream is synced (cached names and attributes are "
      "trusted), else 0.",
      [coherence] { return coherence->synced() ? 1.0 : 0.0; });

  if (const ExchangeStreams* streams = rpc->exchange_streams()) {
    registry->AddCounterFn("rbfs_mount_stream_requests_total",
                           "Requests carried on the Exchange streams.",
                           ValueOf(&streams->counters().requests));
    registry->AddCounterFn("rbfs_mount_stream_batches_total",
                           "Writes of the Exchange streams, each a batch of "
                           "one or more requests.",
                           ValueOf(&streams->counters().batches));
  }
}

}  // namespace rbfs
