// KnownDirs: directories of which this mount knows every name, so that a
// lookup of any other name is answered "no such entry" without a round trip.
//
// A directory becomes known when this mount creates it (it is empty then)
// while its caches are trusted; this mount's own creates, links, unlinks and
// renames in it keep the set of names exact. Anything that could make it
// inexact forgets the directory: another mount's change to its entries (an
// invalidation), a loss of the change stream, a reply that contradicts the
// set, the directory leaving the inode table, or more than `max_names`
// names in it. Creating mostly new names in fresh directories is what
// `git clone`, `tar x` and build trees do, and there every create's lookup
// of the new name is saved.
//
// Thread safety: every method may be called from any thread; mu_ guards
// dirs_.
#ifndef RBFS_CLIENT_CORE_KNOWN_DIRS_H_
#define RBFS_CLIENT_CORE_KNOWN_DIRS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace rbfs {

class KnownDirs {
 public:
  explicit KnownDirs(size_t max_names) : max_names_(max_names) {}

  KnownDirs(const KnownDirs&) = delete;
  KnownDirs& operator=(const KnownDirs&) = delete;

  // `dir` was just created, empty.
  void Created(uint64_t dir);
  // `name` now exists in `dir` / no longer does (no-ops unless known).
  void Added(uint64_t dir, absl::string_view name);
  void Removed(uint64_t dir, absl::string_view name);
  // Whether `name` is certainly absent from `dir`.
  bool Absent(uint64_t dir, absl::string_view name) const;
  void Forget(uint64_t dir);
  void Clear();

  size_t size() const;

 private:
  const size_t max_names_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, absl::flat_hash_set<std::string>> dirs_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_CORE_KNOWN_DIRS_H_
