// DirAttrCache: directory attributes as this mount's own change left them,
// kept to answer the kernel's next GETATTR of that directory.
//
// The kernel drops a directory's cached attributes after every create,
// unlink, rename or link in it and fetches them again at the next path walk
// (default_permissions needs the mode). The server sends the directories a
// call changed with its reply (EntryReply.dirs, ErrReply.dirs), so that
// GETATTR needs no round trip: one per created file and one per unlink.
//
// Invariants: an entry answers one GETATTR at most and only within `ttl` of
// its arrival (the attribute timeout the kernel itself applies), so it is
// never staler than what the kernel would have cached; of two replies for one
// directory the one with the later ctime wins, whatever order the replies
// arrive in. A zero ttl disables the cache.
#ifndef RBFS_CLIENT_CORE_DIR_ATTR_CACHE_H_
#define RBFS_CLIENT_CORE_DIR_ATTR_CACHE_H_

#include <cstdint>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "protos/rbfs.pb.h"

namespace rbfs {

class DirAttrCache {
 public:
  explicit DirAttrCache(absl::Duration ttl) : ttl_(ttl) {}

  DirAttrCache(const DirAttrCache&) = delete;
  DirAttrCache& operator=(const DirAttrCache&) = delete;

  // Keeps `attr` (received at `now`) unless a later one is kept already.
  void Put(const Attr& attr, absl::Time now);
  // The attributes kept for `ino` if they arrived within ttl of `now`;
  // either way the entry is gone afterwards.
  std::optional<Attr> Take(uint64_t ino, absl::Time now);
  // Forgets `ino` (its attributes are about to change another way).
  void Erase(uint64_t ino);

  size_t size() const;

 private:
  struct Kept {
    Attr attr;
    absl::Time arrived;
  };

  // Entries beyond this many trigger a sweep of the expired ones, so
  // directories whose GETATTR never comes do not pile up.
  static constexpr size_t kSweepAbove = 1024;

  const absl::Duration ttl_;
  mutable absl::Mutex mu_;
  // Guards kept_.
  absl::flat_hash_map<uint64_t, Kept> kept_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_CORE_DIR_ATTR_CACHE_H_
