// MetaStore: the server's crash-safe metadata, in RocksDB.
//
// Holds the superblock, inodes, directory entries (by name and by cookie),
// block maps and the orphan list; the key schema is in meta.proto. Every
// filesystem operation is one atomic WriteBatch (Commit), written through to
// the OS so that a crash of the server process loses nothing acknowledged.
// Sync() makes committed batches durable; the server calls it after the
// volume's data is durable. Thread-safe; callers serialise conflicting
// read-modify-writes.
#ifndef RBFS_SERVER_STORE_META_STORE_H_
#define RBFS_SERVER_STORE_META_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "server/store/meta.pb.h"

namespace rbfs {

class MetaStore {
 public:
  // Opens (creating if missing) the store in directory `path`.
  // `before_flush` runs before RocksDB persists a memtable, so that the
  // volume's data reaches disk before metadata that points to it. `env`
  // (tests: fault injection) replaces RocksDB's default environment.
  static absl::StatusOr<std::unique_ptr<MetaStore>> Open(
      const std::string& path, std::function<void()> before_flush,
      rocksdb::Env* env = nullptr);
  ~MetaStore();

  // Keys.
  static std::string InodeKey(uint64_t ino);
  static std::string DirentKey(uint64_t parent, absl::string_view name);
  static std::string CookieKey(uint64_t parent, uint64_t cookie);
  static std::string BlockKey(uint64_t ino, uint64_t index);
  static std::string OrphanKey(uint64_t ino);
  // Prefixes of all "B" keys of one inode and all "C" keys of one directory.
  static std::string BlockPrefix(uint64_t ino);
  static std::string CookiePrefix(uint64_t parent);
  static std::string EncodeBlock(uint64_t block);
  static uint64_t DecodeU64(absl::string_view bytes);

  // NotFound if absent.
  absl::StatusOr<meta::Superblock> GetSuperblock() const;
  absl::StatusOr<meta::InodeRecord> GetInode(uint64_t ino) const;
  absl::StatusOr<meta::DirentRecord> GetDirent(uint64_t parent,
                                               absl::string_view name) const;
  // The readdir record of entry `cookie` in `parent`.
  absl::StatusOr<meta::DirentRecord> GetCookieRecord(uint64_t parent,
                                                     uint64_t cookie) const;
  // 0 if the block is a hole.
  absl::StatusOr<uint64_t> GetBlock(uint64_t ino, uint64_t index) const;

  static void PutSuperblock(rocksdb::WriteBatch* batch,
                            const meta::Superblock& sb);
  static void PutInode(rocksdb::WriteBatch* batch, uint64_t ino,
                       const meta::InodeRecord& inode);
  // Adds both the by-name and the by-cookie record.
  static void PutDirent(rocksdb::WriteBatch* batch, uint64_t parent,
                        absl::string_view name, const meta::DirentRecord& d);
  static void DeleteDirent(rocksdb::WriteBatch* batch, uint64_t parent,
                           absl::string_view name, uint64_t cookie);

  absl::Status Commit(rocksdb::WriteBatch* batch);
  // Makes every committed batch durable (fsync of the WAL).
  absl::Status Sync();

  // Calls fn(key_suffix, value) for each key starting with `prefix` at or
  // after `start` (a full key), in order, until fn returns false.
  absl::Status Scan(
      absl::string_view prefix, absl::string_view start,
      const std::function<bool(absl::string_view suffix,
                               absl::string_view value)>& fn) const;

 private:
  MetaStore(rocksdb::DB* db, std::shared_ptr<rocksdb::EventListener> listener)
      : db_(db), listener_(std::move(listener)) {}

  rocksdb::DB* const db_;
  std::shared_ptr<rocksdb::EventListener> listener_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_META_STORE_H_
