// RunServerMain: all of rbfs-server's main(): flags, --check, and serving
// until SIGTERM/SIGINT. A library so that a test build of the server can
// run the very same code with a fault layer under its volume.
#ifndef RBFS_SERVER_SERVER_MAIN_H_
#define RBFS_SERVER_SERVER_MAIN_H_

#include "server/store/block_device.h"

namespace rbfs {

// Serves the local stores (server/store/local_stores.h) of --data and
// --volume; `wrap_volume` (Filesystem::Options::wrap_volume) is put over
// the opened volume, null in production.
int RunServerMain(int argc, char** argv, const VolumeWrapper& wrap_volume);

}  // namespace rbfs

#endif  // RBFS_SERVER_SERVER_MAIN_H_
