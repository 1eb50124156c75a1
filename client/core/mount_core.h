// MountCore: the operations of rbfs-mount, without FUSE (mount_core.cc;
// extended attributes in mount_core_xattr.cc, locks in
// mount_core_locks.cc).
//
// Each method is one kernel operation turned into RPCs to rbfs-server, with
// plain arguments (node ids, names, the caller's uid/gid) and a plain result:
// the server's exact errno as an absl::Status, or the protobuf attributes,
// handle or listing the FUSE adapter (client/fuse/fuse_ops.h) converts and
// replies. The node id is the server's inode number; the InodeTable supplies
// generations, lookup and open counts, and a node id it does not know is
// ESTALE. Metadata operations block the calling thread; Read and Write start
// an IoContext whose chunks travel as asynchronous calls and return at once,
// the result arriving through a callback from the thread that completed the
// last chunk.
//
// Reference counting: every successful entry-returning method (Lookup, MkNod,
// MkDir, Symlink, Link, Create, and each ReadDir entry with attributes) has
// counted one lookup reference for the kernel; when the kernel never gets the
// reply the adapter gives it back with Forget (or CancelCreate). Open and
// Create count an open handle until Release (or CancelOpen/CancelCreate).
//
// Thread safety: every method may be called from any thread at once; the
// tables guard themselves and requests_mu_ guards the count of unanswered
// reads and writes. No lock is held across an RPC or a callback.
#ifndef RBFS_CLIENT_CORE_MOUNT_CORE_H_
#define RBFS_CLIENT_CORE_MOUNT_CORE_H_

#include <sys/types.h>
#include <time.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/core/attr_cache.h"
#include "client/core/buffer_pool.h"
#include "client/core/cache_coherence.h"
#include "client/core/inflight_limiter.h"
#include "client/core/inode_table.h"
#include "client/core/io_context.h"
#include "client/core/open_data_cache.h"
#include "client/core/serial_worker.h"
#include "client/rpc/client_session.h"
#include "client/rpc/rpc_client.h"
#include "common/lock_set.h"
#include "common/metrics/metrics.h"
#include "protos/rbfs.pb.h"

namespace rbfs {

// One advisory lock request of the kernel (the server arbitrates among
// mounts: LockRequest in protos/rbfs.proto).
struct LockSpec {
  // A flock lock (whole file); else a POSIX byte-range lock.
  bool flock = false;
  // The kernel's lock owner.
  uint64_t owner = 0;
  // F_RDLCK, F_WRLCK or F_UNLCK.
  uint32_t type = 0;
  uint64_t start = 0;
  // Inclusive; kLockToEnd (common/lock_set.h) for "to the end".
  uint64_t end = 0;
  uint32_t pid = 0;
};

// The attribute changes of a setattr.
struct AttrChanges {
  // SetAttrRequest.valid bits: which fields below apply.
  uint32_t valid = 0;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  timespec atime = {};
  timespec mtime = {};
};

// An open the server acknowledged.
struct OpenedFile {
  // The id the open was sent with, to release it by.
  InodeId id;
  uint64_t handle = 0;
  // The server's attributes differ from those the mount last knew (or it
  // knew none): what the kernel caches of the file may predate another
  // mount's close, whose invalidation may still be on its way.
  bool changed = true;
};

// A file created and opened in one call.
struct CreatedFile {
  Attr attr;
  uint64_t handle = 0;
};

// One directory entry offered to the kernel's buffer by ReadDir.
struct DirSlot {
  const char* name;
  uint64_t ino;
  // S_IFMT bits.
  uint32_t type;
  // readdirplus with attributes from the server: the entry carries them and
  // the kernel takes a lookup reference. Null otherwise ("." and "..", plain
  // readdir, entries the server sent without attributes).
  const Attr* attr;
  // The offset the kernel passes to continue after this entry.
  off_t next_offset;
};

// Places one entry in the kernel's buffer; false when it does not fit.
using DirFiller = absl::FunctionRef<bool(const DirSlot& slot)>;

class MountCore {
 public:
  // F_SETLKW's pause between tries, doubling from the first to the last.
  static constexpr absl::Duration kLockRetryFirst = absl::Milliseconds(1);
  static constexpr absl::Duration kLockRetryMax = absl::Milliseconds(50);

  struct Options {
    // Bytes per chunk RPC, a multiple of the server's block size.
    uint32_t chunk_size = 0;
    // Chunk RPCs in flight at once, mount-wide.
    uint32_t max_inflight = 0;
    // Regular files up to this many bytes opened for reading through the
    // page cache come whole with their Open reply (open_data_cache.h);
    // 0: never.
    uint32_t open_data_up_to = 0;
    // The kernel's timeouts, long while the Watch stream is synced. The
    // fallback one also bounds how long directory attributes that came
    // with a reply may answer the next GetAttr.
    CacheCoherence::Options cache;
  };

  MountCore(const Options& options, RpcClient* rpc, ClientSession* session);

  MountCore(const MountCore&) = delete;
  MountCore& operator=(const MountCore&) = delete;

  // Waits until no read or write is in flight and the background calls
  // (opens, releases) are done, or `timeout` passes, so the FUSE session is
  // not destroyed under a pending reply.
  bool WaitIdle(absl::Duration timeout);

  absl::StatusOr<Attr> Lookup(uint64_t parent, absl::string_view name);
  // Drops `nlookup` kernel references.
  void Forget(uint64_t ino, uint64_t nlookup);
  absl::StatusOr<Attr> GetAttr(uint64_t ino);
  absl::StatusOr<Attr> SetAttr(uint64_t ino, const AttrChanges& changes,
                               const Caller& caller);
  absl::StatusOr<std::string> ReadLink(uint64_t ino);
  absl::StatusOr<Attr> MkNod(uint64_t parent, absl::string_view name,
                             uint32_t mode, uint64_t rdev,
                             const Caller& caller);
  absl::StatusOr<Attr> MkDir(uint64_t parent, absl::string_view name,
                             uint32_t mode, const Caller& caller);
  absl::Status Unlink(uint64_t parent, absl::string_view name);
  absl::Status RmDir(uint64_t parent, absl::string_view name);
  absl::StatusOr<Attr> Symlink(absl::string_view target, uint64_t parent,
                               absl::string_view name, const Caller& caller);
  // `flags`: RENAME_NOREPLACE, RENAME_EXCHANGE; anything else is EINVAL.
  absl::Status Rename(uint64_t parent, absl::string_view name,
                      uint64_t new_parent, absl::string_view new_name,
                      uint32_t flags);
  absl::StatusOr<Attr> Link(uint64_t ino, uint64_t new_parent,
                            absl::string_view new_name);

  // Opens `ino` with open(2) `flags` under a fresh handle.
  absl::StatusOr<OpenedFile> Open(uint64_t ino, uint32_t flags,
                                  const Caller& caller);
  // Undoes an Open whose reply the kernel never received (the opener was
  // interrupted): no release will come for it.
  void CancelOpen(uint64_t ino, const OpenedFile& file);
  // Creates a regular file with permission bits `mode` and opens it;
  // O_EXCL in `flags` makes an existing name EEXIST.
  absl::StatusOr<CreatedFile> Create(uint64_t parent, absl::string_view name,
                                     uint32_t mode, uint32_t flags,
                                     const Caller& caller);
  // Undoes a Create whose reply the kernel never received: its lookup
  // reference and its handle.
  void CancelCreate(const CreatedFile& file);
  // The kernel closed `handle`; the server is told in the background, a
  // failure only logged.
  void Release(uint64_t ino, uint64_t handle);
  absl::Status Fsync(uint64_t ino);
  // A close of `ino` (FUSE flush). Every write reached the server before it
  // returned; what may still fail is the server's commit of it. If the
  // server has said its commits fail (CacheCoherence::commit_error) and
  // `ino` was written since its last fsync (while the kernel held it), that
  // errno, once.
  absl::Status Flush(uint64_t ino);

  // Lists directory `ino` from the kernel's `offset` into a buffer of
  // `buffer_bytes`, calling `add` for each entry until it reports the buffer
  // full or the directory ends ("." and ".." first, at offsets 1 and 2).
  // Fails only if no entry was added; otherwise the entries added stand and
  // an error shows on the next call.
  absl::Status ReadDir(uint64_t ino, off_t offset, size_t buffer_bytes,
                       bool plus, DirFiller add);
  absl::StatusOr<StatFsReply> StatFs();

  // Extended attributes (common/xattr_name.h says which names). While the
  // Watch stream is synced and the kept attributes say the inode has none,
  // GetXattr (ENODATA) and ListXattr (no names) answer without the server:
  // the kernel asks for "security.capability" before every write.
  absl::StatusOr<std::string> GetXattr(uint64_t ino, absl::string_view name);
  // The names, each ended by a NUL, as listxattr(2) gives them.
  absl::StatusOr<std::string> ListXattr(uint64_t ino);
  // `flags`: XATTR_CREATE, XATTR_REPLACE.
  absl::Status SetXattr(uint64_t ino, absl::string_view name,
                        absl::string_view value, uint32_t flags);
  absl::Status RemoveXattr(uint64_t ino, absl::string_view name);

  // Starts a read of `size` bytes at `offset` through open `handle`.
  // Unless it fails at once (ESTALE), `done` runs exactly once from the
  // thread that completes the last chunk (the caller's, when the contents
  // kept with the open answer it); the context's Gather() gives the data
  // while it runs.
  absl::Status Read(uint64_t ino, uint64_t handle, uint64_t offset, size_t size,
                    IoContext::Finisher done);
  // Starts a write of data[0, size) at `offset`; `data` may be reused when
  // this returns. As Read; a write that transferred bytes has raised the
  // known file size before `done` runs. With `kill_suidgid` (the writer
  // lacks CAP_FSETID) the server drops the file's set-id bits with it.
  absl::Status Write(uint64_t ino, uint64_t offset, const char* data,
                     size_t size, IoContext::Finisher done,
                     bool kill_suidgid = false);

  // fallocate(2) of [offset, offset + length) with `mode` (FallocateRequest
  // says which); the file's attributes after it are kept.
  absl::Status Fallocate(uint64_t ino, uint32_t mode, uint64_t offset,
                         uint64_t length);
  // copy_file_range(2), carried out by the server; the bytes copied (fewer
  // than asked at the end of `in` or past kMaxCopyBytesPerCall). The out
  // file's attributes after it are kept.
  absl::StatusOr<size_t> CopyRange(uint64_t in, uint64_t in_offset,
                                   uint64_t out, uint64_t out_offset,
                                   size_t length);
  // lseek(2) SEEK_DATA or SEEK_HOLE (`whence`) from `offset`.
  absl::StatusOr<uint64_t> Seek(uint64_t ino, uint64_t offset, uint32_t whence);

  // Advisory locks (mount_core_locks.cc). F_GETLK: the first lock of
  // another owner, anywhere, that `spec` conflicts with (type F_UNLCK if
  // none).
  absl::StatusOr<LockReply> TestLock(uint64_t ino, const LockSpec& spec);
  // F_SETLK, or with `wait` F_SETLKW: repeated while another owner holds
  // a conflicting lock, backing off from kLockRetryFirst to kLockRetryMax,
  // until granted or `interrupted()` (checked between tries) says the
  // caller gave up: EINTR.
  absl::Status SetLock(uint64_t ino, const LockSpec& spec, bool wait,
                       absl::FunctionRef<bool()> interrupted);
  // `owner` closed the file (its POSIX locks) or released it (its flock):
  // drops what it holds there, without a call when it holds nothing.
  void UnlockAll(uint64_t ino, bool flock, uint64_t owner);

  // Requests the mount answered from what it keeps (hits) and those it
  // asked the server for (misses), by kind: GETATTR from the AttrCache,
  // READ from a file's open data, getxattr/listxattr of an inode known to
  // have none. For the mount's metrics.
  struct CacheAnswers {
    Counter attr_hits, attr_misses;
    Counter data_hits, data_misses;
    Counter xattr_hits, xattr_misses;
  };
  const CacheAnswers& cache_answers() const { return answers_; }
  // The chunk transfers in flight and queued.
  const InflightLimiter& limiter() const { return limiter_; }

  // What the mount knows of the kernel's inodes, for tests.
  const InodeTable& inodes() const { return inodes_; }
  // When the kernel may keep what a reply tells it.
  CacheCoherence& coherence() { return coherence_; }

 private:
  // A call numbered by the session, so that it may be repeated; the
  // directories its reply carries go to the dir-attr cache.
  template <typename Request, typename Reply>
  absl::Status NumberedCall(grpc::Status (Rbfs::StubInterface::*method)(
                                grpc::ClientContext*, const Request&, Reply*),
                            Request& request, Reply* reply);
  // A successful entry reply's attributes, with a lookup reference counted
  // and the attributes kept (`ticket`: drawn before the call).
  absl::StatusOr<Attr> Remembered(const absl::Status& status,
                                  const EntryReply& reply, uint64_t ticket);
  // Forgets the kept attributes of the inode `name` in `parent` named (a
  // removal or rename changed them), or all if it is not known.
  void EraseChild(uint64_t parent, absl::string_view name);
  // Waits for the releases already queued: an unlink or a rename over a
  // file this mount just closed must find it closed on the server, or its
  // space stays taken until the release arrives (a write right after `rm`
  // could see ENOSPC).
  void ReleasesFirst();
  // What an Unlink's or RmDir's `status` means for KnownDirs, the kept
  // attributes and the remembered names.
  void AfterRemoval(uint64_t parent, absl::string_view name,
                    const absl::Status& status);
  // Keeps KnownDirs exact after a call that made `name` in `dir` exist
  // (or not) if it succeeded; forgets `dir` when the server's answer
  // contradicts what it knew.
  void TrackName(uint64_t dir, absl::string_view name,
                 const absl::Status& status, bool exists_after);
  // A call that changes `ino` (its id put in `request`) and answers with
  // its attributes: what the mount kept of them is erased first and the
  // reply's are kept (ticket drawn before the call). Repeated after a lost
  // reply: the callers' changes are absolute or numbered.
  template <typename Request>
  absl::StatusOr<Attr> AttrChangingCall(
      grpc::Status (Rbfs::StubInterface::*method)(grpc::ClientContext*,
                                                  const Request&, AttrReply*),
      uint64_t ino, Request& request);
  // Whether the kept attributes of `id` say it has no extended attributes
  // and may be trusted for that (the Watch stream is synced).
  bool KnownWithoutXattrs(uint64_t ino, const InodeId& id);
  // A numbered SetXattr or RemoveXattr; its reply's attributes are kept.
  template <typename Request>
  absl::Status ChangeXattr(
      grpc::Status (Rbfs::StubInterface::*method)(grpc::ClientContext*,
                                                  const Request&, AttrReply*),
      uint64_t ino, Request& request);
  // One Lock call for `spec` on `id`; a granted change is recorded with the
  // session.
  absl::StatusOr<LockReply> LockCall(const InodeId& id, const LockSpec& spec,
                                     bool test);
  // Tells the server one open handle of `id` is gone.
  void ReleaseOnServer(const InodeId& id, uint64_t handle);
  // Truncates `ino` back to `size` after a write that failed had some of
  // its chunks land past it; logs when that fails too.
  void CutBackFailedWrite(uint64_t ino, uint64_t size);
  // Counts a read or write until its context has released everything.
  void BeginRequest();
  void EndRequest();

  const uint32_t chunk_size_;
  const uint32_t open_data_up_to_;
  RpcClient* const rpc_;
  ClientSession* const session_;
  InodeTable inodes_;
  // Attributes that answer GETATTR (attr_cache.h).
  AttrCache attrs_;
  CacheCoherence coherence_;
  BufferPool buffers_;
  InflightLimiter limiter_;
  CacheAnswers answers_;
  // Small files' contents that came with their opens.
  OpenDataCache open_data_;

  absl::Mutex requests_mu_;
  // Reads and writes not yet answered.
  int64_t active_requests_ ABSL_GUARDED_BY(requests_mu_) = 0;

  // Opens and releases nobody waits for, in order. Last, so it is drained
  // before the rest goes away.
  SerialWorker background_;
};

// Defined here as the files of MountCore's concerns all use it.
template <typename Request>
absl::StatusOr<Attr> MountCore::AttrChangingCall(
    grpc::Status (Rbfs::StubInterface::*method)(grpc::ClientContext*,
                                                const Request&, AttrReply*),
    uint64_t ino, Request& request) {
  absl::StatusOr<InodeId> id = inodes_.Id(ino);
  if (!id.ok()) return id.status();
  *request.mutable_id() = *std::move(id);
  attrs_.Erase(ino);
  const uint64_t ticket = attrs_.Ticket();
  AttrReply reply;
  // Each caller's change is absolute or numbered: a repeat is harmless.
  absl::Status status =
      rpc_->Call(method, request, &reply, Idempotency::kIdempotent);
  if (!status.ok()) return status;
  inodes_.Refresh(reply.attr());
  attrs_.Put(reply.attr(), absl::Now(), ticket);
  return reply.attr();
}

}  // namespace rbfs

#endif  // RBFS_CLIENT_CORE_MOUNT_CORE_H_
