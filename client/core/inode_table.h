// InodeTable: what the mount knows about the inodes the kernel holds.
//
// The FUSE node id is the server's inode number; the table adds what the
// kernel does not keep for us: the generation to put in every request (so a
// recycled or restarted id is caught as ESTALE by the server), the lookup
// count the kernel will later forget, the number of open handles (an open
// inode stays known even after the kernel forgot its name) and the file size
// as last known here. An entry lives while the kernel holds a lookup reference
// or a handle is open. The root (ino 1, generation 1) is always present.
//
// An Observer hears when an entry comes and goes (what the mount holds on
// the Watch stream), under the table's lock, so that the two reach it in the
// order they happened; it must only queue, never call back into the table.
#ifndef RBFS_CLIENT_CORE_INODE_TABLE_H_
#define RBFS_CLIENT_CORE_INODE_TABLE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "protos/rbfs.pb.h"

namespace rbfs {

class InodeTable {
 public:
  class Observer {
   public:
    virtual ~Observer() = default;
    // `ino` entered the table from a reply read at `as_of`.
    virtual void Entered(uint64_t ino, uint64_t as_of) = 0;
    virtual void Left(uint64_t ino) = 0;
  };

  InodeTable();

  InodeTable(const InodeTable&) = delete;
  InodeTable& operator=(const InodeTable&) = delete;

  // Set before the table is used from several threads; may stay null.
  void SetObserver(Observer* observer) { observer_ = observer; }

  // Counts a lookup reference handed to the kernel and adopts the attr's
  // generation and size; `as_of` is the reply's (rbfs.proto EntryReply).
  void Remember(const Attr& attr, uint64_t as_of = 0);

  // Drops `nlookup` references (FUSE forget).
  void Forget(uint64_t ino, uint64_t nlookup);

  // The id to send for a node id; ESTALE if the kernel names an inode the
  // table does not know.
  absl::StatusOr<InodeId> Id(uint64_t ino) const;

  // Adopts fresh attributes (generation, size) without taking a reference.
  void Refresh(const Attr& attr);

  void Opened(uint64_t ino);
  void Released(uint64_t ino);

  // A write finished: raises the known size to `end` if it is larger, and
  // the inode counts as written since its last fsync.
  void RaiseSize(uint64_t ino, uint64_t end);
  std::optional<uint64_t> Size(uint64_t ino) const;
  // Whether `ino` was written since its last fsync (or since this last said
  // so); clears that.
  bool TakeWritten(uint64_t ino);
  // An fsync of `ino` answered: what was written is no longer pending.
  void Synced(uint64_t ino);

  size_t size() const;
  // Every node id in the table.
  std::vector<uint64_t> Inodes() const;

 private:
  struct Entry {
    uint64_t generation = 0;
    uint64_t lookups = 0;
    uint32_t opens = 0;
    uint64_t size = 0;
    // Written since the last fsync or TakeWritten: a commit failure the
    // server reports is this inode's to report at its next close.
    bool written = false;
  };

  void EraseIfUnused(uint64_t ino) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Observer* observer_ = nullptr;
  mutable absl::Mutex mu_;
  // Guards entries_.
  absl::flat_hash_map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_CORE_INODE_TABLE_H_
