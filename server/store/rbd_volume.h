// RbdVolume: an rbfs volume kept in a Ceph RBD image (librbd), so its size
// and its safety are the cluster's, not one machine's disks (issue 17).
//
// The image is the volume byte for byte as a volume file would be: block 0
// holds the VolumeHeader (volume_header.h), block b starts at b * block
// size. The allocator, the block maps and the offline check stay as they
// are, in the metadata store. A write returns once the cluster has it on
// every replica of the pool (RBD acknowledges only then, with the client
// cache off), so Sync() only has to flush a cache that ceph.conf might
// have turned on (rbd_flush). Every call is bounded by librados' operation
// timeouts (RbdOptions::op_timeout): an unreachable or stuck cluster gives
// EIO, never a hang. Safe for concurrent use (librbd's image handle is).
//
// RbdVolumeFactory opens the image, creating it (sparse: a new image reads
// as zeros) when missing, and takes its exclusive lock, breaking a previous
// holder's: Ceph blocklists that client, so a crashed server's lock costs
// no wait for its watch to time out, and a stale server still running can
// no longer write (one server per volume; the last one started wins).
#ifndef RBFS_SERVER_STORE_RBD_VOLUME_H_
#define RBFS_SERVER_STORE_RBD_VOLUME_H_

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/log_pacer.h"
#include "server/store/block_device.h"
#include "server/store/block_store.h"

namespace rbfs {

struct RbdOptions {
  // The cluster's ceph.conf (monitors, auth, keyring) and the client to
  // connect as ("admin": client.admin).
  std::string conf_path;
  std::string client_id = "admin";
  std::string pool;
  std::string image = "rbfs";
  // The geometry of an image this creates; an existing one keeps its own.
  uint32_t block_size = BlockStore::kDefaultBlockSize;
  uint64_t volume_size = BlockStore::kDefaultVolumeSize;
  // librados' limit on every monitor and OSD operation (and on connecting).
  absl::Duration op_timeout = absl::Seconds(20);
  // Several servers write the image at once (rbfs-server --etcd-shared):
  // none takes its exclusive lock, which would fence all but the last; the
  // etcd membership is then the only fence.
  bool shared = false;
};

class RbdVolume final : public BlockDevice {
 public:
  ~RbdVolume() override;
  RbdVolume(const RbdVolume&) = delete;
  RbdVolume& operator=(const RbdVolume&) = delete;

  uint32_t block_size() const override { return block_size_; }
  uint64_t block_count() const override { return block_count_; }

  absl::Status Read(uint64_t block, uint32_t offset, char* data,
                    uint32_t length) const override;
  absl::Status Write(uint64_t block, uint32_t offset,
                     absl::string_view data) const override;
  absl::Status Sync() const override;
  // All pieces in flight at once (librbd's asynchronous calls).
  absl::Status ReadMany(absl::Span<const ReadPiece> pieces) const override;
  absl::Status WriteMany(absl::Span<const WritePiece> pieces) const override;

 private:
  friend class RbdVolumeFactory;
  // The handles are the volume's from here on; `location` names it in the
  // log.
  RbdVolume(rados_t cluster, rados_ioctx_t io, rbd_image_t image,
            std::string location, uint32_t block_size, uint64_t block_count);

  // A failed read, write or flush (-errno `result`) as the filesystem
  // reports it: a full cluster or pool is ENOSPC; anything else (a timeout,
  // a lost connection, this client fenced off) is EIO, with Ceph's own
  // error in the message. Logged, paced by failure_log_.
  absl::Status Failed(int result, absl::string_view what) const;

  // Starts `start(i, completion)` for each of `count` pieces, waits for
  // them all, and checks that each answered `lengths[i]` (bytes read; no
  // lengths: a write, which answers 0).
  template <typename Start>
  absl::Status InFlight(size_t count, const Start& start,
                        absl::Span<const uint64_t> lengths,
                        absl::string_view what) const;

  const rados_t cluster_;
  const rados_ioctx_t io_;
  const rbd_image_t image_;
  const std::string location_;
  const uint32_t block_size_;
  const uint64_t block_count_;
  mutable LogPacer failure_log_;
};

class RbdVolumeFactory : public BlockDeviceFactory {
 public:
  explicit RbdVolumeFactory(RbdOptions options)
      : options_(std::move(options)) {}

  bool Exists() const override;
  absl::StatusOr<OpenedVolume> Open(bool may_format) const override;
  // "rbd:POOL/IMAGE".
  std::string location() const override;

 private:
  const RbdOptions options_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_RBD_VOLUME_H_
