// A small Filesystem on local stores under the test's temporary directory,
// for tests of the layers above it (server/rpc). Test-only.
#ifndef RBFS_SERVER_TESTING_SCRATCH_FILESYSTEM_H_
#define RBFS_SERVER_TESTING_SCRATCH_FILESYSTEM_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/fs/filesystem.h"

namespace rbfs::testing {

// Opens a fresh 16 MiB volume of 4 KiB blocks in $TEST_TMPDIR/`name`
// (whatever was there is removed first).
absl::StatusOr<std::unique_ptr<Filesystem>> OpenScratchFilesystem(
    const std::string& name);

}  // namespace rbfs::testing

#endif  // RBFS_SERVER_TESTING_SCRATCH_FILESYSTEM_H_
