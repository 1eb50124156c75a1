#include "server/store/meta_keys.h"

namespace rbfs::meta_keys {
namespace {

void AppendU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

std::string KindAnd(absl::string_view kind, uint64_t v) {
  std::string key(kind);
  AppendU64(&key, v);
  return key;
}

}  // namespace

std::string InodeKey(uint64_t ino) { return KindAnd(kInodes, ino); }

std::string DirentKey(uint64_t parent, absl::string_view name) {
  std::string key = KindAnd(kDirents, parent);
  key.append(name.data(), name.size());
  return key;
}

std::string CookiePrefix(uint64_t parent) { return KindAnd(kCookies, parent); }

std::string CookieKey(uint64_t parent, uint64_t cookie) {
  std::string key = CookiePrefix(parent);
  AppendU64(&key, cookie);
  return key;
}

std::string BlockPrefix(uint64_t ino) { return KindAnd(kBlocks, ino); }

std::string BlockKey(uint64_t ino, uint64_t index) {
  std::string key = BlockPrefix(ino);
  AppendU64(&key, index);
  return key;
}

bool ParseBlockKey(absl::string_view key, uint64_t* ino, uint64_t* index) {
  if (key.size() != kBlocks.size() + 16 ||
      key.substr(0, kBlocks.size()) != kBlocks) {
    return false;
  }
  *ino = DecodeU64(key.substr(kBlocks.size()));
  *index = DecodeU64(key.substr(kBlocks.size() + 8));
  return true;
}

std::string OrphanKey(uint64_t ino) { return KindAnd(kOrphans, ino); }

std::string MemberKey(int64_t lease) {
  return KindAnd(kMembers, static_cast<uint64_t>(lease));
}

std::string GroupKey(uint64_t group) { return KindAnd(kGroups, group); }

bool ParseGroupKey(absl::string_view key, uint64_t* group) {
  if (key.size() != kGroups.size() + 8 ||
      key.substr(0, kGroups.size()) != kGroups) {
    return false;
  }
  *group = DecodeU64(key.substr(kGroups.size()));
  return true;
}

std::string CallPrefix(uint64_t session) { return KindAnd(kCalls, session); }

std::string CallKey(uint64_t session, uint64_t seq) {
  std::string key = CallPrefix(session);
  AppendU64(&key, seq);
  return key;
}

std::string XattrPrefix(uint64_t ino) { return KindAnd(kXattrs, ino); }

std::string XattrKey(uint64_t ino, absl::string_view name) {
  std::string key = XattrPrefix(ino);
  key.append(name.data(), name.size());
  return key;
}

std::string EncodeU64(uint64_t v) {
  std::string out;
  AppendU64(&out, v);
  return out;
}

uint64_t DecodeU64(absl::string_view bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < bytes.size(); ++i) {
    v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  }
  return v;
}

std::string PrefixEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<uint8_t>(end.back()) == 0xff) {
    end.pop_back();
  }
  if (!end.empty()) {
    end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
  }
  return end;
}

void KeyValueMetaBatch::PutSuperblock(const meta::Superblock& sb) {
  Put(std::string(kSuperblock), sb.SerializeAsString());
}

void KeyValueMetaBatch::PutInode(uint64_t ino, const meta::InodeRecord& inode) {
  Put(InodeKey(ino), inode.SerializeAsString());
}

void KeyValueMetaBatch::DeleteInode(uint64_t ino) { Delete(InodeKey(ino)); }

void KeyValueMetaBatch::PutDirent(uint64_t parent, absl::string_view name,
                                  const meta::DirentRecord& d) {
  meta::DirentRecord by_name = d;
  by_name.clear_name();
  Put(DirentKey(parent, name), by_name.SerializeAsString());
  meta::DirentRecord by_cookie = d;
  by_cookie.set_name(std::string(name));
  Put(CookieKey(parent, d.cookie()), by_cookie.SerializeAsString());
}

void KeyValueMetaBatch::DeleteDirent(uint64_t parent, absl::string_view name,
                                     uint64_t cookie) {
  Delete(DirentKey(parent, name));
  Delete(CookieKey(parent, cookie));
}

void KeyValueMetaBatch::PutBlock(uint64_t ino, uint64_t index, uint64_t block) {
  Put(BlockKey(ino, index), EncodeU64(block));
}

void KeyValueMetaBatch::DeleteBlock(uint64_t ino, uint64_t index) {
  Delete(BlockKey(ino, index));
}

void KeyValueMetaBatch::PutOrphan(uint64_t ino, absl::string_view holder) {
  Put(OrphanKey(ino), std::string(holder));
}

void KeyValueMetaBatch::DeleteOrphan(uint64_t ino) { Delete(OrphanKey(ino)); }

void KeyValueMetaBatch::PutCall(uint64_t session, uint64_t seq,
                                const meta::CallRecord& record) {
  Put(CallKey(session, seq), record.SerializeAsString());
}

void KeyValueMetaBatch::DeleteCall(uint64_t session, uint64_t seq) {
  Delete(CallKey(session, seq));
}

void KeyValueMetaBatch::PutXattr(uint64_t ino, absl::string_view name,
                                 absl::string_view value) {
  Put(XattrKey(ino, name), std::string(value));
}

void KeyValueMetaBatch::DeleteXattr(uint64_t ino, absl::string_view name) {
  Delete(XattrKey(ino, name));
}

}  // namespace rbfs::meta_keys
