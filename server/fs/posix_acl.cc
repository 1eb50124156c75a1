#include "server/fs/posix_acl.h"

#include <cerrno>
#include <utility>

#include "common/errno_status.h"

namespace rbfs {
namespace {

constexpr uint32_t kXattrVersion = 2;
constexpr size_t kHeaderBytes = 4;
constexpr size_t kEntryBytes = 8;
constexpr uint16_t kRwx = 07;
// What the kernel writes as the id of entries that name nobody.
constexpr uint32_t kUndefinedId = 0xffffffff;

uint32_t LoadLe(absl::string_view bytes, size_t at, size_t width) {
  uint32_t v = 0;
  for (size_t i = 0; i < width; ++i) {
    v |= uint32_t{static_cast<unsigned char>(bytes[at + i])} << (8 * i);
  }
  return v;
}

void AppendLe(std::string* out, uint32_t v, size_t width) {
  for (size_t i = 0; i < width; ++i)
    out->push_back(static_cast<char>(v >> (8 * i)));
}

// Linux's posix_acl_valid: the entries in tag order with the sections it
// allows.
bool Valid(const std::vector<PosixAcl::Entry>& entries) {
  enum class State { kUserObj, kUsers, kGroups, kOther, kDone };
  State state = State::kUserObj;
  bool needs_mask = false;
  for (const PosixAcl::Entry& e : entries) {
    if ((e.perm & ~kRwx) != 0) return false;
    switch (e.tag) {
      case PosixAcl::kUserObj:
        if (state != State::kUserObj) return false;
        state = State::kUsers;
        break;
      case PosixAcl::kUser:
        if (state != State::kUsers) return false;
        needs_mask = true;
        break;
      case PosixAcl::kGroupObj:
        if (state != State::kUsers) return false;
        state = State::kGroups;
        break;
      case PosixAcl::kGroup:
        if (state != State::kGroups) return false;
        needs_mask = true;
        break;
      case PosixAcl::kMask:
        if (state != State::kGroups) return false;
        state = State::kOther;
        break;
      case PosixAcl::kOther:
        if (state != State::kOther &&
            !(state == State::kGroups && !needs_mask)) {
          return false;
        }
        state = State::kDone;
        break;
      default:
        return false;
    }
  }
  return state == State::kDone;
}

}  // namespace

absl::StatusOr<PosixAcl> PosixAcl::Parse(absl::string_view xattr) {
  if (xattr.size() < kHeaderBytes ||
      (xattr.size() - kHeaderBytes) % kEntryBytes != 0) {
    return ErrnoError(EINVAL, "ACL of a size no ACL has");
  }
  if (LoadLe(xattr, 0, 4) != kXattrVersion) {
    return ErrnoError(EINVAL, "ACL of an unknown version");
  }
  std::vector<Entry> entries;
  entries.reserve((xattr.size() - kHeaderBytes) / kEntryBytes);
  for (size_t at = kHeaderBytes; at < xattr.size(); at += kEntryBytes) {
    Entry e;
    e.tag = static_cast<uint16_t>(LoadLe(xattr, at, 2));
    e.perm = static_cast<uint16_t>(LoadLe(xattr, at + 2, 2));
    e.id = e.tag == kUser || e.tag == kGroup ? LoadLe(xattr, at + 4, 4)
                                             : kUndefinedId;
    entries.push_back(e);
  }
  if (!Valid(entries)) return ErrnoError(EINVAL, "invalid ACL");
  return PosixAcl(std::move(entries));
}

std::string PosixAcl::ToXattr() const {
  std::string out;
  out.reserve(kHeaderBytes + kEntryBytes * entries_.size());
  AppendLe(&out, kXattrVersion, 4);
  for (const Entry& e : entries_) {
    AppendLe(&out, e.tag, 2);
    AppendLe(&out, e.perm, 2);
    AppendLe(&out, e.id, 4);
  }
  return out;
}

bool PosixAcl::EquivalentToMode() const {
  for (const Entry& e : entries_) {
    if (e.tag != kUserObj && e.tag != kGroupObj && e.tag != kOther) {
      return false;
    }
  }
  return true;
}

uint32_t PosixAcl::PermissionBits() const {
  return uint32_t{Find(kUserObj).perm} << 6 | uint32_t{GroupClass().perm} << 3 |
         Find(kOther).perm;
}

void PosixAcl::Chmod(uint32_t mode) {
  for (Entry& e : entries_) {
    if (e.tag == kUserObj) e.perm = (mode >> 6) & kRwx;
    if (e.tag == kOther) e.perm = mode & kRwx;
  }
  GroupClass().perm = (mode >> 3) & kRwx;
}

bool PosixAcl::MaskForCreate(uint32_t* mode) {
  for (Entry& e : entries_) {
    if (e.tag == kUserObj) e.perm &= (*mode >> 6) & kRwx;
    if (e.tag == kOther) e.perm &= *mode & kRwx;
  }
  Entry& group = GroupClass();
  group.perm &= (*mode >> 3) & kRwx;
  *mode = (*mode & ~uint32_t{0777}) | PermissionBits();
  return !EquivalentToMode();
}

PosixAcl::Entry& PosixAcl::GroupClass() {
  return const_cast<Entry&>(std::as_const(*this).GroupClass());
}

const PosixAcl::Entry& PosixAcl::GroupClass() const {
  for (const Entry& e : entries_) {
    if (e.tag == kMask) return e;
  }
  return Find(kGroupObj);
}

const PosixAcl::Entry& PosixAcl::Find(Tag tag) const {
  for (const Entry& e : entries_) {
    if (e.tag == tag) return e;
  }
  // Parse admits no ACL without an owner, group and other entry.
  return entries_.front();
}

}  // namespace rbfs
