// SharedVolume: what a filesystem needs from the store to serve a volume
// together with other servers at once (active-active, issue 18;
// rbfs-server --etcd-shared): a share of the volume's blocks to allocate
// from, and a feed of every change made to the store.
//
// The volume's blocks are split into allocation groups
// (BlockAllocator::GroupBlocks). Only the server holding a group allocates
// in it; it holds it until it stops or dies (its lease ends). Which blocks
// are in use is recorded by the block maps alone, wherever the blocks lie:
// the feed reports every mapping and unmapping, by any server (this one
// included), in commit order, so each server's bitmap follows the whole
// volume and a block freed by one server goes back to its group's holder.
//
// Implementations are thread-safe; listeners are called from the feed's
// thread, one change at a time, in commit order.
#ifndef RBFS_SERVER_STORE_SHARED_VOLUME_H_
#define RBFS_SERVER_STORE_SHARED_VOLUME_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rbfs {

// One record's change: its meta_keys.h key, what it was and what it is.
struct StoreChange {
  std::string key;
  bool deleted = false;
  std::string value;       // empty when deleted
  std::string prev_value;  // empty when it was absent
  // This server's own commit (as far as CommitRevisions knows).
  bool own = false;
};

class SharedVolume {
 public:
  using BlockListener = std::function<void(uint64_t block, bool mapped)>;
  using ChangeListener = std::function<void(const StoreChange& change)>;

  virtual ~SharedVolume() = default;

  // Reports every mapped block now (on_block(block, true)) and returns;
  // from then on, until Stop, reports every later mapping and unmapping.
  // Once only.
  virtual absl::Status Follow(BlockListener on_block) = 0;
  // Ends the feed: no listener is called after it returns.
  virtual void Stop() = 0;
  // Called for every change after Follow; null stops that (waiting out a
  // call in progress, so what it refers to may go afterwards).
  virtual void SetChangeListener(ChangeListener listener) = 0;

  // Claims the first group of `preference` that nobody holds and returns
  // it once the feed has reported every block map change up to the claim.
  // NotFound when every one is held by a server.
  virtual absl::StatusOr<uint64_t> ClaimGroup(
      const std::vector<uint64_t>& preference) = 0;

  // This server's name as a record names it (orphans it keeps, below).
  virtual const std::string& member() const = 0;
  // Whether `member` still serves the volume.
  virtual absl::StatusOr<bool> Serves(absl::string_view member) = 0;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_SHARED_VOLUME_H_
