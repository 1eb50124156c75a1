// RocksMetaStore: the MetaStore (meta_store.h) in an embedded RocksDB.
//
// One RocksDB key per record, in the schema of meta_keys.h; a MetaBatch is
// a rocksdb::WriteBatch, written through to the OS at Commit (a crash of
// the process loses nothing acknowledged); Sync() fsyncs the WAL. Before
// RocksDB flushes a memtable on its own, `before_flush` runs (the server
// syncs the volume there).
// RocksDB types are only declared here, so that users of the store do not
// compile against RocksDB's headers.
#ifndef RBFS_SERVER_STORE_ROCKS_META_STORE_H_
#define RBFS_SERVER_STORE_ROCKS_META_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/store/key_value_meta_store.h"
#include "server/store/meta.pb.h"
#include "server/store/meta_store.h"

namespace rocksdb {
class DB;
class Env;
class EventListener;
}  // namespace rocksdb

namespace rbfs {

class RocksMetaStore : public KeyValueMetaStore {
 public:
  // Whether a store was created in `path`.
  static bool Exists(const std::string& path);
  // Opens (creating if missing) the store in directory `path`. `env`
  // (tests: fault injection) replaces RocksDB's default environment.
  static absl::StatusOr<std::unique_ptr<RocksMetaStore>> Open(
      const std::string& path, std::function<absl::Status()> before_flush,
      rocksdb::Env* env = nullptr);
  ~RocksMetaStore() override;

  absl::Status Scan(
      absl::string_view prefix, absl::string_view start,
      const std::function<bool(absl::string_view suffix,
                               absl::string_view value)>& fn) const override;

  std::unique_ptr<MetaBatch> NewBatch() override;
  absl::Status Commit(MetaBatch* batch) override;
  absl::Status Sync() override;
  // From a counter in memory: the store has one user, and a restart starts
  // above every inode it holds.
  absl::StatusOr<uint64_t> ReserveInodes(uint64_t floor,
                                         uint64_t count) override;

 private:
  absl::StatusOr<std::string> Get(const std::string& key) const override;

  RocksMetaStore(rocksdb::DB* db,
                 std::shared_ptr<rocksdb::EventListener> listener);

  rocksdb::DB* const db_;
  std::shared_ptr<rocksdb::EventListener> listener_;

  absl::Mutex reserve_mu_;
  uint64_t next_unreserved_ ABSL_GUARDED_BY(reserve_mu_) = 0;
};

// Opens a RocksMetaStore in a directory, optionally over another Env.
class RocksMetaStoreFactory : public MetaStoreFactory {
 public:
  explicit RocksMetaStoreFactory(std::string path, rocksdb::Env* env = nullptr)
      : path_(std::move(path)), env_(env) {}

  absl::StatusOr<bool> Exists() const override;
  absl::StatusOr<std::unique_ptr<MetaStore>> Open(
      std::function<absl::Status()> before_flush) const override;
  std::string location() const override { return path_; }

 private:
  const std::string path_;
  rocksdb::Env* const env_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_ROCKS_META_STORE_H_
