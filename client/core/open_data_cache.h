// OpenDataCache: the contents of small files as their Open replies handed
// them out (OpenRequest.data_up_to), answering the kernel's READs of them
// without a round trip each.
//
// The kernel drops a file's pages at every open that does not keep them and
// whenever it learns a new mtime, which each write through the mount brings;
// so after a write (or a change elsewhere) the next reader's READ goes to
// the server. An Open that asks gets the whole file with its reply instead,
// as one server operation, and the READs of that handle are answered from
// it. The contents are kept per handle, from the open to the release; they
// are as fresh as the kernel's own pages would be: the mount uses them only
// while the Watch stream is synced and while the attributes it keeps for
// the file (AttrCache, erased by every change from this mount or another)
// are still those the contents came with. This class keeps the contents;
// MountCore makes those two checks.
//
// The cache also remembers for which version (size, mtime, ctime) of a
// file the kernel has read the whole file, so an open of a file whose pages
// the kernel still has does not ask for data it would not use.
//
// Thread safety: every method may be called from any thread; mu_ guards
// everything below it.
#ifndef RBFS_CLIENT_CORE_OPEN_DATA_CACHE_H_
#define RBFS_CLIENT_CORE_OPEN_DATA_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "protos/rbfs.pb.h"

namespace rbfs {

class OpenDataCache {
 public:
  // A file's contents and the attributes it had when they were read.
  struct Contents {
    Attr attr;
    std::string data;
  };

  // Keeps at most `max_bytes` of contents at once; 0 keeps none.
  explicit OpenDataCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  OpenDataCache(const OpenDataCache&) = delete;
  OpenDataCache& operator=(const OpenDataCache&) = delete;

  // Whether an open of `ino` should ask for its data: not when there is no
  // room, nor when the kernel has read the whole file at the version
  // `known` (its pages are still there unless memory pressure took them).
  bool Wanted(uint64_t ino, const std::optional<Attr>& known) const;
  // Keeps `data`, the contents of the file `attr` describes, for `handle`,
  // unless that would pass the bound.
  void Keep(uint64_t handle, const Attr& attr, std::string data);
  // What is kept for `handle`; null when nothing.
  std::shared_ptr<const Contents> Find(uint64_t handle) const;
  // `handle` was released.
  void Drop(uint64_t handle);

  // The kernel has read `ino` from its start to its end as `attr` says.
  void ReadWhole(uint64_t ino, const Attr& attr);
  // The kernel forgot `ino`: so did its pages.
  void Forget(uint64_t ino);

  // Bytes of contents kept.
  size_t bytes() const;

 private:
  // Past this many remembered versions all are forgotten (the next opens
  // then ask for data they may not need: harmless).
  static constexpr size_t kMaxReadWhole = size_t{1} << 16;

  const size_t max_bytes_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<const Contents>> by_handle_
      ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Per inode, the version the kernel read whole.
  absl::flat_hash_map<uint64_t, Attr> read_whole_ ABSL_GUARDED_BY(mu_);
};

// Whether `a` and `b` describe the same contents of one inode: generation,
// size, mtime and ctime agree (atime may differ).
bool SameVersion(const Attr& a, const Attr& b);

}  // namespace rbfs

#endif  // RBFS_CLIENT_CORE_OPEN_DATA_CACHE_H_
