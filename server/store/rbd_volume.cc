#include "server/store/rbd_volume.h"

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/log.h"
#include "server/store/volume_header.h"

namespace rbfs {
namespace {

// A librados/librbd result (-errno) as a status naming what failed.
absl::Status CephError(int result, absl::string_view what) {
  const int err = -result;
  return ErrnoError(err, absl::StrCat(what, ": ", strerror(err)));
}

// Volume failures within this long of the last one logged are only
// counted.
constexpr absl::Duration kFailureLogInterval = absl::Seconds(1);

// Takes the image's exclusive lock, first breaking a previous owner's:
// Ceph then blocklists that client, so a crashed server's lock does not
// hold this one up for the watch timeout (30 s), and a stale server still
// running can write nothing more to the volume.
absl::Status TakeOver(rbd_image_t image, absl::string_view where) {
  rbd_lock_mode_t mode;
  char* owners[4];
  size_t count = 4;
  int r = rbd_lock_get_owners(image, &mode, owners, &count);
  if (r == -ENOENT) {
    count = 0;  // nobody holds it
  } else if (r < 0) {
    return CephError(r, absl::StrCat("lock owners of ", where));
  }
  for (size_t i = 0; i < count; ++i) {
    LogWarning("%s: breaking the exclusive lock of %s (a previous server)",
               where, owners[i]);
    r = rbd_lock_break(image, RBD_LOCK_MODE_EXCLUSIVE, owners[i]);
    if (r < 0 && r != -ENOENT) {
      rbd_lock_get_owners_cleanup(owners, count);
      return CephError(r, absl::StrCat("breaking the lock of ", where));
    }
  }
  if (count > 0) rbd_lock_get_owners_cleanup(owners, count);
  if (r = rbd_lock_acquire(image, RBD_LOCK_MODE_EXCLUSIVE); r < 0) {
    return CephError(r, absl::StrCat("locking ", where));
  }
  return absl::OkStatus();
}

// The cluster handle and pool context of one open, released unless handed
// to an RbdVolume.
struct Connection {
  rados_t cluster = nullptr;
  rados_ioctx_t io = nullptr;

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    if (io != nullptr) rados_ioctx_destroy(io);
    if (cluster != nullptr) rados_shutdown(cluster);
  }
};

absl::Status Connect(const RbdOptions& options, Connection* c) {
  if (int r = rados_create(&c->cluster, options.client_id.c_str()); r < 0) {
    c->cluster = nullptr;
    return CephError(r, "rados_create");
  }
  if (int r = rados_conf_read_file(c->cluster, options.conf_path.c_str());
      r < 0) {
    return CephError(r, absl::StrCat("reading ", options.conf_path));
  }
  // Bounded everywhere: connecting, monitor and OSD operations.
  const std::string timeout =
      absl::StrCat(absl::ToInt64Seconds(options.op_timeout));
  for (const char* option : {"rados_osd_op_timeout", "rados_mon_op_timeout",
                             "client_mount_timeout"}) {
    if (int r = rados_conf_set(c->cluster, option, timeout.c_str()); r < 0) {
      return CephError(r, absl::StrCat("setting ", option));
    }
  }
  if (int r = rados_connect(c->cluster); r < 0) {
    return CephError(r, absl::StrCat("connecting to the Ceph cluster of ",
                                     options.conf_path));
  }
  if (int r = rados_ioctx_create(c->cluster, options.pool.c_str(), &c->io);
      r < 0) {
    c->io = nullptr;
    return CephError(r, absl::StrCat("opening pool ", options.pool));
  }
  return absl::OkStatus();
}

}  // namespace

RbdVolume::RbdVolume(rados_t cluster, rados_ioctx_t io, rbd_image_t image,
                     std::string location, uint32_t block_size,
                     uint64_t block_count)
    : cluster_(cluster),
      io_(io),
      image_(image),
      location_(std::move(location)),
      block_size_(block_size),
      block_count_(block_count),
      failure_log_(kFailureLogInterval) {}

RbdVolume::~RbdVolume() {
  rbd_close(image_);
  rados_ioctx_destroy(io_);
  rados_shutdown(cluster_);
}

// One piece is a batch of one: the same checks, calls and error mapping.
absl::Status RbdVolume::Read(uint64_t block, uint32_t offset, char* data,
                             uint32_t length) const {
  const ReadPiece piece{block, offset, data, length};
  return ReadMany(absl::MakeConstSpan(&piece, 1));
}

absl::Status RbdVolume::Write(uint64_t block, uint32_t offset,
                              absl::string_view data) const {
  const WritePiece piece{block, offset, data};
  return WriteMany(absl::MakeConstSpan(&piece, 1));
}

absl::Status RbdVolume::Failed(int result, absl::string_view what) const {
  const int err = -result;
  if (const std::optional<uint64_t> unlogged = failure_log_.Admit()) {
    // Whether the lock is still this server's tells a cluster that stopped
    // answering from one that fenced this server off.
    int owner = 0;
    const bool known = rbd_is_exclusive_lock_owner(image_, &owner) == 0;
    LogWarning(
        "%s: %s: %s (holding the image's exclusive lock: %s; %d more volume "
        "failures not logged)",
        location_, what, strerror(err), known ? (owner ? "yes" : "no") : "?",
        *unlogged);
  }
  const int reported = err == ENOSPC || err == EDQUOT ? ENOSPC : EIO;
  return ErrnoError(reported, absl::StrCat(what, ": ", strerror(err)));
}

template <typename Start>
absl::Status RbdVolume::InFlight(size_t count, const Start& start,
                                 absl::Span<const uint64_t> lengths,
                                 absl::string_view what) const {
  std::vector<rbd_completion_t> started;
  started.reserve(count);
  absl::Status first;
  for (size_t i = 0; i < count; ++i) {
    rbd_completion_t completion;
    if (int r = rbd_aio_create_completion(nullptr, nullptr, &completion);
        r < 0) {
      first.Update(Failed(r, what));
      break;
    }
    if (int r = start(i, completion); r < 0) {
      rbd_aio_release(completion);
      first.Update(Failed(r, what));
      break;
    }
    started.push_back(completion);
  }
  // Every piece started is waited for, failed or not: its buffer is the
  // caller's.
  for (size_t i = 0; i < started.size(); ++i) {
    rbd_aio_wait_for_complete(started[i]);
    const ssize_t n = rbd_aio_get_return_value(started[i]);
    rbd_aio_release(started[i]);
    if (n < 0) {
      first.Update(Failed(static_cast<int>(n), what));
    } else if (!lengths.empty() && static_cast<uint64_t>(n) != lengths[i]) {
      first.Update(ErrnoError(EIO, absl::StrCat(what, ": came back short")));
    }
  }
  return first;
}

absl::Status RbdVolume::ReadMany(absl::Span<const ReadPiece> pieces) const {
  std::vector<uint64_t> lengths;
  lengths.reserve(pieces.size());
  for (const ReadPiece& p : pieces) {
    if (absl::Status s = CheckRange(p.block, p.offset, p.length); !s.ok()) {
      return s;
    }
    lengths.push_back(p.length);
  }
  return InFlight(
      pieces.size(),
      [&](size_t i, rbd_completion_t completion) {
        const ReadPiece& p = pieces[i];
        return rbd_aio_read2(image_, p.block * block_size_ + p.offset, p.length,
                             p.data, completion, 0);
      },
      lengths, "volume read failed");
}

absl::Status RbdVolume::WriteMany(absl::Span<const WritePiece> pieces) const {
  for (const WritePiece& p : pieces) {
    if (absl::Status s = CheckRange(p.block, p.offset, p.data.size());
        !s.ok()) {
      return s;
    }
  }
  // A completed asynchronous write answers 0, not its length.
  return InFlight(
      pieces.size(),
      [&](size_t i, rbd_completion_t completion) {
        const WritePiece& p = pieces[i];
        return rbd_aio_write2(image_, p.block * block_size_ + p.offset,
                              p.data.size(), p.data.data(), completion, 0);
      },
      {}, "volume write failed");
}

absl::Status RbdVolume::Sync() const {
  if (int r = rbd_flush(image_); r < 0) {
    return Failed(r, "volume sync failed");
  }
  return absl::OkStatus();
}

bool RbdVolumeFactory::Exists() const {
  Connection c;
  if (!Connect(options_, &c).ok()) return false;
  rbd_image_t image;
  if (rbd_open(c.io, options_.image.c_str(), &image, nullptr) < 0) {
    return false;
  }
  rbd_close(image);
  return true;
}

std::string RbdVolumeFactory::location() const {
  return absl::StrCat("rbd:", options_.pool, "/", options_.image);
}

absl::StatusOr<OpenedVolume> RbdVolumeFactory::Open(bool may_format) const {
  const std::string where = location();
  auto c = std::make_unique<Connection>();
  if (absl::Status s = Connect(options_, c.get()); !s.ok()) return s;
  bool created = false;
  rbd_image_t image = nullptr;
  int r = rbd_open(c->io, options_.image.c_str(), &image, nullptr);
  if (r == -ENOENT) {
    // Objects of 4 MiB (order 22), RBD's default: a block never spans two
    // objects for block sizes up to 4 MiB.
    int order = 22;
    r = rbd_create(c->io, options_.image.c_str(), options_.volume_size, &order);
    if (r < 0) return CephError(r, absl::StrCat("creating ", where));
    created = true;
    r = rbd_open(c->io, options_.image.c_str(), &image, nullptr);
  }
  if (r < 0) return CephError(r, absl::StrCat("opening ", where));
  auto close_image = [&image] {
    if (image != nullptr) rbd_close(image);
  };
  if (!options_.shared) {
    if (absl::Status s = TakeOver(image, where); !s.ok()) {
      close_image();
      return s;
    }
  }
  uint64_t bytes = 0;
  if (r = rbd_get_size(image, &bytes); r < 0) {
    close_image();
    return CephError(r, absl::StrCat("size of ", where));
  }
  std::string header(kVolumeHeaderBytes, '\0');
  if (bytes >= header.size()) {
    const ssize_t n = rbd_read2(image, 0, header.size(), header.data(), 0);
    if (n != static_cast<ssize_t>(header.size())) {
      close_image();
      return n < 0 ? CephError(static_cast<int>(n),
                               absl::StrCat("reading the header of ", where))
                   : ErrnoError(EIO, absl::StrCat("short header of ", where));
    }
  }
  absl::StatusOr<std::optional<VolumeGeometry>> found =
      ParseVolumeHeader(header, bytes, where);
  if (!found.ok()) {
    close_image();
    return found.status();
  }
  OpenedVolume volume;
  VolumeGeometry geometry;
  if (found->has_value()) {
    geometry = **found;
  } else {
    // An image that exists but holds no header: it may hold someone's data.
    if (!created && !may_format) {
      close_image();
      return ErrnoError(EINVAL, absl::StrCat(where,
                                             " has no rbfs volume header; "
                                             "refusing to format it"));
    }
    absl::StatusOr<VolumeGeometry> made =
        NewVolumeGeometry(options_.block_size, bytes, where);
    if (!made.ok()) {
      close_image();
      return made.status();
    }
    geometry = *made;
    bool zeroed = created;
    if (!created) {
      // Old content must not show through as file data: discarded blocks
      // of an RBD image read as zeros.
      zeroed =
          rbd_discard(image, geometry.block_size,
                      (geometry.block_count - 1) * geometry.block_size) >= 0;
    }
    header = EncodeVolumeHeader(geometry);
    const ssize_t n = rbd_write2(image, 0, header.size(), header.data(), 0);
    if (n != static_cast<ssize_t>(header.size()) || rbd_flush(image) < 0) {
      close_image();
      return ErrnoError(EIO, absl::StrCat("writing the header of ", where));
    }
    volume.formatted = true;
    volume.zeroed = zeroed;
  }
  volume.volume_id = geometry.volume_id;
  volume.device = std::unique_ptr<RbdVolume>(
      new RbdVolume(c->cluster, c->io, image, where, geometry.block_size,
                    geometry.block_count));
  // The volume owns the handles now.
  c->cluster = nullptr;
  c->io = nullptr;
  return volume;
}

}  // namespace rbfs
