// The largest read or write the kernel hands the mount in one request.
//
// rbfs-mount asks the kernel for max_read = max_write = kMaxRequestBytes, the
// buffer pool is sized for one request's worth of chunks beyond those in
// flight, and the default chunk size equals it, so that one kernel request is
// one RPC (client/fuse/mount_options.cc says why).
#ifndef RBFS_CLIENT_CORE_IO_SIZE_H_
#define RBFS_CLIENT_CORE_IO_SIZE_H_

#include <cstdint>

namespace rbfs {

inline constexpr uint32_t kMaxRequestBytes = 1 << 20;

}  // namespace rbfs

#endif  // RBFS_CLIENT_CORE_IO_SIZE_H_
