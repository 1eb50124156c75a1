// EtcdMetaStore: the MetaStore (meta_store.h) in etcd, through its v3 API
// (gRPC), so that the metadata lives in a replicated store beside the
// servers rather than on one server's disk (issue 18).
//
// The records keep the key schema of meta_keys.h under a prefix, one per
// volume ("/rbfs/VOLUME/"). Reads are linearizable Range calls; a ForEach
// pages through a key range, every page at the revision of the first, so
// one listing is one snapshot. A MetaBatch becomes one Txn: later changes
// to a key replace earlier ones in the batch (etcd refuses a key twice in a
// Txn), and deletes of consecutive block map entries of an inode become one
// DeleteRange (truncating or removing a file is one operation per run of
// blocks, not per block).
//
// Optimistic concurrency (several servers on one prefix): inside a
// MetaReadScope every record read on the thread is remembered with its
// etcd mod revision (0: absent), and the next Commit's Txn runs only if each
// still has it; otherwise it applies nothing and Commit returns ABORTED. A
// listing (ForEach, Scan) is not remembered: an operation that depends on
// one depends on a record that counts it too (a directory's entries, an
// inode's blocks and attributes), which is.
//
// etcd answers a Txn once its log entry is fsynced on a quorum, so Commit is
// durable and Sync has nothing left to do. That leaves no later moment for
// the volume's data to reach its disk first, so Commit runs `before_flush`
// (the server syncs the volume) before a batch that maps blocks, and fails
// with its error.
//
// Limits (etcd's, by flag of the etcd server): a Txn of at most
// --max-txn-ops operations (128 by default) and a request of at most
// --max-request-bytes (1.5 MiB). A batch past either is refused whole
// (EIO, the message says which); docs/operations.md gives the settings.
//
// Every call has a deadline (`op_timeout`) and waits for a connection until
// then, so an etcd restart within it is ridden out and an unreachable one
// is EIO after it, never a hang. Thread-safe: gRPC's stub is, and the store
// keeps no other mutable state.
#ifndef RBFS_SERVER_STORE_ETCD_META_STORE_H_
#define RBFS_SERVER_STORE_ETCD_META_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/store/etcd_options.h"
#include "server/store/key_value_meta_store.h"
#include "server/store/meta.pb.h"
#include "server/store/meta_store.h"

namespace rbfs {

class EtcdMetaStore : public KeyValueMetaStore {
 public:
  // Connects (lazily: the first call waits for etcd up to op_timeout).
  // InvalidArgument for endpoints it cannot use.
  static absl::StatusOr<std::unique_ptr<EtcdMetaStore>> Open(
      const EtcdOptions& options, std::function<absl::Status()> before_flush);
  ~EtcdMetaStore() override;

  absl::StatusOr<std::vector<uint64_t>> GetBlocks(
      uint64_t ino, uint64_t first, uint64_t count) const override;
  absl::Status Scan(
      absl::string_view prefix, absl::string_view start,
      const std::function<bool(absl::string_view suffix,
                               absl::string_view value)>& fn) const override;

  std::unique_ptr<MetaBatch> NewBatch() override;
  absl::Status Commit(MetaBatch* batch) override;
  // Nothing to do: every Commit is durable when it returns.
  absl::Status Sync() override;
  // From the "N" counter, advanced with a compare-and-swap Txn.
  absl::StatusOr<uint64_t> ReserveInodes(uint64_t floor,
                                         uint64_t count) override;

  // Whether the superblock exists under the prefix.
  absl::StatusOr<bool> HasSuperblock() const;

 private:
  // The gRPC stub of etcd's KV service; defined in the .cc, so that users
  // of the store do not compile against etcd's generated headers.
  struct Client;

  EtcdMetaStore(const EtcdOptions& options, std::unique_ptr<Client> client,
                std::function<absl::Status()> before_flush);

  void BeginReads() override;
  void EndReads() override;

  // Remembered with its revision when a MetaReadScope is open on this
  // thread.
  absl::StatusOr<std::string> Get(const std::string& key) const override;
  // The records in [from, end), their keys without `strip`, paged as Scan.
  absl::Status ScanRange(
      std::string from, const std::string& end, absl::string_view strip,
      const std::function<bool(absl::string_view key, absl::string_view value)>&
          fn) const;
  // The same, not remembered; `revision`: its mod revision, 0 if absent.
  absl::StatusOr<std::string> GetAt(const std::string& key,
                                    int64_t* revision) const;

  // The error of a commit refused because another server took the volume.
  absl::Status Fenced() const;

  const std::string prefix_;
  // The whole key of the serving lock or membership record every Txn is
  // fenced on, and its create revision (0: not fenced).
  const std::string fence_key_;
  const int64_t fence_revision_;
  const std::shared_ptr<CommitRevisions> own_commits_;
  const absl::Duration op_timeout_;
  const int page_keys_;
  const std::unique_ptr<Client> client_;
  const std::function<absl::Status()> before_flush_;
};

// Opens an EtcdMetaStore; location() names the endpoints and the prefix.
class EtcdMetaStoreFactory : public MetaStoreFactory {
 public:
  explicit EtcdMetaStoreFactory(EtcdOptions options)
      : options_(std::move(options)) {}

  absl::StatusOr<bool> Exists() const override;
  absl::StatusOr<std::unique_ptr<MetaStore>> Open(
      std::function<absl::Status()> before_flush) const override;
  std::string location() const override;

 private:
  const EtcdOptions options_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_ETCD_META_STORE_H_
