// The kernel's readahead window of a FUSE mount.
//
// Linux gives every FUSE mount the block layer's default window of 128 KiB
// (the FUSE_INIT reply can only lower it), so a buffered sequential read
// travels as one 128 KiB READ after another, each a round trip. The window
// is the backing device's `read_ahead_kb` in sysfs; the mount's device
// number is found in /proc/self/mountinfo, which needs no request to the
// mount itself (a stat of the mount point would wait for the daemon).
// Writing sysfs needs root.
#ifndef RBFS_CLIENT_FUSE_READ_AHEAD_H_
#define RBFS_CLIENT_FUSE_READ_AHEAD_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rbfs {

// The device ("MAJOR:MINOR") of the newest mount at `mount_point` in the
// text of a mountinfo file; NotFound when there is none.
absl::StatusOr<std::string> MountDevice(absl::string_view mountinfo,
                                        absl::string_view mount_point);

// Sets the readahead window of the mount at `mount_point` (an absolute path
// without symlinks) to `kib` KiB.
absl::Status SetReadAhead(absl::string_view mount_point, uint32_t kib);

}  // namespace rbfs

#endif  // RBFS_CLIENT_FUSE_READ_AHEAD_H_
