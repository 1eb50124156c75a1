#include "server/store/rocks_meta_store.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/log.h"
#include "rocksdb/db.h"
#include "rocksdb/listener.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "server/store/meta_keys.h"

namespace rbfs {

using meta_keys::PrefixEnd;

namespace {

absl::Status FromRocks(const rocksdb::Status& s) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsNotFound()) return absl::NotFoundError(s.ToString());
  if (s.IsNoSpace()) return ErrnoError(ENOSPC, s.ToString());
  return ErrnoError(EIO, absl::StrCat("metadata store: ", s.ToString()));
}

class FlushOrdering : public rocksdb::EventListener {
 public:
  explicit FlushOrdering(std::function<absl::Status()> before_flush)
      : before_flush_(std::move(before_flush)) {}
  // RocksDB cannot be told to hold the flush back, so a failure is only
  // logged here; the committer's next sync reports it (its volume sync
  // fails the same way).
  void OnFlushBegin(rocksdb::DB*, const rocksdb::FlushJobInfo&) override {
    if (!before_flush_) return;
    if (absl::Status s = before_flush_(); !s.ok()) {
      LogError("volume sync before metadata flush failed: %s", s.ToString());
    }
  }

 private:
  std::function<absl::Status()> before_flush_;
};

class RocksMetaBatch : public meta_keys::KeyValueMetaBatch {
 public:
  rocksdb::WriteBatch* rep() { return &rep_; }

 private:
  // A WriteBatch only fails on a corrupt batch or a size past 4 GiB, which
  // one filesystem operation never makes; Commit reports either.
  void Put(std::string key, std::string value) override {
    rep_.Put(key, value).PermitUncheckedError();
  }
  void Delete(std::string key) override {
    rep_.Delete(key).PermitUncheckedError();
  }

  rocksdb::WriteBatch rep_;
};

}  // namespace

bool RocksMetaStore::Exists(const std::string& path) {
  return std::filesystem::exists(path + "/CURRENT");
}

RocksMetaStore::RocksMetaStore(rocksdb::DB* db,
                               std::shared_ptr<rocksdb::EventListener> listener)
    : db_(db), listener_(std::move(listener)) {}

absl::StatusOr<std::unique_ptr<RocksMetaStore>> RocksMetaStore::Open(
    const std::string& path, std::function<absl::Status()> before_flush,
    rocksdb::Env* env) {
  rocksdb::Options options;
  options.create_if_missing = true;
  if (env != nullptr) options.env = env;
  // Every batch reaches the OS at Commit (a process crash loses nothing
  // acknowledged); Sync() makes it durable after the volume's data.
  options.manual_wal_flush = false;
  options.IncreaseParallelism(2);
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(64 << 20);
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  auto listener = std::make_shared<FlushOrdering>(std::move(before_flush));
  options.listeners.push_back(listener);
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &db);
  if (!s.ok()) {
    return ErrnoError(EIO, absl::StrCat("cannot open metadata store ", path,
                                        ": ", s.ToString()));
  }
  return std::unique_ptr<RocksMetaStore>(
      new RocksMetaStore(db, std::move(listener)));
}

RocksMetaStore::~RocksMetaStore() {
  db_->FlushWAL(true).PermitUncheckedError();
  db_->Close().PermitUncheckedError();
  delete db_;
}

absl::StatusOr<std::string> RocksMetaStore::Get(const std::string& key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), key, &value);
  if (!s.ok()) return FromRocks(s);
  return value;
}

std::unique_ptr<MetaBatch> RocksMetaStore::NewBatch() {
  return std::make_unique<RocksMetaBatch>();
}

absl::Status RocksMetaStore::Commit(MetaBatch* batch) {
  return FromRocks(db_->Write(rocksdb::WriteOptions(),
                              static_cast<RocksMetaBatch*>(batch)->rep()));
}

absl::Status RocksMetaStore::Sync() { return FromRocks(db_->FlushWAL(true)); }

absl::StatusOr<uint64_t> RocksMetaStore::ReserveInodes(uint64_t floor,
                                                       uint64_t count) {
  absl::MutexLock lock(&reserve_mu_);
  const uint64_t first = std::max(floor, next_unreserved_);
  next_unreserved_ = first + count;
  return first;
}

absl::Status RocksMetaStore::Scan(
    absl::string_view prefix, absl::string_view start,
    const std::function<bool(absl::string_view, absl::string_view)>& fn) const {
  // Bounding the iterator to the prefix matters: without it, a seek that
  // finds no live key in the prefix walks every deletion tombstone after
  // it (every unlinked entry's records), which made unlink O(deletions).
  const std::string upper = PrefixEnd(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  if (!upper.empty()) read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options));
  for (it->Seek(rocksdb::Slice(start.data(), start.size())); it->Valid();
       it->Next()) {
    absl::string_view key(it->key().data(), it->key().size());
    if (key.substr(0, prefix.size()) != prefix) break;
    key.remove_prefix(prefix.size());
    if (!fn(key, absl::string_view(it->value().data(), it->value().size()))) {
      break;
    }
  }
  return FromRocks(it->status());
}

absl::StatusOr<bool> RocksMetaStoreFactory::Exists() const {
  return RocksMetaStore::Exists(path_);
}

absl::StatusOr<std::unique_ptr<MetaStore>> RocksMetaStoreFactory::Open(
    std::function<absl::Status()> before_flush) const {
  absl::StatusOr<std::unique_ptr<RocksMetaStore>> store =
      RocksMetaStore::Open(path_, std::move(before_flush), env_);
  if (!store.ok()) return store.status();
  return std::unique_ptr<MetaStore>(*std::move(store));
}

}  // namespace rbfs
