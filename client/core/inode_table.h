// InodeTable: what the mount knows about the inodes the kernel holds.
//
// The FUSE node id is the server's inode number; the table adds what the
// kernel does not keep for us: the generation to put in every request (so a
// recycled or restarted id is caught as ESTALE by the server), the lookup
// count the kernel will later forget, the number of open handles (an open
// inode stays known even after the kernel forgot its name) and the file size
// as last known here. An entry lives while the kernel holds a lookup reference
// or a handle is open. The root (ino 1, generation 1) is always present.
#ifndef RBFS_CLIENT_CORE_INODE_TABLE_H_
#define RBFS_CLIENT_CORE_INODE_TABLE_H_

#include <cstdint>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "protos/rbfs.pb.h"

namespace rbfs {

class InodeTable {
 public:
  InodeTable();

  InodeTable(const InodeTable&) = delete;
  InodeTable& operator=(const InodeTable&) = delete;

  // Counts a lookup reference handed to the kernel and adopts the attr's
  // generation and size.
  void Remember(const Attr& attr);

  // Drops `nlookup` references (FUSE forget).
  void Forget(uint64_t ino, uint64_t nlookup);

  // The id to send for a node id; ESTALE if the kernel names an inode the
  // table does not know.
  absl::StatusOr<InodeId> Id(uint64_t ino) const;

  // Adopts fresh attributes (generation, size) without taking a reference.
  void Refresh(const Attr& attr);

  void Opened(uint64_t ino);
  void Released(uint64_t ino);

  // Raises the known size to `end` if it is larger (a write finished).
  void RaiseSize(uint64_t ino, uint64_t end);
  std::optional<uint64_t> Size(uint64_t ino) const;

  size_t size() const;

 private:
  struct Entry {
    uint64_t generation = 0;
    uint64_t lookups = 0;
    uint32_t opens = 0;
    uint64_t size = 0;
  };

  void EraseIfUnused(uint64_t ino) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  // Guards entries_.
  absl::flat_hash_map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_CORE_INODE_TABLE_H_
