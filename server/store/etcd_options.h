// EtcdOptions: where a volume's metadata lives in etcd and how it is
// reached; shared by the metadata store (etcd_meta_store.h) and the serving
// lock (etcd_serving_lock.h). No gRPC or etcd types, so that the server's
// flags can fill it.
#ifndef RBFS_SERVER_STORE_ETCD_OPTIONS_H_
#define RBFS_SERVER_STORE_ETCD_OPTIONS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/store/commit_revisions.h"

namespace rbfs {

struct EtcdOptions {
  static constexpr absl::Duration kDefaultOpTimeout = absl::Seconds(20);
  static constexpr int kDefaultPageKeys = 512;
  static constexpr char kDefaultPrefix[] = "/rbfs/default/";

  // host:port of each etcd member (plain "http://" is accepted and
  // dropped). Several must be IPv4 addresses; a DNS name with several
  // addresses is one endpoint.
  std::vector<std::string> endpoints;
  // Every key of the volume starts with this; a "/" is appended if missing.
  std::string prefix = kDefaultPrefix;
  absl::Duration op_timeout = kDefaultOpTimeout;
  // Keys per Range call of a ForEach.
  int page_keys = kDefaultPageKeys;
  // Nonzero: the create revision of this server's serving lock
  // (etcd_serving_lock.h), the record `fence_key` under the prefix, which
  // every Txn then requires, so that a server that lost the lock commits
  // nothing more.
  int64_t fence_revision = 0;
  std::string fence_key;
  // When set, the store adds the revision of each of its commits (for the
  // change feed of a shared volume to skip).
  std::shared_ptr<CommitRevisions> own_commits;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_ETCD_OPTIONS_H_
