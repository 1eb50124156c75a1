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
#include "server/store/meta.pb.h"
#include "server/store/meta_store.h"

namespace rocksdb {
class DB;
class Env;
class EventListener;
}  // namespace rocksdb

namespace rbfs {

class RocksMetaStore : public MetaStore {
 public:
  // Whether a store was created in `path`.
  static bool Exists(const std::string& path);
  // Opens (creating if missing) the store in directory `path`. `env`
  // (tests: fault injection) replaces RocksDB's default environment.
  static absl::StatusOr<std::unique_ptr<RocksMetaStore>> Open(
      const std::string& path, std::function<absl::Status()> before_flush,
      rocksdb::Env* env = nullptr);
  ~RocksMetaStore() override;

  absl::StatusOr<meta::Superblock> GetSuperblock() const override;
  absl::StatusOr<meta::InodeRecord> GetInode(uint64_t ino) const override;
  absl::StatusOr<meta::DirentRecord> GetDirent(
      uint64_t parent, absl::string_view name) const override;
  absl::StatusOr<meta::CallRecord> GetCall(uint64_t session,
                                           uint64_t seq) const override;
  absl::StatusOr<uint64_t> GetBlock(uint64_t ino,
                                    uint64_t index) const override;
  absl::StatusOr<std::vector<uint64_t>> GetBlocks(
      uint64_t ino, uint64_t first, uint64_t count) const override;
  absl::StatusOr<std::string> GetXattr(uint64_t ino,
                                       absl::string_view name) const override;

  absl::Status ForEachInode(
      const std::function<bool(uint64_t ino)>& fn) const override;
  absl::Status ForEachOrphan(
      const std::function<bool(uint64_t ino)>& fn) const override;
  absl::Status ForEachBlock(
      const std::function<bool(uint64_t ino, uint64_t index, uint64_t block)>&
          fn) const override;
  absl::Status ForEachBlockOf(
      uint64_t ino, uint64_t first,
      const std::function<bool(uint64_t index, uint64_t block)>& fn)
      const override;
  absl::Status ForEachDirent(
      uint64_t parent, uint64_t first,
      const std::function<bool(const meta::DirentRecord& d)>& fn)
      const override;
  absl::Status ForEachCall(
      const std::function<bool(uint64_t session, uint64_t seq)>& fn)
      const override;
  absl::Status ForEachCallOf(
      uint64_t session,
      const std::function<bool(uint64_t seq)>& fn) const override;
  absl::Status ForEachXattrOf(
      uint64_t ino,
      const std::function<bool(absl::string_view name,
                               absl::string_view value)>& fn) const override;
  absl::Status ForEachXattr(
      const std::function<bool(uint64_t ino, absl::string_view name,
                               absl::string_view value)>& fn) const override;

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
