// ExportMountMetrics: the mount's own metrics (issue 16), read at each
// scrape from the parts that keep them:
//   rbfs_mount_cache_answers_total{kind, result}  requests answered from
//       what the mount keeps ("hit") or asked of the server ("miss"), by
//       kind: "attr" (GETATTR), "data" (READ from open data), "xattr"
//       (getxattr/listxattr of an inode known to have none)
//   rbfs_mount_chunks_in_flight, rbfs_mount_chunks_queued  chunk transfers
//       (client/core/inflight_limiter.h)
//   rbfs_mount_rpc_retries_total  repeats of failed call attempts
//       (client/rpc/retry_policy.h)
//   rbfs_mount_reconnects_total{what}  "watch": the change stream synced
//       again after a loss; "session": the server had lost the session and
//       the mount re-registered its open files and locks
//   rbfs_mount_synced  1 while the change stream is synced
//   rbfs_mount_stream_requests_total, rbfs_mount_stream_batches_total  what
//       the Exchange streams carried (when the mount uses them)
// The FUSE requests' own series are FuseMetrics' (client/fuse).
#ifndef RBFS_CLIENT_CORE_MOUNT_METRICS_H_
#define RBFS_CLIENT_CORE_MOUNT_METRICS_H_

#include "client/core/mount_core.h"
#include "client/rpc/client_session.h"
#include "client/rpc/rpc_client.h"
#include "client/rpc/watch_stream.h"
#include "common/metrics/metrics.h"

namespace rbfs {

// Every argument must outlive `registry`'s last scrape.
void ExportMountMetrics(MetricsRegistry* registry, MountCore* core,
                        const RpcClient* rpc, const ClientSession* session,
                        const WatchStream* watch);

}  // namespace rbfs

#endif  // RBFS_CLIENT_CORE_MOUNT_METRICS_H_
