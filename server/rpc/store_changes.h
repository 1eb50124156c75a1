// What another server's change to the shared store means to this server's
// mounts: the invalidations (change_hub.h) of one StoreChange
// (shared_volume.h) from the change feed, so that a mount of this server
// sees what a mount of another changed as it sees its neighbours' here.
//
// An inode's record: its attributes, and its data too when its size or
// mtime moved (or it is gone: everything). A directory entry: that entry.
// An extended attribute: the inode's attributes (the kernel's cached ACLs
// go with them). Other records (block maps, cookies, call records, ...)
// mean nothing to a kernel's caches.
#ifndef RBFS_SERVER_RPC_STORE_CHANGES_H_
#define RBFS_SERVER_RPC_STORE_CHANGES_H_

#include <vector>

#include "server/rpc/change_hub.h"
#include "server/store/shared_volume.h"

namespace rbfs {

std::vector<Change> ChangesOf(const StoreChange& change);

}  // namespace rbfs

#endif  // RBFS_SERVER_RPC_STORE_CHANGES_H_
