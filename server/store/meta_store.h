// MetaStore: the interface of the server's crash-safe metadata store, the
// seam between the filesystem and a backend (RocksDB in rocks_meta_store.h,
// etcd in etcd_meta_store.h), both keeping the key schema of meta_keys.h.
//
// The store holds the superblock, inodes, directory entries (by name and by
// cookie), block maps, the orphan list, the call records and extended
// attributes (meta.proto).
// Every filesystem operation is one atomic MetaBatch (Commit), which reaches
// the store's medium before Commit returns, so that a crash of the server
// process loses nothing acknowledged; Sync() makes committed batches
// durable against a power cut. The server syncs the volume's data before
// the metadata that points to it. Implementations are thread-safe.
//
// Conflicting read-modify-writes: one server serialises its own (LockTable).
// Several servers on one store (etcd) also rely on optimistic concurrency:
// inside a MetaReadScope, Commit fails with ABORTED, applying nothing, when
// a record read on this thread since the scope began (or since the thread's
// previous Commit in it) has changed since it was read; the caller reruns
// the whole operation. A store with one user (RocksDB, whose lock ensures
// that) never fails so.
#ifndef RBFS_SERVER_STORE_META_STORE_H_
#define RBFS_SERVER_STORE_META_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/store/meta.pb.h"

namespace rbfs {

// Changes to apply atomically, made by MetaStore::NewBatch. Later changes
// to the same record replace earlier ones.
class MetaBatch {
 public:
  virtual ~MetaBatch() = default;

  virtual void PutSuperblock(const meta::Superblock& sb) = 0;
  virtual void PutInode(uint64_t ino, const meta::InodeRecord& inode) = 0;
  virtual void DeleteInode(uint64_t ino) = 0;
  // Adds the entry `name` of `parent`, found by name and by d.cookie().
  virtual void PutDirent(uint64_t parent, absl::string_view name,
                         const meta::DirentRecord& d) = 0;
  virtual void DeleteDirent(uint64_t parent, absl::string_view name,
                            uint64_t cookie) = 0;
  // Maps block `index` of `ino` to physical block `block`.
  virtual void PutBlock(uint64_t ino, uint64_t index, uint64_t block) = 0;
  virtual void DeleteBlock(uint64_t ino, uint64_t index) = 0;
  // An orphan: unlinked, its record kept while open (see Filesystem);
  // `holder` names the server that keeps it when several serve the volume
  // (SharedVolume::member), else empty.
  virtual void PutOrphan(uint64_t ino, absl::string_view holder) = 0;
  virtual void DeleteOrphan(uint64_t ino) = 0;
  virtual void PutCall(uint64_t session, uint64_t seq,
                       const meta::CallRecord& record) = 0;
  virtual void DeleteCall(uint64_t session, uint64_t seq) = 0;
  // The extended attribute `name` of `ino` (the value's raw bytes).
  virtual void PutXattr(uint64_t ino, absl::string_view name,
                        absl::string_view value) = 0;
  virtual void DeleteXattr(uint64_t ino, absl::string_view name) = 0;
};

class MetaStore {
 public:
  virtual ~MetaStore() = default;

  // NotFound if absent.
  virtual absl::StatusOr<meta::Superblock> GetSuperblock() const = 0;
  virtual absl::StatusOr<meta::InodeRecord> GetInode(uint64_t ino) const = 0;
  virtual absl::StatusOr<meta::DirentRecord> GetDirent(
      uint64_t parent, absl::string_view name) const = 0;
  virtual absl::StatusOr<meta::CallRecord> GetCall(uint64_t session,
                                                   uint64_t seq) const = 0;
  // NotFound if `ino` has no attribute `name`.
  virtual absl::StatusOr<std::string> GetXattr(
      uint64_t ino, absl::string_view name) const = 0;
  // 0 if the block is a hole.
  virtual absl::StatusOr<uint64_t> GetBlock(uint64_t ino,
                                            uint64_t index) const = 0;
  // Blocks [first, first + count) of `ino`, 0 for each hole: one range read
  // for a request's blocks instead of one read each.
  virtual absl::StatusOr<std::vector<uint64_t>> GetBlocks(
      uint64_t ino, uint64_t first, uint64_t count) const = 0;

  // Each ForEach calls fn in key order (numeric, as listed) until it
  // returns false. Every inode number; every orphan, with its holder
  // (MetaBatch::PutOrphan).
  virtual absl::Status ForEachInode(
      const std::function<bool(uint64_t ino)>& fn) const = 0;
  virtual absl::Status ForEachOrphan(
      const std::function<bool(uint64_t ino, absl::string_view holder)>& fn)
      const = 0;
  // Every mapped block of every inode, by inode and index.
  virtual absl::Status ForEachBlock(
      const std::function<bool(uint64_t ino, uint64_t index, uint64_t block)>&
          fn) const = 0;
  // The mapped blocks of `ino` from index `first` on.
  virtual absl::Status ForEachBlockOf(
      uint64_t ino, uint64_t first,
      const std::function<bool(uint64_t index, uint64_t block)>& fn) const = 0;
  // The entries of directory `parent` from cookie `first` on, in cookie
  // order, each with its name set. EIO if a record is unreadable.
  virtual absl::Status ForEachDirent(
      uint64_t parent, uint64_t first,
      const std::function<bool(const meta::DirentRecord& d)>& fn) const = 0;
  // Every call record, by session and number; those of one session.
  virtual absl::Status ForEachCall(
      const std::function<bool(uint64_t session, uint64_t seq)>& fn) const = 0;
  virtual absl::Status ForEachCallOf(
      uint64_t session, const std::function<bool(uint64_t seq)>& fn) const = 0;

  // The extended attributes of `ino`, in name order; of every inode.
  virtual absl::Status ForEachXattrOf(
      uint64_t ino,
      const std::function<bool(absl::string_view name,
                               absl::string_view value)>& fn) const = 0;
  virtual absl::Status ForEachXattr(
      const std::function<bool(uint64_t ino, absl::string_view name,
                               absl::string_view value)>& fn) const = 0;

  // The raw records whose keys (meta_keys.h) start with `prefix`, from key
  // `start` on, in key order: fn(key without the prefix, value) until it
  // returns false. For the offline checker, which verifies that layout
  // itself (each entry's two records) and records too broken to decode.
  virtual absl::Status Scan(
      absl::string_view prefix, absl::string_view start,
      const std::function<bool(absl::string_view suffix,
                               absl::string_view value)>& fn) const = 0;

  virtual std::unique_ptr<MetaBatch> NewBatch() = 0;
  // Applies `batch` (made by this store's NewBatch) atomically. ABORTED:
  // a conflict (see above), nothing applied.
  virtual absl::Status Commit(MetaBatch* batch) = 0;
  // Makes every committed batch durable.
  virtual absl::Status Sync() = 0;

  // Reserves `count` consecutive inode numbers, none below `floor`, that no
  // other user of the store was or will be given, and returns the first.
  // Numbers reserved but never used are simply skipped.
  virtual absl::StatusOr<uint64_t> ReserveInodes(uint64_t floor,
                                                 uint64_t count) = 0;

 protected:
  friend class MetaReadScope;
  // Start and end tracking this thread's reads (MetaReadScope; nested
  // scopes count as the outermost). A store that cannot conflict ignores
  // them.
  virtual void BeginReads() {}
  virtual void EndReads() {}
};

// The reads of one filesystem operation on the calling thread, which its
// commits are guarded by (see MetaStore).
class MetaReadScope {
 public:
  explicit MetaReadScope(MetaStore* store) : store_(store) {
    store_->BeginReads();
  }
  ~MetaReadScope() { store_->EndReads(); }
  MetaReadScope(const MetaReadScope&) = delete;
  MetaReadScope& operator=(const MetaReadScope&) = delete;

 private:
  MetaStore* const store_;
};

// Where a metadata store lives and how to open it.
class MetaStoreFactory {
 public:
  virtual ~MetaStoreFactory() = default;

  // Whether a store was created there already; if not, Open creates one.
  // An error when that cannot be told (a store out of reach).
  virtual absl::StatusOr<bool> Exists() const = 0;
  // Opens (creating if missing) the store. `before_flush` runs before the
  // store persists committed batches that may map blocks, so that the
  // volume's data reaches disk before metadata that points to it: before
  // RocksDB flushes on its own initiative, before each such etcd commit
  // (which its error then fails).
  virtual absl::StatusOr<std::unique_ptr<MetaStore>> Open(
      std::function<absl::Status()> before_flush) const = 0;
  // For messages: where the store is.
  virtual std::string location() const = 0;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_META_STORE_H_
