// Stores: the backends a filesystem runs on, named by their interfaces
// only: where its volume is (block_device.h) and where its metadata store
// is (meta_store.h). local_stores.h makes the local pair; a distributed
// backend supplies its own factories.
#ifndef RBFS_SERVER_STORE_STORES_H_
#define RBFS_SERVER_STORE_STORES_H_

#include <memory>

#include "server/store/block_device.h"
#include "server/store/meta_store.h"

namespace rbfs {

struct Stores {
  std::shared_ptr<const BlockDeviceFactory> volume;
  std::shared_ptr<const MetaStoreFactory> meta;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_STORES_H_
