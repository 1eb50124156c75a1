// The key schema of the metadata records (meta.proto) in an ordered
// key-value store, shared by every MetaStore on one (RocksDB, etcd) and by
// the offline checker, which verifies it.
//
// Each key is a one-letter kind, then big-endian numbers (so key order is
// numeric order), then a name where the record has one:
//   "S"                  -> Superblock
//   "I" ino              -> InodeRecord
//   "D" parent name      -> DirentRecord, name cleared (lookup by name)
//   "C" parent cookie    -> DirentRecord, name set (readdir in cookie order)
//   "B" ino block_index  -> physical block number (8 bytes, big-endian)
//   "O" ino              -> "" or, shared, the member keeping it (orphan:
//                           unlinked, open)
//   "R" session seq      -> CallRecord (result of a numbered call)
//   "X" ino name         -> the value's bytes (extended attribute)
//   "N"                  -> the first inode number nobody reserved yet
//                           (8 bytes; kept by stores with several users)
//   "L"                  -> who serves the volume (etcd: the serving lock,
//                           bound to its holder's lease)
//   "M" lease            -> who serves it together with others (etcd,
//                           --etcd-shared: one record per server, bound to
//                           that server's lease, whose id is in the key)
//   "G" group            -> the lease of the server that allocates from
//                           allocation group `group` (8 bytes; bound to it)
// KeyValueMetaBatch turns MetaBatch's records into these keys once, for the
// stores to apply as puts and deletes.
#ifndef RBFS_SERVER_STORE_META_KEYS_H_
#define RBFS_SERVER_STORE_META_KEYS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "server/store/meta.pb.h"
#include "server/store/meta_store.h"

namespace rbfs::meta_keys {

inline constexpr absl::string_view kSuperblock = "S";
inline constexpr absl::string_view kInodes = "I";
inline constexpr absl::string_view kDirents = "D";
inline constexpr absl::string_view kCookies = "C";
inline constexpr absl::string_view kBlocks = "B";
inline constexpr absl::string_view kOrphans = "O";
inline constexpr absl::string_view kCalls = "R";
inline constexpr absl::string_view kXattrs = "X";
inline constexpr absl::string_view kInodeCounter = "N";
inline constexpr absl::string_view kServingLock = "L";
inline constexpr absl::string_view kMembers = "M";
inline constexpr absl::string_view kGroups = "G";

std::string InodeKey(uint64_t ino);
std::string DirentKey(uint64_t parent, absl::string_view name);
std::string CookieKey(uint64_t parent, uint64_t cookie);
std::string BlockKey(uint64_t ino, uint64_t index);
std::string OrphanKey(uint64_t ino);
std::string CallKey(uint64_t session, uint64_t seq);
std::string XattrKey(uint64_t ino, absl::string_view name);
std::string MemberKey(int64_t lease);
std::string GroupKey(uint64_t group);
// Prefixes of all B keys of one inode, all C keys of one directory, all R
// keys of one session and all X keys of one inode.
std::string BlockPrefix(uint64_t ino);
std::string CookiePrefix(uint64_t parent);
std::string CallPrefix(uint64_t session);
std::string XattrPrefix(uint64_t ino);

// Whether `key` is a whole block map key (BlockKey); its inode and index
// if so.
bool ParseBlockKey(absl::string_view key, uint64_t* ino, uint64_t* index);
// Whether `key` is a whole GroupKey; its group if so.
bool ParseGroupKey(absl::string_view key, uint64_t* group);

std::string EncodeU64(uint64_t v);
// The number in the first 8 bytes of `bytes` (fewer: those).
uint64_t DecodeU64(absl::string_view bytes);

// The smallest key greater than every key starting with `prefix`; empty if
// there is none (a prefix of 0xff bytes only).
std::string PrefixEnd(absl::string_view prefix);

// A MetaBatch as puts and deletes of the keys above, in call order; a store
// implements Put and Delete.
class KeyValueMetaBatch : public MetaBatch {
 public:
  void PutSuperblock(const meta::Superblock& sb) override;
  void PutInode(uint64_t ino, const meta::InodeRecord& inode) override;
  void DeleteInode(uint64_t ino) override;
  void PutDirent(uint64_t parent, absl::string_view name,
                 const meta::DirentRecord& d) override;
  void DeleteDirent(uint64_t parent, absl::string_view name,
                    uint64_t cookie) override;
  void PutBlock(uint64_t ino, uint64_t index, uint64_t block) override;
  void DeleteBlock(uint64_t ino, uint64_t index) override;
  void PutOrphan(uint64_t ino, absl::string_view holder) override;
  void DeleteOrphan(uint64_t ino) override;
  void PutCall(uint64_t session, uint64_t seq,
               const meta::CallRecord& record) override;
  void DeleteCall(uint64_t session, uint64_t seq) override;
  void PutXattr(uint64_t ino, absl::string_view name,
                absl::string_view value) override;
  void DeleteXattr(uint64_t ino, absl::string_view name) override;

 protected:
  virtual void Put(std::string key, std::string value) = 0;
  virtual void Delete(std::string key) = 0;
};

}  // namespace rbfs::meta_keys

#endif  // RBFS_SERVER_STORE_META_KEYS_H_
