#include "server/store/block_store.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "server/store/volume_header.h"

namespace rbfs {
namespace {

absl::Status PosixError(int err, absl::string_view what,
                        absl::string_view path) {
  return ErrnoError(err, absl::StrCat(what, " ", path, ": ", strerror(err)));
}

absl::StatusOr<uint64_t> DeviceSize(int fd, const std::string& path,
                                    mode_t* mode) {
  struct stat st;
  if (fstat(fd, &st) != 0) return PosixError(errno, "stat", path);
  *mode = st.st_mode;
  if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    if (ioctl(fd, BLKGETSIZE64, &bytes) != 0) {
      return PosixError(errno, "BLKGETSIZE64", path);
    }
    return bytes;
  }
  if (!S_ISREG(st.st_mode)) {
    return ErrnoError(EINVAL, absl::StrCat(path,
                                           " is neither a regular file "
                                           "nor a block device"));
  }
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

absl::StatusOr<std::unique_ptr<BlockStore>> BlockStore::Open(
    const std::string& path, const Options& options, bool may_format) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return PosixError(errno, "open", path);
  auto fail = [fd](absl::Status status) {
    close(fd);
    return status;
  };

  mode_t mode = 0;
  absl::StatusOr<uint64_t> size = DeviceSize(fd, path, &mode);
  if (!size.ok()) return fail(size.status());

  std::string header(kVolumeHeaderBytes, '\0');
  if (*size >= header.size()) {
    ssize_t n = pread(fd, header.data(), header.size(), 0);
    if (n != static_cast<ssize_t>(header.size())) {
      return fail(PosixError(EIO, "read header", path));
    }
  }
  absl::StatusOr<std::optional<VolumeGeometry>> found =
      ParseVolumeHeader(header, *size, path);
  if (!found.ok()) return fail(found.status());
  if (found->has_value()) {
    const VolumeGeometry& g = **found;
    return std::unique_ptr<BlockStore>(
        new BlockStore(fd, g.block_size, g.block_count, g.volume_id,
                       /*formatted=*/false, /*zeroed=*/false));
  }

  // No header: format, if allowed.
  const uint32_t bs = options.block_size;
  if (absl::Status s = ValidateBlockSize(bs); !s.ok()) return fail(s);
  if (*size != 0 && !may_format) {
    return fail(ErrnoError(
        EINVAL, absl::StrCat(path,
                             " has no rbfs volume header; refusing to "
                             "format a non-empty volume")));
  }
  uint64_t bytes = *size;
  bool zeroed = bytes == 0;
  if (bytes == 0) {
    bytes = options.volume_size;
    if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
      return fail(PosixError(errno, "size", path));
    }
  }
  absl::StatusOr<VolumeGeometry> geometry = NewVolumeGeometry(bs, bytes, path);
  if (!geometry.ok()) return fail(geometry.status());
  if (!zeroed && S_ISREG(mode)) {
    // Old content of a reused file must not show through as file data.
    zeroed =
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, bs,
                  static_cast<off_t>(geometry->block_count * bs - bs)) == 0;
  }
  header = EncodeVolumeHeader(*geometry);
  if (pwrite(fd, header.data(), header.size(), 0) !=
          static_cast<ssize_t>(header.size()) ||
      fdatasync(fd) != 0) {
    return fail(PosixError(errno ? errno : EIO, "write header", path));
  }
  return std::unique_ptr<BlockStore>(
      new BlockStore(fd, bs, geometry->block_count, geometry->volume_id,
                     /*formatted=*/true, zeroed));
}

BlockStore::~BlockStore() { close(fd_); }

absl::Status BlockStore::Read(uint64_t block, uint32_t offset, char* data,
                              uint32_t length) const {
  if (absl::Status s = CheckRange(block, offset, length); !s.ok()) return s;
  off_t pos = static_cast<off_t>(block * block_size_ + offset);
  while (length > 0) {
    ssize_t n = pread(fd_, data, length, pos);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "volume read failed");
    }
    if (n == 0) {
      // Past the end of a sparse file that was never extended: zeros.
      std::memset(data, 0, length);
      break;
    }
    data += n;
    length -= n;
    pos += n;
  }
  return absl::OkStatus();
}

absl::Status BlockStore::Write(uint64_t block, uint32_t offset,
                               absl::string_view data) const {
  if (absl::Status s = CheckRange(block, offset, data.size()); !s.ok()) {
    return s;
  }
  off_t pos = static_cast<off_t>(block * block_size_ + offset);
  while (!data.empty()) {
    ssize_t n = pwrite(fd_, data.data(), data.size(), pos);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "volume write failed");
    }
    data.remove_prefix(n);
    pos += n;
  }
  return absl::OkStatus();
}

absl::Status BlockStore::Sync() const {
  if (fdatasync(fd_) != 0) return ErrnoError(errno, "volume sync failed");
  return absl::OkStatus();
}

bool BlockStoreFactory::Exists() const {
  return std::filesystem::exists(path_);
}

absl::StatusOr<OpenedVolume> BlockStoreFactory::Open(bool may_format) const {
  absl::StatusOr<std::unique_ptr<BlockStore>> store =
      BlockStore::Open(path_, options_, may_format);
  if (!store.ok()) return store.status();
  OpenedVolume volume;
  volume.volume_id = (*store)->volume_id();
  volume.formatted = (*store)->formatted();
  volume.zeroed = (*store)->zeroed();
  volume.device = *std::move(store);
  return volume;
}

}  // namespace rbfs
