// CacheCoherence: whether this mount's kernel caches may be trusted, and the
// invalidations that keep them so (protos/rbfs.proto, "Coherence").
//
// While the Watch stream is synced, replies let the kernel keep names,
// negative entries and attributes for the long timeouts and keep file pages
// across opens, since every change another mount makes arrives as an
// invalidation. Otherwise (before the first sync, and from a loss until the
// next sync) replies carry the short fallback timeout, so nothing is
// trusted longer than that. Each change of state invalidates everything the
// kernel caches: at a loss because invalidations may have been missed, at a
// sync because they may have been missed while the stream was down.
//
// The kernel drops a cached name only when told its name, so this class
// remembers the names it let the kernel cache under each directory,
// positive and negative; a directory's names are forgotten when it leaves
// the inode table (its dentries are gone from the kernel then). Past
// `max_names` names, replies carry the fallback timeout and are not
// remembered.
//
// Thread safety: every method may be called from any thread. mu_ guards the
// state and the names; no lock is held while the kernel is notified. Lock
// order: the InodeTable's lock, then mu_ (Entered and Left run under it),
// then KnownDirs' own.
#ifndef RBFS_CLIENT_CORE_CACHE_COHERENCE_H_
#define RBFS_CLIENT_CORE_CACHE_COHERENCE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/core/attr_cache.h"
#include "client/core/inode_table.h"
#include "client/core/known_dirs.h"
#include "client/rpc/watch_stream.h"
#include "protos/rbfs.pb.h"

namespace rbfs {

// Tells the kernel to drop what it caches; the FUSE adapter implements it
// with fuse_lowlevel_notify_inval_entry/_inval_inode. Never called from a
// request handler (the kernel may hold locks the handler's request needs).
class KernelNotifier {
 public:
  virtual ~KernelNotifier() = default;
  // The name `name` in directory `parent`, positive or negative.
  virtual void InvalidateEntry(uint64_t parent, absl::string_view name) = 0;
  // The attributes of `ino`, and with `data` its cached pages.
  virtual void InvalidateInode(uint64_t ino, bool data) = 0;
};

// How long the kernel may keep what one reply tells it.
struct CacheTimeouts {
  absl::Duration entry;
  absl::Duration attr;
};

class CacheCoherence : public WatchStream::Listener,
                       public InodeTable::Observer {
 public:
  struct Options {
    absl::Duration entry_timeout;
    absl::Duration attr_timeout;
    absl::Duration negative_timeout;
    // While the stream is not synced, for all three.
    absl::Duration fallback_timeout;
    size_t max_names = 1 << 20;
    // Names per directory KnownDirs keeps.
    size_t max_known_dir_names = 1 << 16;
  };

  // `inodes` and `attrs` must outlive this; it observes `inodes`.
  CacheCoherence(const Options& options, InodeTable* inodes, AttrCache* attrs);

  CacheCoherence(const CacheCoherence&) = delete;
  CacheCoherence& operator=(const CacheCoherence&) = delete;

  // Wires the kernel and the stream, before the stream starts; either may
  // stay null (unit tests, cache=none without a stream).
  void Connect(KernelNotifier* kernel, WatchStream* stream);

  // The timeouts for the entry `name` in `parent` naming `ino` (or, for
  // ForNegativeEntry, no inode), which is remembered.
  CacheTimeouts ForEntry(uint64_t parent, absl::string_view name, uint64_t ino);
  CacheTimeouts ForNegativeEntry(uint64_t parent, absl::string_view name);
  // The inode the kernel caches under `name` in `parent`, if remembered
  // (0 for a negative entry).
  std::optional<uint64_t> Child(uint64_t parent, absl::string_view name) const;
  // This mount renamed `name` in `parent` to `new_name` in `new_parent`
  // (exchanging the two with `exchange`): the kernel moved its entries.
  void Renamed(uint64_t parent, absl::string_view name, uint64_t new_parent,
               absl::string_view new_name, bool exchange);
  // This mount removed `name` from `parent`.
  void Removed(uint64_t parent, absl::string_view name);
  // The attribute timeout of a reply that names no entry.
  absl::Duration AttrTimeout() const;
  // Whether an open may keep the file's cached pages.
  bool KeepPages() const;
  bool synced() const;

  // This mount created the directory `dir`: while the stream is synced it
  // is known (KnownDirs) from now on.
  void DirCreated(uint64_t dir);
  // The directories whose every name this mount knows; only directories
  // known while synced are in it, and it is cleared at every change of
  // state.
  KnownDirs& known_dirs() { return known_dirs_; }

  // InodeTable::Observer.
  void Entered(uint64_t ino, uint64_t as_of) override;
  void Left(uint64_t ino) override;

  // WatchStream::Listener.
  std::vector<uint64_t> HeldInodes() override;
  void OnSynced() override;
  void OnInvalidations(const WatchReply& reply) override;
  void OnCommitError(int err) override;
  void OnLost() override;

  // The errno the server's commits failed with, as its stream said; 0 while
  // none has (or nothing was heard).
  int commit_error() const {
    return commit_error_.load(std::memory_order_relaxed);
  }

 private:
  // Remembers the name if synced and there is room; whether it did.
  bool Note(uint64_t parent, absl::string_view name, uint64_t ino);
  // Drops every name and attribute and every page the kernel caches.
  void InvalidateAll();
  // A directory's names, taken out of names_.
  std::vector<std::string> TakeNames(uint64_t dir);

  const Options options_;
  InodeTable* const inodes_;
  AttrCache* const attrs_;
  KernelNotifier* kernel_ = nullptr;
  WatchStream* stream_ = nullptr;
  KnownDirs known_dirs_;

  // Sticky: a server clears it only by restarting, and the mount then
  // learns nothing newer to report.
  std::atomic<int> commit_error_{0};
  mutable absl::Mutex mu_;
  // Guard everything below.
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  // Per directory: name -> inode (0: negative).
  using Names = absl::flat_hash_map<std::string, uint64_t>;
  absl::flat_hash_map<uint64_t, Names> names_ ABSL_GUARDED_BY(mu_);
  size_t name_count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_CORE_CACHE_COHERENCE_H_
