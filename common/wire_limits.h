// Size limits of the wire contract (protos/rbfs.proto), shared by the
// server and the mount so that both sides enforce the same numbers.
#ifndef RBFS_COMMON_WIRE_LIMITS_H_
#define RBFS_COMMON_WIRE_LIMITS_H_

#include <cstdint>

namespace rbfs {

// Bytes one Read or Write call may move; more is EINVAL.
inline constexpr uint32_t kMaxIoBytesPerCall = 4u << 20;
// Bytes of a file an Open reply carries at most (OpenRequest.data_up_to).
inline constexpr uint32_t kMaxOpenDataBytes = 1u << 20;
// Bytes one CopyRange call copies at most (a longer copy_file_range is
// short, and the caller goes on), so that one call stays well inside its
// deadline.
inline constexpr uint32_t kMaxCopyBytesPerCall = 16u << 20;
// Entries one ReadDir call returns at most; a larger max_entries is clamped.
inline constexpr uint32_t kMaxDirEntriesPerCall = 4096;
// Extended attributes, as Linux bounds them (XATTR_NAME_MAX, XATTR_SIZE_MAX,
// XATTR_LIST_MAX): a name's bytes with its namespace prefix, one value's
// bytes, and the list of one inode's names, each NUL-terminated.
inline constexpr uint32_t kMaxXattrNameBytes = 255;
inline constexpr uint32_t kMaxXattrValueBytes = 64u << 10;
inline constexpr uint32_t kMaxXattrListBytes = 64u << 10;
// The names and values of one inode's extended attributes together (room
// for a few values of the largest size); more is ENOSPC.
inline constexpr uint32_t kMaxXattrBytesPerInode = 256u << 10;
// Largest gRPC message either side accepts: a full payload plus headers.
inline constexpr int kMaxMessageBytes = 8 << 20;

}  // namespace rbfs

#endif  // RBFS_COMMON_WIRE_LIMITS_H_
