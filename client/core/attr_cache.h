// AttrCache: inode attributes as the mount last learnt them, kept to answer
// the kernel's GETATTR without a round trip.
//
// The kernel drops an inode's cached attributes whenever it changes it
// (after every create, unlink or rename in a directory, every write) and
// after every read (atime), and then asks again. Two uses:
// - Take(): one answer within `ttl` of the arrival, for the directories a
//   mutation's reply carries (EntryReply.dirs, ErrReply.dirs); never staler
//   than what the kernel itself would have cached. Used whatever the state
//   of the Watch stream.
// - Get(): while the Watch stream is synced, every change another mount
//   makes arrives as an invalidation that Erase()s the inode, and the
//   mount's own changes Erase() what they touch, so an entry stays true
//   until erased.
// A reply read before an Erase() must not bring old attributes back:
// Put() takes the Ticket() drawn before the call and keeps nothing if the
// inode was erased (or everything cleared) since; an erased inode leaves a
// tombstone saying when, until Forget(). Of two replies for one inode the
// later ctime wins, whatever order they arrive in. Whether an inode has
// extended attributes outlives the mount's own writes (EraseWritten), so
// the kernel's security.capability probe before each write(2) is answered
// here even while other writes to the file are in flight.
//
// Thread safety: every method may be called from any thread; mu_ guards
// everything below it.
#ifndef RBFS_CLIENT_CORE_ATTR_CACHE_H_
#define RBFS_CLIENT_CORE_ATTR_CACHE_H_

#include <cstdint>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "protos/rbfs.pb.h"

namespace rbfs {

class AttrCache {
 public:
  // Take() answers within `ttl`; a zero ttl disables the cache.
  explicit AttrCache(absl::Duration ttl) : ttl_(ttl) {}

  AttrCache(const AttrCache&) = delete;
  AttrCache& operator=(const AttrCache&) = delete;

  // Counts erasures: what Put() compares with.
  uint64_t Ticket() const;
  // Keeps `attr` (received at `now`) unless a later one is kept already or
  // something was erased since `ticket` was drawn.
  void Put(const Attr& attr, absl::Time now, uint64_t ticket);
  // The attributes kept for `ino` if they arrived within ttl of `now`;
  // either way the entry is gone afterwards.
  std::optional<Attr> Take(uint64_t ino, absl::Time now);
  // The attributes kept for `ino`, however old; they stay.
  std::optional<Attr> Get(uint64_t ino) const;
  // Forgets `ino` (its attributes changed or may have).
  void Erase(uint64_t ino);
  // Forgets `ino`'s attributes after the mount's own write, truncation or
  // copy into it, which changed its data, size and times but not its
  // extended attributes: whether it has any stays known.
  void EraseWritten(uint64_t ino);
  // Whether `ino` of `generation` is known to have no extended attributes:
  // the last attributes kept said so, and only EraseWritten or a moved atime
  // erased them since.
  bool KnownWithoutXattrs(uint64_t ino, uint64_t generation) const;
  // Forgets `ino` and its tombstone (the kernel forgot the inode).
  void Forget(uint64_t ino);
  // Forgets `ino` if reading it moves its atime (relatime: the atime is
  // not after both mtime and ctime).
  void EraseIfAtimeMoves(uint64_t ino);
  void Clear();

  size_t size() const;

 private:
  struct Kept {
    // Empty: a tombstone.
    std::optional<Attr> attr;
    absl::Time arrived;
    // The erasure that made it a tombstone.
    uint64_t erased = 0;
    // The generation of the inode the last attributes kept said had no
    // extended attributes; 0: not known.
    uint64_t without_xattrs = 0;
  };

  // Beyond this many entries the expired ones are swept; beyond the second
  // bound everything goes (the kernel caches at most as many inodes as
  // the mount's inode table holds).
  static constexpr size_t kSweepAbove = 1024;
  static constexpr size_t kMaxEntries = size_t{1} << 20;

  // Makes `kept` a tombstone of a new erasure (what it knew of extended
  // attributes stays).
  void TombstoneLocked(Kept& kept) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration ttl_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, Kept> kept_ ABSL_GUARDED_BY(mu_);
  uint64_t erasures_ ABSL_GUARDED_BY(mu_) = 0;
  // The erasure that was the last Clear().
  uint64_t cleared_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_CORE_ATTR_CACHE_H_
