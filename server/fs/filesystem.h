// Filesystem: POSIX semantics over a BlockDevice (file data) and a MetaStore
// (inodes, directory entries, block maps).
//
// Each mutating operation is one atomic metadata batch; file data is written
// to its blocks before the batch that maps them. Operations on different
// inodes run in parallel under per-inode locks (lock_table.h); writes to
// one file hold its data lock shared and serialise only their short
// metadata update, so non-overlapping writes to one file overlap their I/O.
// Errors are absl::Status values carrying the exact errno (errno_status.h).
//
// The class is defined across files by concern: filesystem.cc (namespace
// operations), file_data.cc (SetAttr/truncate, Read, Write), xattrs.cc
// (extended attributes), acls.cc (POSIX ACLs), locks.cc (advisory locks),
// file_space.cc (fallocate, SEEK_DATA/SEEK_HOLE), filesystem_open_files.cc
// (open counts, orphan reclaim, the sweeper) and volume_open.cc (Open, format,
// rebuild at start, shutdown); the durable high-water mark is a class of its
// own (high_water_mark.h).
#ifndef RBFS_SERVER_FS_FILESYSTEM_H_
#define RBFS_SERVER_FS_FILESYSTEM_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/wire_limits.h"
#include "server/fs/call_log.h"
#include "server/fs/file_locks.h"
#include "server/fs/high_water_mark.h"
#include "server/fs/lock_table.h"
#include "server/fs/session_table.h"
#include "server/store/block_allocator.h"
#include "server/store/block_device.h"
#include "server/store/committer.h"
#include "server/store/meta.pb.h"
#include "server/store/meta_store.h"
#include "server/store/shared_volume.h"
#include "server/store/stores.h"

namespace rbfs {

class FreshBlocks;

// An inode as clients name it.
struct InodeRef {
  uint64_t ino = 0;
  uint64_t generation = 0;
};

struct Entry {
  uint64_t ino = 0;
  meta::InodeRecord inode;
};

// Who creates an inode: its owner, and the creator's umask, which applies
// to the mode asked for unless the directory has a default ACL (whose
// entries mask it instead).
struct Creator {
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t umask = 0;
};

struct SetAttrArgs {
  uint32_t valid = 0;  // SetAttrBits from rbfs.proto
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
};

struct DirItem {
  std::string name;
  uint64_t cookie = 0;
  uint64_t ino = 0;
  uint32_t type = 0;
  meta::InodeRecord inode;  // filled when attributes were asked for
};

struct DirListing {
  uint64_t parent = 0;
  std::vector<DirItem> items;
  bool eof = false;
};

// Who opens: a mount's session and its number for the handle. An untracked
// handle (session 0) is counted anonymously and never expires.
struct OpenHandle {
  uint64_t session = 0;
  uint64_t handle = 0;
  // Re-registers a handle held across a restart: no truncation.
  bool reclaim = false;
  bool tracked() const { return session != 0; }
};

struct KeepAliveResult {
  bool known = false;  // the session held its handles already
  absl::Duration lease;
};

struct FsStats {
  uint32_t block_size = 0;
  uint64_t total_blocks = 0;
  uint64_t free_blocks = 0;
  uint64_t total_inodes = 0;
  uint64_t free_inodes = 0;
};

class Filesystem {
 public:
  static constexpr uint64_t kRootIno = 1;
  static constexpr uint64_t kRootGeneration = 1;
  static constexpr size_t kMaxNameLength = 255;
  static constexpr size_t kMaxSymlinkLength = 4095;
  static constexpr uint64_t kMaxFileSize = uint64_t{1} << 44;  // 16 TiB
  static constexpr uint32_t kMaxIoSize = kMaxIoBytesPerCall;

  struct Options {
    // The volume and the metadata store, by interface only (the server's
    // local pair: server/store/local_stores.h). Both required.
    Stores stores;
    absl::Duration commit_interval = absl::Seconds(1);

    // Test seam for fault injection (server/testing/); unset in the server.
    // Gets the opened volume and returns the device the filesystem uses.
    VolumeWrapper wrap_volume;
    // A session not renewed for this long loses its open handles. After a
    // start, unlinked files are kept this long for mounts to reclaim.
    absl::Duration lease_timeout = absl::Seconds(30);
    // The time of leases, the grace period and file timestamps; unset: the
    // real clock. Must outlive the filesystem.
    const Clock* clock = nullptr;
    // Set when other servers serve the volume at the same time (etcd,
    // --etcd-shared): blocks come from the allocation groups this server
    // claims through it, the free-block bitmap follows its feed, and an
    // orphan is kept by the server that made it (reclaimed by the others
    // one lease after that server is gone). The filesystem stops the feed
    // when it closes.
    std::shared_ptr<SharedVolume> shared;
  };

  // Opens the volume and metadata store; when the store is new, formats
  // the volume for it (a volume that holds rbfs data already is refused).
  // Orphans (unlinked files that were open) left by a previous run are
  // reclaimed one lease later, unless a mount re-registered a handle on
  // them by then.
  static absl::StatusOr<std::unique_ptr<Filesystem>> Open(
      const Options& options);
  ~Filesystem();

  absl::StatusOr<Entry> Lookup(InodeRef parent, absl::string_view name);
  absl::StatusOr<Entry> GetAttr(InodeRef id);
  absl::StatusOr<Entry> SetAttr(InodeRef id, const SetAttrArgs& args);
  // The calls below that change the namespace take the caller's CallRef: a
  // numbered call that already succeeded returns its first result without
  // running again (see call_log.h).
  absl::StatusOr<Entry> MkNod(InodeRef parent, absl::string_view name,
                              uint32_t mode, uint64_t rdev, Creator creator,
                              bool exclusive, bool open,
                              const CallRef& call = {},
                              const OpenHandle& handle = {});
  absl::StatusOr<Entry> MkDir(InodeRef parent, absl::string_view name,
                              uint32_t mode, Creator creator,
                              const CallRef& call = {});
  absl::StatusOr<Entry> Symlink(InodeRef parent, absl::string_view name,
                                absl::string_view target, Creator creator,
                                const CallRef& call = {});
  absl::StatusOr<Entry> Link(InodeRef id, InodeRef new_parent,
                             absl::string_view new_name,
                             const CallRef& call = {});
  absl::Status Unlink(InodeRef parent, absl::string_view name,
                      const CallRef& call = {});
  absl::Status RmDir(InodeRef parent, absl::string_view name,
                     const CallRef& call = {});
  absl::Status Rename(InodeRef parent, absl::string_view name,
                      InodeRef new_parent, absl::string_view new_name,
                      uint32_t flags, const CallRef& call = {});
  absl::StatusOr<std::string> ReadLink(InodeRef id);
  absl::StatusOr<DirListing> ReadDir(InodeRef id, uint64_t cookie,
                                     uint32_t max_entries, bool with_attrs);
  FsStats StatFs();
  absl::Status Fsync(InodeRef id);
  // Counts an opener: an unlinked file keeps its data while opened. A
  // tracked handle is counted once, however often it is opened.
  absl::StatusOr<Entry> Open(InodeRef id, uint32_t flags,
                             const OpenHandle& handle = {});
  // Drops an opener; releasing a tracked handle that is not open is a no-op.
  absl::Status Release(InodeRef id, const OpenHandle& handle = {});
  // Renews `session` (whose renewals come from `peer`, for Status) and
  // forgets its calls numbered below `answered_below`.
  absl::StatusOr<KeepAliveResult> KeepAlive(uint64_t session,
                                            uint64_t answered_below,
                                            absl::string_view peer = "");
  // Appends up to `length` bytes at `offset` to *out; fewer only at EOF.
  // When the read moved the atime (relatime) and `moved` is given, *moved
  // is the inode as the read left it.
  absl::Status Read(InodeRef id, uint64_t offset, uint32_t length,
                    std::string* out,
                    std::optional<meta::InodeRecord>* moved = nullptr);
  // Returns the file size after the write; with `after`, the inode as
  // this write left it. With `kill_suidgid` (a writer without CAP_FSETID)
  // the write drops the set-id bits as Linux does.
  absl::StatusOr<uint64_t> Write(InodeRef id, uint64_t offset,
                                 absl::string_view data,
                                 meta::InodeRecord* after = nullptr,
                                 bool kill_suidgid = false);

  // Space (file_space.cc). fallocate(2) with `mode` 0 or
  // FALLOC_FL_KEEP_SIZE (allocate: the range's holes get blocks of zeros,
  // all reserved first, so ENOSPC changes nothing), FALLOC_FL_PUNCH_HOLE |
  // KEEP_SIZE (blocks wholly inside go back to the pool, the edges' covered
  // bytes become zeros) or FALLOC_FL_ZERO_RANGE (both); other modes
  // EOPNOTSUPP. Returns the inode after it.
  absl::StatusOr<Entry> Fallocate(InodeRef id, uint32_t mode, uint64_t offset,
                                  uint64_t length);
  // copy_file_range(2) on the server: copies up to `length` bytes (at most
  // kMaxCopyBytesPerCall; fewer at the end of `in`) from `in` at `in_offset`
  // to `out` at `out_offset`, as reads and writes there would, so no byte
  // crosses the network. Overlapping ranges of one file are EINVAL. Returns
  // the bytes copied; with `after`, `out` as the copy left it.
  absl::StatusOr<uint64_t> CopyRange(InodeRef in, uint64_t in_offset,
                                     InodeRef out, uint64_t out_offset,
                                     uint64_t length,
                                     meta::InodeRecord* after = nullptr);
  // lseek(2) SEEK_DATA (`hole` false) or SEEK_HOLE from `offset`, by block:
  // ENXIO at or past the end, or (SEEK_DATA) when only holes follow.
  absl::StatusOr<uint64_t> SeekData(InodeRef id, uint64_t offset, bool hole);

  // Extended attributes (xattrs.cc). Names carry their namespace:
  // "user." (regular files and directories only), "trusted.",
  // "security." and the POSIX ACLs "system.posix_acl_access" and
  // "system.posix_acl_default" (posix_acl.h; the kernel enforces them, the
  // server keeps them and the mode consistent); any other is ENOTSUP.
  // Values are raw bytes. Limits: common/wire_limits.h.
  // ENODATA if `name` is not set.
  absl::StatusOr<std::string> GetXattr(InodeRef id, absl::string_view name);
  // The names of the inode's attributes, in name order.
  absl::StatusOr<std::vector<std::string>> ListXattr(InodeRef id);
  // Sets `name` to `value`; `flags` as setxattr(2): XATTR_CREATE (EEXIST if
  // set), XATTR_REPLACE (ENODATA if not). Returns the inode after it.
  absl::StatusOr<Entry> SetXattr(InodeRef id, absl::string_view name,
                                 absl::string_view value, uint32_t flags,
                                 const CallRef& call = {});
  // Removes `name` (ENODATA if not set); returns the inode after it.
  absl::StatusOr<Entry> RemoveXattr(InodeRef id, absl::string_view name,
                                    const CallRef& call = {});

  // Advisory locks (locks.cc; file_locks.h says whose): with `test`
  // (F_GETLK) the first conflicting lock, changing nothing; otherwise
  // (F_SETLK) takes, changes or drops the lock, EAGAIN while another owner
  // holds a conflicting one. During the grace period after a start only a
  // `reclaim` (a lock its mount held before the restart) is granted, so
  // that nobody takes a lock another mount is about to re-assert.
  absl::StatusOr<std::optional<HeldLock>> Lock(InodeRef id,
                                               const LockArgs& args, bool test,
                                               bool reclaim);

  // For the server's metrics.
  const Histogram& commit_latency() const {
    return committer_->commit_latency();
  }
  SessionTable::Counts SessionCounts() const { return sessions_.Count(); }
  std::vector<SessionTable::Info> Sessions() const { return sessions_.List(); }
  absl::Duration lease() const { return sessions_.lease(); }
  // The time by the filesystem's clock (a seam tests control).
  absl::Time Now() const { return clock_->Now(); }
  // The first commit failure; OK while commits succeed.
  absl::Status CommitFailure() const { return committer_->failure(); }

  // Calls `listener` once, from the committing thread, if a commit fails
  // (Committer::SetFailureListener); null stops that.
  void SetCommitFailureListener(
      std::function<void(const absl::Status&)> listener) {
    committer_->SetFailureListener(std::move(listener));
  }

  // Makes everything durable (used at shutdown).
  absl::Status SyncAll();

  uint32_t block_size() const { return blocks_->block_size(); }

  // Runs one sweep now: expires the sessions whose lease ran out by the
  // clock and, once the grace period is over, reclaims the orphans. The
  // sweeper thread does this every lease/4 (within [10 ms, 1 s]); tests
  // that move a fake clock call it to sweep at a moment of their choice.
  void SweepNow();

 private:
  Filesystem(std::unique_ptr<BlockDevice> blocks,
             std::unique_ptr<MetaStore> meta,
             std::unique_ptr<BlockAllocator> allocator,
             std::shared_ptr<SharedVolume> shared, meta::Superblock sb,
             uint64_t next_ino, uint64_t inode_count,
             absl::Duration commit_interval, absl::Duration lease,
             const Clock* clock, absl::Time grace_end);
  // Bumps the superblock's epoch (formatting a new store first) in one
  // batch guarded by what it read, so that servers starting together on
  // one store do not undo each other's changes; `shared`: raises the
  // high-water mark to the end for good.
  static absl::StatusOr<meta::Superblock> StartEpoch(
      MetaStore* meta, const BlockDevice& device, uint64_t volume_id,
      bool zeroed, bool shared, const std::string& volume_path,
      const std::string& meta_path, const Clock* clock);

  int64_t NowNs() const { return absl::ToUnixNanos(Now()); }

  // Namespace (filesystem.cc).
  absl::StatusOr<meta::InodeRecord> Load(InodeRef id) const;
  absl::StatusOr<meta::InodeRecord> LoadDir(InodeRef id) const;
  // Links a new inode `node` as `name` in `parent`; `umask` as
  // Creator's.
  absl::StatusOr<Entry> CreateNode(InodeRef parent, absl::string_view name,
                                   meta::InodeRecord node, uint32_t umask,
                                   bool exclusive, bool open,
                                   const CallRef& call,
                                   const OpenHandle& handle);
  // Link and Rename without the call log.
  absl::StatusOr<Entry> ApplyLink(InodeRef id, InodeRef new_parent,
                                  absl::string_view new_name,
                                  const CallRef& call);
  absl::Status ApplyRename(InodeRef parent, absl::string_view name,
                           InodeRef new_parent, absl::string_view new_name,
                           uint32_t flags, const CallRef& call);
  // ApplyRename once the names are valid and, for a move between
  // directories, under rename_mu_. Returns the inode that lost its last
  // link (0 if none), for the caller to reclaim after the locks.
  absl::StatusOr<uint64_t> RenameEntries(InodeRef parent,
                                         absl::string_view name,
                                         InodeRef new_parent,
                                         absl::string_view new_name,
                                         uint32_t flags, const CallRef& call);
  // Unlink (a non-directory) or RmDir (an empty directory) of `name`.
  absl::Status RemoveEntry(InodeRef parent, absl::string_view name,
                           bool directory, const CallRef& call);
  // Runs `op` unless `call` already succeeded; then answers its record.
  // `op` runs optimistically (below).
  absl::StatusOr<Entry> RunEntryOnce(
      const CallRef& call, const std::function<absl::StatusOr<Entry>()>& op);
  absl::Status RunOnce(const CallRef& call,
                       const std::function<absl::Status()>& op);
  // Runs `op` inside a MetaReadScope, and again while its commit finds that
  // another server changed a record it read (ABORTED), up to
  // kConflictAttempts times with a short random pause between.
  absl::Status RunOptimistically(const std::function<absl::Status()>& op);
  absl::StatusOr<Entry> RunEntryOptimistically(
      const std::function<absl::StatusOr<Entry>()>& op);
  // An inode number nobody else has: from this server's range, reserved in
  // the store kInodesPerReservation at a time.
  absl::StatusOr<uint64_t> NewInodeNumber();
  // Removes the name `name` (of child `d`) from `dir` in `batch`, updating
  // both records; returns true if the child lost its last link.
  bool DropLink(MetaBatch* batch, uint64_t dir_ino, meta::InodeRecord* dir,
                absl::string_view name, const meta::DirentRecord& d,
                meta::InodeRecord* child, int64_t now);
  absl::StatusOr<bool> IsAncestor(uint64_t ancestor, uint64_t ino) const;
  absl::Status Commit(MetaBatch* batch);

  // File data (file_data.cc).
  // Fallocate with the inode's locks held, in one optimistic attempt.
  absl::StatusOr<Entry> FallocateLocked(InodeRef id, uint32_t mode,
                                        uint64_t offset, uint64_t length);
  // SetAttr with the inode's data lock held (exclusively for a truncation),
  // in one optimistic attempt.
  absl::StatusOr<Entry> SetAttrLocked(InodeRef id, const SetAttrArgs& args,
                                      InodeLock* lock);
  // Cuts the file `id` (record *r) to `size` in `batch`, adding the blocks
  // it no longer maps to *freed.
  absl::Status Truncate(InodeRef id, uint64_t size, meta::InodeRecord* r,
                        MetaBatch* batch, std::vector<uint64_t>* freed);
  // Allocates `count` blocks into *fresh (after a sync that makes freed
  // blocks usable, or claiming allocation groups when shared, if the first
  // try finds too few) and raises the
  // high-water mark over them; returns whether any lay below it (so may
  // hold a deleted file's bytes).
  absl::StatusOr<bool> AllocateFresh(size_t count, FreshBlocks* fresh);
  // Unmaps every block of `ino` from index `first` on in `batch`, adding
  // the physical blocks to *freed (to be freed once the batch committed).
  absl::Status UnmapBlocks(uint64_t ino, uint64_t first, MetaBatch* batch,
                           std::vector<uint64_t>* freed);

  // Extended attributes (xattrs.cc): the inode whose attribute `name` is
  // to change (EPERM for a user attribute where Linux allows none); with
  // its meta lock held.
  absl::StatusOr<meta::InodeRecord> LoadForXattrChange(
      InodeRef id, absl::string_view name) const;
  // The value of attribute `name` of `ino` (record `r`), if it is set.
  absl::StatusOr<std::optional<std::string>> StoredXattr(
      uint64_t ino, const meta::InodeRecord& r, absl::string_view name) const;
  // Sets `name` of `ino` to `value` (removes it with nullopt) in `batch`,
  // its value having been `old`, and counts the change in *r. ENOSPC past
  // the per-inode limits, with nothing staged.
  static absl::Status StageXattr(MetaBatch* batch, uint64_t ino,
                                 meta::InodeRecord* r, absl::string_view name,
                                 const std::optional<std::string>& old,
                                 std::optional<absl::string_view> value);

  // POSIX ACLs (acls.cc), kept as the two "system.posix_acl_" attributes,
  // consistent with the mode. A set of one: validates it (EINVAL; EACCES
  // for a default ACL of a non-directory, ENOTSUP on a symlink) and stages
  // it with the mode it implies; an access ACL the mode says all of is
  // not kept.
  absl::Status StageAclSet(MetaBatch* batch, uint64_t ino, meta::InodeRecord* r,
                           absl::string_view name, absl::string_view value,
                           const std::optional<std::string>& old);
  // After *r's mode changed (chmod): rewrites its access ACL, if any.
  absl::Status StageAclChmod(MetaBatch* batch, uint64_t ino,
                             meta::InodeRecord* r);
  // A new inode `ino` (*node, the mode asked for) in directory `dir_ino`:
  // with the directory's default ACL, masks the mode by it, gives the
  // inode its access ACL and, for a directory, the default; without one,
  // applies `umask`.
  absl::Status StageInheritedAcls(MetaBatch* batch, uint64_t dir_ino,
                                  const meta::InodeRecord& dir, uint32_t umask,
                                  uint64_t ino, meta::InodeRecord* node);
  // Deletes every attribute of `ino` (record `r`) in `batch`, when the
  // inode goes.
  absl::Status DropXattrs(uint64_t ino, const meta::InodeRecord& r,
                          MetaBatch* batch);

  // Open files, orphans and the sweeper (filesystem_open_files.cc).
  // Counts an opener of `ino`; a tracked handle only the first time.
  void CountOpen(uint64_t ino, const OpenHandle& handle);
  // Drops an opener of `ino` and reclaims it if it was the last of an
  // unlinked inode.
  absl::Status DropOpen(uint64_t ino);
  bool IsOpen(uint64_t ino);
  // Frees an unlinked inode's blocks and record once nobody has it open;
  // during the grace period after a start, leaves it to the sweep.
  absl::Status ReclaimIfUnused(uint64_t ino);
  // ReclaimIfUnused after the grace period, in one optimistic attempt.
  absl::Status ReclaimUnused(uint64_t ino);
  absl::Status ReclaimOrphans();
  // Shared: reclaims the orphans whose keeper has been gone for a lease
  // (its mounts had that long to re-open them here), unless open here.
  absl::Status ReclaimDepartedOrphans()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(sweep_run_mu_);
  void SweepLoop();

  std::unique_ptr<BlockDevice> blocks_;
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<BlockAllocator> allocator_;
  const std::shared_ptr<SharedVolume> shared_;
  std::unique_ptr<Committer> committer_;
  const meta::Superblock superblock_;
  HighWaterMark high_water_;
  LockTable locks_;
  static constexpr uint64_t kInodesPerReservation = 1024;
  // The inode numbers this server may still hand out, [next_ino_,
  // reserved_end_).
  absl::Mutex ino_mu_;
  uint64_t next_ino_ ABSL_GUARDED_BY(ino_mu_);
  uint64_t reserved_end_ ABSL_GUARDED_BY(ino_mu_);
  // The inodes this server knows of: all of them unless another server
  // shares the store.
  std::atomic<uint64_t> inode_count_;

  // Serialises renames that move an entry between directories, so that the
  // ancestor check and the lock order it picks see a stable tree.
  absl::Mutex rename_mu_;

  absl::Mutex open_mu_ ABSL_ACQUIRED_AFTER(rename_mu_);
  // Openers per inode; counts live only in memory: after a restart the
  // mounts re-register their handles within the grace period.
  absl::flat_hash_map<uint64_t, uint32_t> open_counts_
      ABSL_GUARDED_BY(open_mu_);

  SessionTable sessions_;
  CallLog calls_;
  FileLocks file_locks_;
  const Clock* const clock_;
  // Until then, unlinked inodes are not freed: a mount of the previous run
  // may still hold them open and re-register its handles.
  const absl::Time grace_end_;

  // Serialises sweeps (the sweeper thread's and SweepNow's).
  absl::Mutex sweep_run_mu_ ABSL_ACQUIRED_BEFORE(open_mu_);
  // Whether the orphans left by the previous run were reclaimed.
  bool grace_swept_ ABSL_GUARDED_BY(sweep_run_mu_) = false;
  // Shared: when each orphan was first seen with its keeper gone.
  absl::flat_hash_map<uint64_t, absl::Time> departed_orphans_
      ABSL_GUARDED_BY(sweep_run_mu_);

  absl::Mutex sweep_mu_;
  bool stopping_ ABSL_GUARDED_BY(sweep_mu_) = false;
  std::thread sweeper_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_FS_FILESYSTEM_H_
