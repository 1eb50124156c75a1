#include "server/rpc/store_changes.h"

#include <string>

#include "server/store/meta.pb.h"
#include "server/store/meta_keys.h"

namespace rbfs {
namespace {

constexpr size_t kNumberBytes = 8;

bool HasKind(absl::string_view key, absl::string_view kind, size_t at_least) {
  return key.size() >= kind.size() + at_least &&
         key.substr(0, kind.size()) == kind;
}

uint64_t NumberAfter(absl::string_view key, absl::string_view kind) {
  return meta_keys::DecodeU64(key.substr(kind.size(), kNumberBytes));
}

}  // namespace

std::vector<Change> ChangesOf(const StoreChange& change) {
  const absl::string_view key = change.key;
  if (HasKind(key, meta_keys::kInodes, kNumberBytes) &&
      key.size() == meta_keys::kInodes.size() + kNumberBytes) {
    const uint64_t ino = NumberAfter(key, meta_keys::kInodes);
    if (change.deleted) return {Change::All(ino)};
    meta::InodeRecord before;
    meta::InodeRecord after;
    if (change.prev_value.empty() ||
        !before.ParseFromString(change.prev_value) ||
        !after.ParseFromString(change.value) || before.size() != after.size() ||
        before.mtime_ns() != after.mtime_ns()) {
      return {Change::Data(ino)};
    }
    return {Change::Attr(ino)};
  }
  if (HasKind(key, meta_keys::kDirents, kNumberBytes)) {
    const absl::string_view name =
        key.substr(meta_keys::kDirents.size() + kNumberBytes);
    return {Change::Entry(NumberAfter(key, meta_keys::kDirents),
                          std::string(name))};
  }
  if (HasKind(key, meta_keys::kXattrs, kNumberBytes)) {
    return {Change::Attr(NumberAfter(key, meta_keys::kXattrs))};
  }
  return {};
}

}  // namespace rbfs
