#include "server/store/meta_store.h"

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "rocksdb/listener.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"

namespace rbfs {
namespace {

void AppendU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

absl::Status FromRocks(const rocksdb::Status& s) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsNotFound()) return absl::NotFoundError(s.ToString());
  if (s.IsNoSpace()) return ErrnoError(ENOSPC, s.ToString());
  return ErrnoError(EIO, absl::StrCat("metadata store: ", s.ToString()));
}

class FlushOrdering : public rocksdb::EventListener {
 public:
  explicit FlushOrdering(std::function<void()> before_flush)
      : before_flush_(std::move(before_flush)) {}
  void OnFlushBegin(rocksdb::DB*, const rocksdb::FlushJobInfo&) override {
    if (before_flush_) before_flush_();
  }

 private:
  std::function<void()> before_flush_;
};

template <typename Proto>
absl::StatusOr<Proto> GetProto(rocksdb::DB* db, const std::string& key) {
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), key, &value);
  if (!s.ok()) return FromRocks(s);
  Proto proto;
  if (!proto.ParseFromString(value)) {
    return ErrnoError(EIO, "corrupt metadata record");
  }
  return proto;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetaStore>> MetaStore::Open(
    const std::string& path, std::function<void()> before_flush,
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
  return std::unique_ptr<MetaStore>(new MetaStore(db, std::move(listener)));
}

MetaStore::~MetaStore() {
  db_->FlushWAL(true).PermitUncheckedError();
  db_->Close().PermitUncheckedError();
  delete db_;
}

std::string MetaStore::InodeKey(uint64_t ino) {
  std::string key = "I";
  AppendU64(&key, ino);
  return key;
}

std::string MetaStore::DirentKey(uint64_t parent, absl::string_view name) {
  std::string key = "D";
  AppendU64(&key, parent);
  key.append(name.data(), name.size());
  return key;
}

std::string MetaStore::CookiePrefix(uint64_t parent) {
  std::string key = "C";
  AppendU64(&key, parent);
  return key;
}

std::string MetaStore::CookieKey(uint64_t parent, uint64_t cookie) {
  std::string key = CookiePrefix(parent);
  AppendU64(&key, cookie);
  return key;
}

std::string MetaStore::BlockPrefix(uint64_t ino) {
  std::string key = "B";
  AppendU64(&key, ino);
  return key;
}

std::string MetaStore::BlockKey(uint64_t ino, uint64_t index) {
  std::string key = BlockPrefix(ino);
  AppendU64(&key, index);
  return key;
}

std::string MetaStore::OrphanKey(uint64_t ino) {
  std::string key = "O";
  AppendU64(&key, ino);
  return key;
}

std::string MetaStore::EncodeBlock(uint64_t block) {
  std::string out;
  AppendU64(&out, block);
  return out;
}

uint64_t MetaStore::DecodeU64(absl::string_view bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < bytes.size(); ++i) {
    v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  }
  return v;
}

absl::StatusOr<meta::Superblock> MetaStore::GetSuperblock() const {
  return GetProto<meta::Superblock>(db_, "S");
}

absl::StatusOr<meta::InodeRecord> MetaStore::GetInode(uint64_t ino) const {
  return GetProto<meta::InodeRecord>(db_, InodeKey(ino));
}

absl::StatusOr<meta::DirentRecord> MetaStore::GetDirent(
    uint64_t parent, absl::string_view name) const {
  return GetProto<meta::DirentRecord>(db_, DirentKey(parent, name));
}

absl::StatusOr<meta::DirentRecord> MetaStore::GetCookieRecord(
    uint64_t parent, uint64_t cookie) const {
  return GetProto<meta::DirentRecord>(db_, CookieKey(parent, cookie));
}

absl::StatusOr<uint64_t> MetaStore::GetBlock(uint64_t ino,
                                             uint64_t index) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), BlockKey(ino, index), &value);
  if (s.IsNotFound()) return 0;
  if (!s.ok()) return FromRocks(s);
  return DecodeU64(value);
}

void MetaStore::PutSuperblock(rocksdb::WriteBatch* batch,
                              const meta::Superblock& sb) {
  batch->Put("S", sb.SerializeAsString()).PermitUncheckedError();
}

void MetaStore::PutInode(rocksdb::WriteBatch* batch, uint64_t ino,
                         const meta::InodeRecord& inode) {
  batch->Put(InodeKey(ino), inode.SerializeAsString()).PermitUncheckedError();
}

void MetaStore::PutDirent(rocksdb::WriteBatch* batch, uint64_t parent,
                          absl::string_view name, const meta::DirentRecord& d) {
  meta::DirentRecord by_name = d;
  by_name.clear_name();
  batch->Put(DirentKey(parent, name), by_name.SerializeAsString())
      .PermitUncheckedError();
  meta::DirentRecord by_cookie = d;
  by_cookie.set_name(std::string(name));
  batch->Put(CookieKey(parent, d.cookie()), by_cookie.SerializeAsString())
      .PermitUncheckedError();
}

void MetaStore::DeleteDirent(rocksdb::WriteBatch* batch, uint64_t parent,
                             absl::string_view name, uint64_t cookie) {
  batch->Delete(DirentKey(parent, name)).PermitUncheckedError();
  batch->Delete(CookieKey(parent, cookie)).PermitUncheckedError();
}

absl::Status MetaStore::Commit(rocksdb::WriteBatch* batch) {
  return FromRocks(db_->Write(rocksdb::WriteOptions(), batch));
}

absl::Status MetaStore::Sync() { return FromRocks(db_->FlushWAL(true)); }

absl::Status MetaStore::Scan(
    absl::string_view prefix, absl::string_view start,
    const std::function<bool(absl::string_view, absl::string_view)>& fn) const {
  // Bounding the iterator to the prefix matters: without it, a seek that
  // finds no live key in the prefix walks every deletion tombstone after
  // it (every unlinked entry's records), which made unlink O(deletions).
  std::string upper(prefix);
  while (!upper.empty() && static_cast<uint8_t>(upper.back()) == 0xff) {
    upper.pop_back();
  }
  rocksdb::Slice upper_slice;
  rocksdb::ReadOptions read_options;
  if (!upper.empty()) {
    upper.back() = static_cast<char>(static_cast<uint8_t>(upper.back()) + 1);
    upper_slice = rocksdb::Slice(upper);
    read_options.iterate_upper_bound = &upper_slice;
  }
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

}  // namespace rbfs
