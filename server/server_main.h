// RunServerMain: all of rbfs-server's main(): flags, --check, and serving
// until SIGTERM/SIGINT. A library so that a test build of the server can
// run the very same code with a fault layer under its volume.
#ifndef RBFS_SERVER_SERVER_MAIN_H_
#define RBFS_SERVER_SERVER_MAIN_H_

#include <functional>
#include <memory>

#include "server/store/block_device.h"

namespace rbfs {

// Wraps the opened volume (Filesystem::Options::wrap_volume); null in
// production.
using VolumeWrapper =
    std::function<std::unique_ptr<BlockDevice>(std::unique_ptr<BlockDevice>)>;

int RunServerMain(int argc, char** argv, const VolumeWrapper& wrap_volume);

}  // namespace rbfs

#endif  // RBFS_SERVER_SERVER_MAIN_H_
