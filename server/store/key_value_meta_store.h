// KeyValueMetaStore: a MetaStore (meta_store.h) on an ordered key-value
// medium in the schema of meta_keys.h. It reads every record and listing
// through the two things such a medium offers, a point read (Get) and an
// ordered scan of a prefix (Scan); RocksMetaStore and EtcdMetaStore supply
// those, their batches, and what is their own.
#ifndef RBFS_SERVER_STORE_KEY_VALUE_META_STORE_H_
#define RBFS_SERVER_STORE_KEY_VALUE_META_STORE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/store/meta.pb.h"
#include "server/store/meta_store.h"

namespace rbfs {

class KeyValueMetaStore : public MetaStore {
 public:
  absl::StatusOr<meta::Superblock> GetSuperblock() const override;
  absl::StatusOr<meta::InodeRecord> GetInode(uint64_t ino) const override;
  absl::StatusOr<meta::DirentRecord> GetDirent(
      uint64_t parent, absl::string_view name) const override;
  absl::StatusOr<meta::CallRecord> GetCall(uint64_t session,
                                           uint64_t seq) const override;
  absl::StatusOr<std::string> GetXattr(uint64_t ino,
                                       absl::string_view name) const override;
  absl::StatusOr<uint64_t> GetBlock(uint64_t ino,
                                    uint64_t index) const override;
  // From a scan of the inode's block map from `first` on.
  absl::StatusOr<std::vector<uint64_t>> GetBlocks(
      uint64_t ino, uint64_t first, uint64_t count) const override;

  absl::Status ForEachInode(
      const std::function<bool(uint64_t ino)>& fn) const override;
  absl::Status ForEachOrphan(
      const std::function<bool(uint64_t ino, absl::string_view holder)>& fn)
      const override;
  absl::Status ForEachBlock(
      const std::function<bool(uint64_t ino, uint64_t index, uint64_t block)>&
          fn) const override;
  absl::Status ForEachBlockOf(
      uint64_t ino, uint64_t first,
      const std::function<bool(uint64_t index, uint64_t block)>& fn)
      const override;
  absl::Status ForEachDirent(
      uint64_t parent, uint64_t first,
      const std::function<bool(const meta::DirentRecord& d)>& fn)
      const override;
  absl::Status ForEachCall(
      const std::function<bool(uint64_t session, uint64_t seq)>& fn)
      const override;
  absl::Status ForEachCallOf(
      uint64_t session,
      const std::function<bool(uint64_t seq)>& fn) const override;
  absl::Status ForEachXattrOf(
      uint64_t ino,
      const std::function<bool(absl::string_view name,
                               absl::string_view value)>& fn) const override;
  absl::Status ForEachXattr(
      const std::function<bool(uint64_t ino, absl::string_view name,
                               absl::string_view value)>& fn) const override;

 protected:
  // The value of schema key `key`; NotFound if absent.
  virtual absl::StatusOr<std::string> Get(const std::string& key) const = 0;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_KEY_VALUE_META_STORE_H_
