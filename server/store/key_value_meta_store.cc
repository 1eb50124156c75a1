#include "server/store/key_value_meta_store.h"

#include <cerrno>

#include "common/errno_status.h"
#include "server/store/meta_keys.h"

namespace rbfs {

using meta_keys::BlockKey;
using meta_keys::BlockPrefix;
using meta_keys::CallKey;
using meta_keys::CallPrefix;
using meta_keys::CookieKey;
using meta_keys::CookiePrefix;
using meta_keys::DecodeU64;
using meta_keys::DirentKey;
using meta_keys::InodeKey;
using meta_keys::XattrKey;
using meta_keys::XattrPrefix;

namespace {

template <typename Proto>
absl::StatusOr<Proto> Parse(const absl::StatusOr<std::string>& value) {
  if (!value.ok()) return value.status();
  Proto proto;
  if (!proto.ParseFromString(*value)) {
    return ErrnoError(EIO, "corrupt metadata record");
  }
  return proto;
}

}  // namespace

absl::StatusOr<meta::Superblock> KeyValueMetaStore::GetSuperblock() const {
  return Parse<meta::Superblock>(Get(std::string(meta_keys::kSuperblock)));
}

absl::StatusOr<meta::InodeRecord> KeyValueMetaStore::GetInode(
    uint64_t ino) const {
  return Parse<meta::InodeRecord>(Get(InodeKey(ino)));
}

absl::StatusOr<meta::DirentRecord> KeyValueMetaStore::GetDirent(
    uint64_t parent, absl::string_view name) const {
  return Parse<meta::DirentRecord>(Get(DirentKey(parent, name)));
}

absl::StatusOr<meta::CallRecord> KeyValueMetaStore::GetCall(
    uint64_t session, uint64_t seq) const {
  return Parse<meta::CallRecord>(Get(CallKey(session, seq)));
}

absl::StatusOr<std::string> KeyValueMetaStore::GetXattr(
    uint64_t ino, absl::string_view name) const {
  return Get(XattrKey(ino, name));
}

absl::StatusOr<uint64_t> KeyValueMetaStore::GetBlock(uint64_t ino,
                                                     uint64_t index) const {
  absl::StatusOr<std::string> value = Get(BlockKey(ino, index));
  if (absl::IsNotFound(value.status())) return 0;
  if (!value.ok()) return value.status();
  return DecodeU64(*value);
}

absl::StatusOr<std::vector<uint64_t>> KeyValueMetaStore::GetBlocks(
    uint64_t ino, uint64_t first, uint64_t count) const {
  std::vector<uint64_t> blocks(count, 0);
  if (count == 0) return blocks;
  absl::Status scan = Scan(BlockPrefix(ino), BlockKey(ino, first),
                           [&](absl::string_view key, absl::string_view value) {
                             const uint64_t index = DecodeU64(key);
                             if (index - first >= count) return false;
                             blocks[index - first] = DecodeU64(value);
                             return true;
                           });
  if (!scan.ok()) return scan;
  return blocks;
}

absl::Status KeyValueMetaStore::ForEachInode(
    const std::function<bool(uint64_t ino)>& fn) const {
  return Scan(meta_keys::kInodes, meta_keys::kInodes,
              [&](absl::string_view key, absl::string_view) {
                return fn(DecodeU64(key));
              });
}

absl::Status KeyValueMetaStore::ForEachOrphan(
    const std::function<bool(uint64_t ino, absl::string_view holder)>& fn)
    const {
  return Scan(meta_keys::kOrphans, meta_keys::kOrphans,
              [&](absl::string_view key, absl::string_view holder) {
                return fn(DecodeU64(key), holder);
              });
}

absl::Status KeyValueMetaStore::ForEachBlock(
    const std::function<bool(uint64_t ino, uint64_t index, uint64_t block)>& fn)
    const {
  return Scan(meta_keys::kBlocks, meta_keys::kBlocks,
              [&](absl::string_view key, absl::string_view value) {
                return fn(DecodeU64(key), DecodeU64(key.substr(8)),
                          DecodeU64(value));
              });
}

absl::Status KeyValueMetaStore::ForEachBlockOf(
    uint64_t ino, uint64_t first,
    const std::function<bool(uint64_t index, uint64_t block)>& fn) const {
  return Scan(BlockPrefix(ino), BlockKey(ino, first),
              [&](absl::string_view key, absl::string_view value) {
                return fn(DecodeU64(key), DecodeU64(value));
              });
}

absl::Status KeyValueMetaStore::ForEachDirent(
    uint64_t parent, uint64_t first,
    const std::function<bool(const meta::DirentRecord& d)>& fn) const {
  absl::Status corrupt;
  absl::Status scan =
      Scan(CookiePrefix(parent), CookieKey(parent, first),
           [&](absl::string_view, absl::string_view value) {
             meta::DirentRecord d;
             if (!d.ParseFromArray(value.data(), value.size())) {
               corrupt = ErrnoError(EIO, "corrupt directory entry");
               return false;
             }
             return fn(d);
           });
  return scan.ok() ? corrupt : scan;
}

absl::Status KeyValueMetaStore::ForEachCall(
    const std::function<bool(uint64_t session, uint64_t seq)>& fn) const {
  return Scan(meta_keys::kCalls, meta_keys::kCalls,
              [&](absl::string_view key, absl::string_view) {
                return fn(DecodeU64(key), DecodeU64(key.substr(8)));
              });
}

absl::Status KeyValueMetaStore::ForEachCallOf(
    uint64_t session, const std::function<bool(uint64_t seq)>& fn) const {
  const std::string prefix = CallPrefix(session);
  return Scan(prefix, prefix, [&](absl::string_view key, absl::string_view) {
    return fn(DecodeU64(key));
  });
}

absl::Status KeyValueMetaStore::ForEachXattrOf(
    uint64_t ino,
    const std::function<bool(absl::string_view name, absl::string_view value)>&
        fn) const {
  const std::string prefix = XattrPrefix(ino);
  return Scan(prefix, prefix, fn);
}

absl::Status KeyValueMetaStore::ForEachXattr(
    const std::function<bool(uint64_t ino, absl::string_view name,
                             absl::string_view value)>& fn) const {
  return Scan(meta_keys::kXattrs, meta_keys::kXattrs,
              [&](absl::string_view key, absl::string_view value) {
                return fn(DecodeU64(key), key.substr(8), value);
              });
}

}  // namespace rbfs
