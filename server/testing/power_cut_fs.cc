#include "server/testing/power_cut_fs.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"

namespace rbfs {

// A writable file that reports appends and syncs to its file system and
// drops them once the power is off.
class PowerCutFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  PowerCutFile(std::string fname, PowerCutFileSystem* fs,
               std::unique_ptr<rocksdb::FSWritableFile> target)
      : FSWritableFileOwnerWrapper(std::move(target)),
        fname_(std::move(fname)),
        fs_(fs) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    if (fs_->dead()) return rocksdb::IOStatus::OK();
    rocksdb::IOStatus s = target()->Append(data, options, dbg);
    if (s.ok()) fs_->Appended(fname_, data.size());
    return s;
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo&,
                           rocksdb::IODebugContext* dbg) override {
    return Append(data, options, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice&, uint64_t,
                                     const rocksdb::IOOptions&,
                                     rocksdb::IODebugContext*) override {
    // Only direct I/O uses it, and the metadata store does not.
    return rocksdb::IOStatus::NotSupported("PowerCutFile::PositionedAppend");
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice&, uint64_t,
                                     const rocksdb::IOOptions&,
                                     const rocksdb::DataVerificationInfo&,
                                     rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::NotSupported("PowerCutFile::PositionedAppend");
  }
  rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    if (fs_->dead()) return rocksdb::IOStatus::OK();
    rocksdb::IOStatus s = target()->Truncate(size, options, dbg);
    if (s.ok()) fs_->Truncated(fname_, size);
    return s;
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                         rocksdb::IODebugContext* dbg) override {
    if (fs_->dead()) return rocksdb::IOStatus::OK();
    rocksdb::IOStatus s = target()->Sync(options, dbg);
    if (s.ok()) fs_->Synced(fname_);
    return s;
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    if (fs_->dead()) return rocksdb::IOStatus::OK();
    rocksdb::IOStatus s = target()->Fsync(options, dbg);
    if (s.ok()) fs_->Synced(fname_);
    return s;
  }
  rocksdb::IOStatus RangeSync(uint64_t, uint64_t, const rocksdb::IOOptions&,
                              rocksdb::IODebugContext*) override {
    // sync_file_range promises nothing about durability: leave it out, so
    // that only Sync/Fsync count.
    return rocksdb::IOStatus::OK();
  }

 private:
  const std::string fname_;
  PowerCutFileSystem* const fs_;
};

PowerCutFileSystem::PowerCutFileSystem(
    std::shared_ptr<rocksdb::FileSystem> base)
    : FileSystemWrapper(std::move(base)) {}

bool PowerCutFileSystem::dead() const {
  absl::MutexLock lock(&mu_);
  return dead_;
}

void PowerCutFileSystem::Appended(const std::string& fname, uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  files_[fname].size += bytes;
}

void PowerCutFileSystem::Synced(const std::string& fname) {
  absl::MutexLock lock(&mu_);
  FileState& f = files_[fname];
  f.synced = f.size;
}

void PowerCutFileSystem::Truncated(const std::string& fname, uint64_t size) {
  absl::MutexLock lock(&mu_);
  FileState& f = files_[fname];
  f.size = size;
  if (f.synced > size) f.synced = size;
}

rocksdb::IOStatus PowerCutFileSystem::Track(
    const std::string& fname, uint64_t size,
    std::unique_ptr<rocksdb::FSWritableFile>* result) {
  {
    absl::MutexLock lock(&mu_);
    files_[fname] = FileState{size, size};
  }
  *result = std::make_unique<PowerCutFile>(fname, this, std::move(*result));
  return rocksdb::IOStatus::OK();
}

rocksdb::IOStatus PowerCutFileSystem::NewWritableFile(
    const std::string& fname, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result,
    rocksdb::IODebugContext* dbg) {
  if (dead()) return rocksdb::IOStatus::IOError("power is off");
  rocksdb::IOStatus s = target()->NewWritableFile(fname, options, result, dbg);
  if (!s.ok()) return s;
  return Track(fname, 0, result);
}

rocksdb::IOStatus PowerCutFileSystem::ReopenWritableFile(
    const std::string& fname, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result,
    rocksdb::IODebugContext* dbg) {
  if (dead()) return rocksdb::IOStatus::IOError("power is off");
  uint64_t size = 0;
  rocksdb::IOStatus s =
      target()->GetFileSize(fname, rocksdb::IOOptions(), &size, dbg);
  if (!s.ok() && !s.IsNotFound() && !s.IsPathNotFound()) return s;
  s = target()->ReopenWritableFile(fname, options, result, dbg);
  if (!s.ok()) return s;
  return Track(fname, size, result);
}

rocksdb::IOStatus PowerCutFileSystem::ReuseWritableFile(
    const std::string&, const std::string&, const rocksdb::FileOptions&,
    std::unique_ptr<rocksdb::FSWritableFile>*, rocksdb::IODebugContext*) {
  // WAL recycling is off in the metadata store; a recycled file's old bytes
  // would need modelling.
  return rocksdb::IOStatus::NotSupported("PowerCutFileSystem: reuse");
}

rocksdb::IOStatus PowerCutFileSystem::RenameFile(
    const std::string& src, const std::string& dst,
    const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) {
  if (dead()) return rocksdb::IOStatus::OK();
  rocksdb::IOStatus s = target()->RenameFile(src, dst, options, dbg);
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto it = files_.find(src);
  if (it != files_.end()) {
    FileState state = it->second;
    files_.erase(it);
    files_[dst] = state;
  } else {
    files_.erase(dst);
  }
  return s;
}

rocksdb::IOStatus PowerCutFileSystem::DeleteFile(
    const std::string& fname, const rocksdb::IOOptions& options,
    rocksdb::IODebugContext* dbg) {
  if (dead()) return rocksdb::IOStatus::OK();
  rocksdb::IOStatus s = target()->DeleteFile(fname, options, dbg);
  if (s.ok()) {
    absl::MutexLock lock(&mu_);
    files_.erase(fname);
  }
  return s;
}

void PowerCutFileSystem::Die() {
  absl::MutexLock lock(&mu_);
  dead_ = true;
}

absl::StatusOr<uint64_t> PowerCutFileSystem::PowerCut(std::mt19937_64* rng,
                                                      Tail tail) {
  absl::MutexLock lock(&mu_);
  uint64_t dropped = 0;
  for (auto& [fname, f] : files_) {
    if (f.size == f.synced) continue;
    uint64_t keep = f.synced;
    if (tail == Tail::kAll) {
      keep = f.size;
    } else if (tail == Tail::kRandomPrefix) {
      keep +=
          std::uniform_int_distribution<uint64_t>(0, f.size - f.synced)(*rng);
    }
    if (truncate(fname.c_str(), static_cast<off_t>(keep)) != 0) {
      return ErrnoError(
          errno, absl::StrCat("truncate ", fname, ": ", std::strerror(errno)));
    }
    dropped += f.size - keep;
    f.size = f.synced = keep;
  }
  dead_ = false;
  return dropped;
}

}  // namespace rbfs
