// PowerCutFileSystem: a RocksDB FileSystem for tests that can simulate a
// power cut under a RocksDB database.
//
// It passes everything through to the real file system and remembers, for
// each file written through it, how many bytes were appended and how many
// of those a Sync/Fsync made durable. Die() freezes the machine: from then
// on writes, syncs, renames and deletions are dropped, as they would be by
// a machine without power, while the process tears the database down.
// PowerCut() then leaves on disk what a real power cut could have: each
// file keeps its synced bytes plus a prefix of its unsynced tail (none, or a
// random share, the pages the kernel happened to write back).
//
// Hand-written because Debian's librocksdb-dev ships the library's
// FaultInjectionTestFS symbols but not its header (utilities/
// fault_injection_fs.h and the internal headers it needs), so it cannot be
// used from outside RocksDB's source tree. Directory entries are not
// modelled: a created, renamed or deleted file counts as durable at once
// (RocksDB syncs its directory after such changes anyway).
#ifndef RBFS_SERVER_TESTING_POWER_CUT_FS_H_
#define RBFS_SERVER_TESTING_POWER_CUT_FS_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/file_system.h"

namespace rbfs {

class PowerCutFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit PowerCutFileSystem(std::shared_ptr<rocksdb::FileSystem> base);

  const char* Name() const override { return "PowerCutFileSystem"; }

  rocksdb::IOStatus NewWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(
      const std::string& fname, const std::string& old_fname,
      const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& dst,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;

  // The power goes off: nothing written from now on reaches the disk.
  void Die();
  // What survives of a file's unsynced tail.
  enum class Tail { kNone, kRandomPrefix, kAll };
  // After the database is closed: cuts every file back to its synced size
  // plus what `tail` says of its unsynced bytes, and turns the power back
  // on. Returns how many unsynced bytes were thrown away.
  absl::StatusOr<uint64_t> PowerCut(std::mt19937_64* rng, Tail tail);

 private:
  friend class PowerCutFile;
  struct FileState {
    uint64_t size = 0;    // bytes appended
    uint64_t synced = 0;  // of which durable
  };

  bool dead() const;
  // Called by open files.
  void Appended(const std::string& fname, uint64_t bytes);
  void Synced(const std::string& fname);
  void Truncated(const std::string& fname, uint64_t size);
  rocksdb::IOStatus Track(const std::string& fname, uint64_t size,
                          std::unique_ptr<rocksdb::FSWritableFile>* result);

  mutable absl::Mutex mu_;
  bool dead_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, FileState> files_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rbfs

#endif  // RBFS_SERVER_TESTING_POWER_CUT_FS_H_
