#include "tests/fuzz/service_harness.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/wire_limits.h"
#include "server/store/checker.h"
#include "server/store/local_stores.h"

namespace rbfs::fuzz {
namespace {

// Small, so that scripts also run the volume out of space.
constexpr uint64_t kVolumeBytes = 32 << 20;
constexpr uint32_t kBlockBytes = 4096;
// Ids remembered per script besides the root.
constexpr size_t kMaxKnown = 64;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "rbfs fuzz: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Reads little-endian integers and bytes from a payload; past the end it
// yields zeros, so every payload builds a request.
class ByteReader {
 public:
  explicit ByteReader(absl::string_view data) : data_(data) {}

  uint8_t U8() {
    if (data_.empty()) return 0;
    uint8_t b = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return b;
  }
  uint16_t U16() { return U8() | uint16_t{U8()} << 8; }
  uint32_t U32() { return U16() | uint32_t{U16()} << 16; }
  uint64_t U64() { return U32() | uint64_t{U32()} << 32; }
  absl::string_view Rest() {
    absl::string_view rest = data_;
    data_ = {};
    return rest;
  }

  // Mostly short names over a four-letter alphabet, so that names collide;
  // sometimes '/', NUL, '.', a high byte, a length around the limit, or a
  // reference to an earlier name.
  std::string Name() {
    uint8_t len = U8();
    if (len >= 0xf0 && len < 0xf8) {
      return std::string(1, static_cast<char>(len - 0xf0));  // kNameRefs
    }
    size_t n = len >= 0xf8 ? 250 + (len - 0xf8) : len % 3 + 1;
    std::string name;
    for (size_t i = 0; i < n; ++i) {
      uint8_t b = U8();
      static constexpr char kSpecial[] = {'/', '\0', '.', '\xff'};
      name.push_back(b >= 0xfc ? kSpecial[b - 0xfc] : "abcd"[b % 4]);
    }
    return name;
  }

  // Small, block-aligned, 32-bit or arbitrary 64-bit offsets.
  uint64_t Offset() {
    switch (U8() % 4) {
      case 0:
        return U16();
      case 1:
        return U32();
      case 2:
        return uint64_t{U16()} * kBlockBytes;
      default:
        return U64();
    }
  }

  uint32_t Mode() {
    static constexpr uint32_t kTypes[] = {S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR,
                                          S_IFBLK, S_IFDIR, S_IFLNK,  0};
    uint8_t type = U8();
    return kTypes[type % 8] | (U16() & 07777);
  }

  void Id(InodeId* id) {
    id->set_ino(U8());
    id->set_generation(U8() % 4);
  }

  void Caller(rbfs::Caller* c) {
    c->set_uid(U8());
    c->set_gid(U8());
  }

  void Time(Timespec* t) {
    t->set_sec(static_cast<int32_t>(U32()));
    t->set_nsec(U32());
  }

 private:
  absl::string_view data_;
};

void Build(ByteReader& r, LookupRequest* req) {
  r.Id(req->mutable_parent());
  req->set_name(r.Name());
}

void Build(ByteReader& r, GetAttrRequest* req) { r.Id(req->mutable_id()); }

void Build(ByteReader& r, SetAttrRequest* req) {
  r.Id(req->mutable_id());
  req->set_valid(r.U16());
  req->set_mode(r.Mode());
  req->set_uid(r.U8());
  req->set_gid(r.U8());
  req->set_size(r.Offset());
  r.Time(req->mutable_atime());
  r.Time(req->mutable_mtime());
  r.Caller(req->mutable_caller());
}

void Build(ByteReader& r, MkNodRequest* req) {
  r.Id(req->mutable_parent());
  req->set_name(r.Name());
  req->set_mode(r.Mode());
  req->set_rdev(r.U16());
  r.Caller(req->mutable_caller());
  uint8_t flags = r.U8();
  req->set_exclusive(flags & 1);
  req->set_open(flags & 2);
}

void Build(ByteReader& r, MkDirRequest* req) {
  r.Id(req->mutable_parent());
  req->set_name(r.Name());
  req->set_mode(r.Mode());
  r.Caller(req->mutable_caller());
}

void Build(ByteReader& r, UnlinkRequest* req) {
  r.Id(req->mutable_parent());
  req->set_name(r.Name());
}

void Build(ByteReader& r, RmDirRequest* req) {
  r.Id(req->mutable_parent());
  req->set_name(r.Name());
}

void Build(ByteReader& r, RenameRequest* req) {
  r.Id(req->mutable_parent());
  req->set_name(r.Name());
  r.Id(req->mutable_new_parent());
  req->set_new_name(r.Name());
  uint8_t flags = r.U8();
  req->set_flags(flags & 0x80 ? r.U32() : flags % 4);
}

void Build(ByteReader& r, LinkRequest* req) {
  r.Id(req->mutable_id());
  r.Id(req->mutable_new_parent());
  req->set_new_name(r.Name());
}

void Build(ByteReader& r, SymlinkRequest* req) {
  r.Id(req->mutable_parent());
  req->set_name(r.Name());
  uint16_t len = r.U16();
  std::string target(r.Rest());
  if (target.empty()) target = "t";
  // Sometimes exactly at and just past the 4095-byte limit.
  if (len >= 0xff00) target.resize(4095 + (len & 1), 'x');
  req->set_target(target);
}

void Build(ByteReader& r, ReadLinkRequest* req) { r.Id(req->mutable_id()); }

void Build(ByteReader& r, ReadDirRequest* req) {
  r.Id(req->mutable_id());
  uint8_t cookie = r.U8();
  req->set_cookie(cookie & 0x80 ? r.U64() : cookie % 16);
  uint8_t max = r.U8();
  req->set_max_entries(max & 0x80 ? r.U32() : max % 8);
  req->set_with_attrs(r.U8() & 1);
}

void Build(ByteReader& r, StatFsRequest*) {}

void Build(ByteReader& r, FsyncRequest* req) {
  r.Id(req->mutable_id());
  // The byte once chose the retired data_only field; it is still consumed so
  // that the stored corpora decode to the same calls.
  r.U8();
}

void Build(ByteReader& r, OpenRequest* req) {
  r.Id(req->mutable_id());
  req->set_flags(r.U32());
  r.Caller(req->mutable_caller());
}

void Build(ByteReader& r, ReleaseRequest* req) { r.Id(req->mutable_id()); }

void Build(ByteReader& r, ReadRequest* req) {
  r.Id(req->mutable_id());
  req->set_offset(r.Offset());
  uint8_t len = r.U8();
  req->set_length(len & 0x80 ? r.U32() : uint32_t{r.U16()} * 4);
}

void Build(ByteReader& r, WriteRequest* req) {
  r.Id(req->mutable_id());
  req->set_offset(r.Offset());
  // The rest of the payload, repeated up to a length that may span blocks.
  uint16_t len = r.U16();
  absl::string_view rest = r.Rest();
  std::string data;
  if (!rest.empty()) {
    while (data.size() < len) data.append(rest.data(), rest.size());
    data.resize(len);
  }
  req->set_data(std::move(data));
}

// An attribute name: mostly of a stored namespace, sometimes one of the two
// POSIX ACLs, another "system." name or none (ENOTSUP), from a few short
// names so that calls meet again.
std::string XattrName(ByteReader& r) {
  static constexpr const char* kPrefixes[] = {
      "user.", "user.", "trusted.", "security.", "system.", "os2."};
  const uint8_t pick = r.U8() % 8;
  if (pick == 6) return "system.posix_acl_access";
  if (pick == 7) return "system.posix_acl_default";
  return absl::StrCat(kPrefixes[pick], r.Name());
}

bool IsAclName(absl::string_view name) {
  return absl::StartsWith(name, "system.posix_acl_");
}

// A valid ACL in Linux's attribute form (version 2; tag, perm, id per
// entry): the owner, up to two named users, the owning group, up to two
// named groups, a mask when anything is named, the others.
std::string AclValue(ByteReader& r) {
  std::string out("\x02\0\0\0", 4);
  auto add = [&](uint16_t tag, uint32_t id) {
    const uint16_t perm = r.U8() % 8;
    for (uint32_t v : {uint32_t{tag}, uint32_t{perm}}) {
      out.push_back(static_cast<char>(v));
      out.push_back(static_cast<char>(v >> 8));
    }
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(id >> (8 * i)));
  };
  const int users = r.U8() % 3;
  const int groups = r.U8() % 3;
  add(0x01, 0xffffffff);
  for (int i = 0; i < users; ++i) add(0x02, r.U8());
  add(0x04, 0xffffffff);
  for (int i = 0; i < groups; ++i) add(0x08, r.U8());
  if (users + groups > 0) add(0x10, 0xffffffff);
  add(0x20, 0xffffffff);
  return out;
}

void Build(ByteReader& r, GetXattrRequest* req) {
  r.Id(req->mutable_id());
  req->set_name(XattrName(r));
}

void Build(ByteReader& r, ListXattrRequest* req) { r.Id(req->mutable_id()); }

void Build(ByteReader& r, SetXattrRequest* req) {
  r.Id(req->mutable_id());
  req->set_name(XattrName(r));
  req->set_flags(r.U8() % 4);
  // ACLs mostly valid, sometimes the raw bytes that follow (EINVAL).
  if (IsAclName(req->name()) && (r.U8() & 3) != 0) {
    req->set_value(AclValue(r));
    return;
  }
  const uint16_t len = r.U16();
  // Sometimes exactly at and just past the 64 KiB limit.
  std::string value(r.Rest());
  if (len >= 0xff00) value.resize(kMaxXattrValueBytes + (len & 1), 'v');
  req->set_value(std::move(value));
}

void Build(ByteReader& r, RemoveXattrRequest* req) {
  r.Id(req->mutable_id());
  req->set_name(XattrName(r));
}

void Build(ByteReader& r, FallocateRequest* req) {
  r.Id(req->mutable_id());
  static constexpr uint32_t kModes[] = {0, 1, 3, 16, 17, 2, 8};
  req->set_mode(kModes[r.U8() % 7]);
  req->set_offset(r.Offset());
  req->set_length(r.Offset());
}

void Build(ByteReader& r, SeekRequest* req) {
  r.Id(req->mutable_id());
  req->set_offset(r.Offset());
  req->set_whence(3 + r.U8() % 3);
}

void Build(ByteReader& r, CopyRangeRequest* req) {
  r.Id(req->mutable_in());
  r.Id(req->mutable_out());
  req->set_in_offset(r.Offset());
  req->set_out_offset(r.Offset());
  req->set_length(r.Offset());
}

void Build(ByteReader& r, LockRequest* req) {
  r.Id(req->mutable_id());
  req->set_session(1 + r.U8() % 3);
  req->set_owner(r.U8() % 4);
  req->set_flock(r.U8() & 1);
  req->set_type(r.U8() % 4);
  const uint64_t start = r.Offset();
  const uint64_t length = r.Offset();
  req->set_start(start);
  req->set_end(length == 0 ? UINT64_MAX : start + length - 1);
  req->set_pid(r.U8());
  req->set_test(r.U8() & 1);
}

// Parses the payload as the request message, or builds one from its bytes.
template <typename Request>
Request Decode(absl::string_view payload) {
  Request req;
  if (!req.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    req.Clear();
    ByteReader r(payload);
    Build(r, &req);
  }
  return req;
}

void CheckStatus(const grpc::Status& status, absl::string_view rpc) {
  if (!status.ok()) {
    Fail(absl::StrCat(rpc, " returned gRPC status ", status.error_code(), ": ",
                      status.error_message()));
  }
}

void CheckErr(int err, absl::string_view rpc) {
  if (err < 0 || err >= 4096) Fail(absl::StrCat(rpc, " replied errno ", err));
}

constexpr const char* kOpNames[kOpCount] = {
    "lookup",   "getattr",   "setattr",  "mknod",       "mkdir",     "unlink",
    "rmdir",    "rename",    "link",     "symlink",     "readlink",  "readdir",
    "statfs",   "fsync",     "open",     "release",     "read",      "write",
    "getxattr", "listxattr", "setxattr", "removexattr", "fallocate", "seek",
    "lock",     "copyrange"};

template <typename Reply>
void CheckEntryReply(const grpc::Status& status, const Reply& reply,
                     absl::string_view rpc) {
  CheckStatus(status, rpc);
  CheckErr(reply.err(), rpc);
  if (reply.err() == 0 &&
      (reply.attr().id().ino() == 0 || reply.attr().id().generation() == 0)) {
    Fail(absl::StrCat(rpc, " succeeded without an inode id"));
  }
}

std::vector<Op> OpsOf(Family family) {
  switch (family) {
    case Family::kNamespace:
      return {Op::kLookup,   Op::kMkNod,   Op::kMkDir,  Op::kUnlink,
              Op::kRmDir,    Op::kRename,  Op::kLink,   Op::kSymlink,
              Op::kReadLink, Op::kReadDir, Op::kGetAttr};
    case Family::kData:
      return {Op::kMkNod,   Op::kOpen,     Op::kRelease,   Op::kRead,
              Op::kWrite,   Op::kFsync,    Op::kSetAttr,   Op::kUnlink,
              Op::kGetAttr, Op::kStatFs,   Op::kFallocate, Op::kSeek,
              Op::kLock,    Op::kCopyRange};
    case Family::kAttr:
      return {Op::kGetAttr,   Op::kSetAttr,  Op::kStatFs,     Op::kMkNod,
              Op::kMkDir,     Op::kSymlink,  Op::kOpen,       Op::kRelease,
              Op::kReadDir,   Op::kLookup,   Op::kWrite,      Op::kGetXattr,
              Op::kListXattr, Op::kSetXattr, Op::kRemoveXattr};
    case Family::kAll:
      break;
  }
  std::vector<Op> all;
  for (int i = 0; i < kOpCount; ++i) all.push_back(static_cast<Op>(i));
  return all;
}

}  // namespace

void AppendCall(Op op, uint8_t ids, const google::protobuf::Message& request,
                std::string* script) {
  std::string payload = request.SerializeAsString();
  if (payload.size() > 0xffff) Fail("AppendCall: payload over 64 KiB");
  script->push_back(static_cast<char>(op));
  script->push_back(static_cast<char>(ids));
  script->push_back(static_cast<char>(payload.size() & 0xff));
  script->push_back(static_cast<char>(payload.size() >> 8));
  script->append(payload);
}

ServiceHarness::ServiceHarness(std::string dir, Family family, int check_every)
    : dir_(std::move(dir)),
      ops_(OpsOf(family)),
      check_every_(std::max(check_every, 1)) {
  OpenVolume();
  known_.push_back({Filesystem::kRootIno, Filesystem::kRootGeneration});
}

ServiceHarness::~ServiceHarness() = default;

void ServiceHarness::OpenVolume() {
  LocalStoreOptions local;
  local.data_dir = dir_;
  local.volume_size = kVolumeBytes;
  local.block_size = kBlockBytes;
  absl::StatusOr<Stores> stores = MakeLocalStores(local);
  if (!stores.ok()) {
    Fail(absl::StrCat("cannot open volume: ", stores.status().ToString()));
  }
  Filesystem::Options options;
  options.stores = *std::move(stores);
  absl::StatusOr<std::unique_ptr<Filesystem>> fs = Filesystem::Open(options);
  if (!fs.ok())
    Fail(absl::StrCat("cannot open volume: ", fs.status().ToString()));
  fs_ = std::move(*fs);
  service_ = std::make_unique<RbfsService>(fs_.get());
}

Op ServiceHarness::ChooseOp(uint8_t byte) const {
  Op op = static_cast<Op>(byte % kOpCount);
  if (std::find(ops_.begin(), ops_.end(), op) != ops_.end()) return op;
  return ops_[byte % ops_.size()];
}

void ServiceHarness::RunScript(const uint8_t* data, size_t size) {
  absl::string_view script(reinterpret_cast<const char*>(data), size);
  while (script.size() >= 4) {
    const uint8_t op = static_cast<uint8_t>(script[0]);
    const uint8_t ids = static_cast<uint8_t>(script[1]);
    const size_t length = static_cast<uint8_t>(script[2]) |
                          size_t{static_cast<uint8_t>(script[3])} << 8;
    script.remove_prefix(4);
    absl::string_view payload = script.substr(0, length);
    script.remove_prefix(payload.size());
    Call(ChooseOp(op), ids, payload);
  }
  ++scripts_run_;
  if (scripts_run_ % check_every_ == 0) CheckNow();
  Reset();
}

void ServiceHarness::CheckNow() {
  service_.reset();
  fs_.reset();
  absl::StatusOr<CheckReport> report = CheckDataDir(dir_, "");
  if (!report.ok()) Fail(absl::StrCat("checker: ", report.status().ToString()));
  if (!report->clean()) {
    Fail(absl::StrCat("checker found problems after script ", scripts_run_,
                      ":\n  ", absl::StrJoin(report->problems, "\n  ")));
  }
  ++checks_run_;
  OpenVolume();
  // Reopening bumped every generation; only the root keeps its id.
  known_.resize(1);
  opened_.clear();
}

void ServiceHarness::PatchId(uint8_t selector, uint8_t root,
                             InodeId* id) const {
  const Known& k = selector == root
                       ? known_[0]
                       : known_[known_.size() - 1 - selector % known_.size()];
  id->set_ino(k.ino);
  id->set_generation(k.generation);
}

void ServiceHarness::Learn(const Attr& attr) {
  const uint64_t ino = attr.id().ino();
  for (Known& k : known_) {
    if (k.ino == ino) {
      k.generation = attr.id().generation();
      return;
    }
  }
  if (known_.size() > kMaxKnown) known_.erase(known_.begin() + 1);
  known_.push_back({ino, attr.id().generation()});
}

void ServiceHarness::ReuseName(std::string* name) const {
  if (name->size() != 1 || static_cast<uint8_t>((*name)[0]) >= kNameRefs ||
      names_.empty()) {
    return;
  }
  const uint8_t back = static_cast<uint8_t>((*name)[0]);
  *name = names_[names_.size() - 1 - back % names_.size()];
}

void ServiceHarness::LearnName(const std::string& name) {
  if (std::find(names_.begin(), names_.end(), name) != names_.end()) return;
  if (names_.size() >= kMaxKnown) names_.erase(names_.begin());
  names_.push_back(name);
}

void ServiceHarness::Count(Op op, int err) {
  ++calls_[static_cast<int>(op)];
  if (err == 0) ++successes_[static_cast<int>(op)];
}

std::string ServiceHarness::Summary() const {
  std::string out = "calls (ok/all):";
  for (int i = 0; i < kOpCount; ++i) {
    if (calls_[i] == 0) continue;
    absl::StrAppend(&out, " ", kOpNames[i], " ", successes_[i], "/", calls_[i]);
  }
  return out;
}

void ServiceHarness::CheckWrite(const WriteRequest& req,
                                const WriteReply& reply) {
  if (reply.written() > req.data().size()) {
    Fail(absl::StrCat("write reports ", reply.written(), " of ",
                      req.data().size(), " bytes written"));
  }
  // An empty write changes nothing, so the size need not reach its offset.
  if (reply.written() > 0 && reply.size() < req.offset() + reply.written()) {
    Fail(absl::StrCat("write to ", req.offset(), "+", reply.written(),
                      " reports size ", reply.size()));
  }
  ReadRequest read;
  *read.mutable_id() = req.id();
  read.set_offset(req.offset());
  read.set_length(reply.written());
  ReadReply back;
  CheckStatus(service_->Read(nullptr, &read, &back), "Read after Write");
  if (back.err() != 0 ||
      back.data() != absl::string_view(req.data()).substr(0, reply.written())) {
    Fail(absl::StrCat("data written at ", req.offset(), " (", reply.written(),
                      " bytes) reads back differently, err ", back.err()));
  }
}

void ServiceHarness::Call(Op op, uint8_t ids, absl::string_view payload) {
  const bool patch = (ids & kRawIds) == 0;
  const uint8_t first = ids & kFirstIdMask;
  const uint8_t second = (ids & kSecondIdMask) >> kSecondIdShift;
  switch (op) {
    case Op::kLookup: {
      auto req = Decode<LookupRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_parent());
      ReuseName(req.mutable_name());
      EntryReply reply;
      CheckEntryReply(service_->Lookup(nullptr, &req, &reply), reply, "Lookup");
      Count(op, reply.err());
      if (reply.err() == 0) Learn(reply.attr());
      break;
    }
    case Op::kGetAttr: {
      auto req = Decode<GetAttrRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      AttrReply reply;
      CheckEntryReply(service_->GetAttr(nullptr, &req, &reply), reply,
                      "GetAttr");
      Count(op, reply.err());
      if (reply.err() == 0 && reply.attr().id().ino() != req.id().ino()) {
        Fail("GetAttr answered for another inode");
      }
      break;
    }
    case Op::kSetAttr: {
      auto req = Decode<SetAttrRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      AttrReply reply;
      CheckEntryReply(service_->SetAttr(nullptr, &req, &reply), reply,
                      "SetAttr");
      Count(op, reply.err());
      if (reply.err() == 0 && (req.valid() & SETATTR_SIZE) &&
          reply.attr().size() != req.size()) {
        Fail(absl::StrCat("SetAttr size ", req.size(), " left size ",
                          reply.attr().size()));
      }
      break;
    }
    case Op::kMkNod: {
      auto req = Decode<MkNodRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_parent());
      ReuseName(req.mutable_name());
      EntryReply reply;
      CheckEntryReply(service_->MkNod(nullptr, &req, &reply), reply, "MkNod");
      Count(op, reply.err());
      if (reply.err() == 0) {
        // A new node has the asked type; an existing one is opened only if
        // it is a regular file, which is what was asked then.
        const uint32_t type =
            req.mode() & S_IFMT ? req.mode() & S_IFMT : S_IFREG;
        if ((reply.attr().mode() & S_IFMT) != type) {
          Fail(absl::StrCat("MkNod of type ", type, " answered type ",
                            reply.attr().mode() & S_IFMT));
        }
        Learn(reply.attr());
        LearnName(req.name());
        if (req.open()) {
          opened_.push_back(
              {reply.attr().id().ino(), reply.attr().id().generation()});
        }
      }
      break;
    }
    case Op::kMkDir: {
      auto req = Decode<MkDirRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_parent());
      ReuseName(req.mutable_name());
      EntryReply reply;
      CheckEntryReply(service_->MkDir(nullptr, &req, &reply), reply, "MkDir");
      Count(op, reply.err());
      if (reply.err() == 0) {
        if (!S_ISDIR(reply.attr().mode())) Fail("MkDir made a non-directory");
        Learn(reply.attr());
        LearnName(req.name());
      }
      break;
    }
    case Op::kUnlink: {
      auto req = Decode<UnlinkRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_parent());
      ReuseName(req.mutable_name());
      ErrReply reply;
      CheckStatus(service_->Unlink(nullptr, &req, &reply), "Unlink");
      CheckErr(reply.err(), "Unlink");
      Count(op, reply.err());
      break;
    }
    case Op::kRmDir: {
      auto req = Decode<RmDirRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_parent());
      ReuseName(req.mutable_name());
      ErrReply reply;
      CheckStatus(service_->RmDir(nullptr, &req, &reply), "RmDir");
      CheckErr(reply.err(), "RmDir");
      Count(op, reply.err());
      break;
    }
    case Op::kRename: {
      auto req = Decode<RenameRequest>(payload);
      if (patch) {
        PatchId(first, kFirstIdMask, req.mutable_parent());
        PatchId(second, kSecondIdMask >> kSecondIdShift,
                req.mutable_new_parent());
      }
      ReuseName(req.mutable_name());
      ReuseName(req.mutable_new_name());
      ErrReply reply;
      CheckStatus(service_->Rename(nullptr, &req, &reply), "Rename");
      CheckErr(reply.err(), "Rename");
      if (reply.err() == 0) LearnName(req.new_name());
      Count(op, reply.err());
      break;
    }
    case Op::kLink: {
      auto req = Decode<LinkRequest>(payload);
      if (patch) {
        PatchId(first, kFirstIdMask, req.mutable_id());
        PatchId(second, kSecondIdMask >> kSecondIdShift,
                req.mutable_new_parent());
      }
      ReuseName(req.mutable_new_name());
      EntryReply reply;
      CheckEntryReply(service_->Link(nullptr, &req, &reply), reply, "Link");
      Count(op, reply.err());
      if (reply.err() == 0) LearnName(req.new_name());
      if (reply.err() == 0 && reply.attr().id().ino() != req.id().ino()) {
        Fail("Link answered for another inode");
      }
      break;
    }
    case Op::kSymlink: {
      auto req = Decode<SymlinkRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_parent());
      ReuseName(req.mutable_name());
      EntryReply reply;
      CheckEntryReply(service_->Symlink(nullptr, &req, &reply), reply,
                      "Symlink");
      Count(op, reply.err());
      if (reply.err() == 0) {
        Learn(reply.attr());
        LearnName(req.name());
        ReadLinkRequest read;
        *read.mutable_id() = reply.attr().id();
        ReadLinkReply target;
        CheckStatus(service_->ReadLink(nullptr, &read, &target), "ReadLink");
        if (target.err() != 0 || target.target() != req.target()) {
          Fail("a new symlink reads back a different target");
        }
      }
      break;
    }
    case Op::kReadLink: {
      auto req = Decode<ReadLinkRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      ReadLinkReply reply;
      CheckStatus(service_->ReadLink(nullptr, &req, &reply), "ReadLink");
      CheckErr(reply.err(), "ReadLink");
      Count(op, reply.err());
      break;
    }
    case Op::kReadDir: {
      auto req = Decode<ReadDirRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      ReadDirReply reply;
      CheckStatus(service_->ReadDir(nullptr, &req, &reply), "ReadDir");
      CheckErr(reply.err(), "ReadDir");
      Count(op, reply.err());
      uint64_t last = req.cookie();
      for (const DirEntry& e : reply.entries()) {
        if (e.cookie() <= last || e.cookie() < 3 || e.name().empty()) {
          Fail(absl::StrCat("ReadDir after cookie ", req.cookie(),
                            " returned entry with cookie ", e.cookie()));
        }
        last = e.cookie();
        if (req.with_attrs() && e.has_attr()) Learn(e.attr());
      }
      break;
    }
    case Op::kStatFs: {
      auto req = Decode<StatFsRequest>(payload);
      StatFsReply reply;
      CheckStatus(service_->StatFs(nullptr, &req, &reply), "StatFs");
      CheckErr(reply.err(), "StatFs");
      Count(op, reply.err());
      if (reply.free_blocks() > reply.total_blocks()) {
        Fail("StatFs reports more free blocks than blocks");
      }
      break;
    }
    case Op::kFsync: {
      auto req = Decode<FsyncRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      ErrReply reply;
      CheckStatus(service_->Fsync(nullptr, &req, &reply), "Fsync");
      CheckErr(reply.err(), "Fsync");
      Count(op, reply.err());
      break;
    }
    case Op::kOpen: {
      auto req = Decode<OpenRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      AttrReply reply;
      CheckEntryReply(service_->Open(nullptr, &req, &reply), reply, "Open");
      Count(op, reply.err());
      if (reply.err() == 0) {
        opened_.push_back(
            {reply.attr().id().ino(), reply.attr().id().generation()});
      }
      break;
    }
    case Op::kRelease: {
      auto req = Decode<ReleaseRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      ErrReply reply;
      CheckStatus(service_->Release(nullptr, &req, &reply), "Release");
      CheckErr(reply.err(), "Release");
      Count(op, reply.err());
      break;
    }
    case Op::kRead: {
      auto req = Decode<ReadRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      ReadReply reply;
      CheckStatus(service_->Read(nullptr, &req, &reply), "Read");
      CheckErr(reply.err(), "Read");
      Count(op, reply.err());
      if (reply.data().size() > req.length()) {
        Fail(absl::StrCat("Read of ", req.length(), " bytes returned ",
                          reply.data().size()));
      }
      break;
    }
    case Op::kWrite: {
      auto req = Decode<WriteRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      WriteReply reply;
      CheckStatus(service_->Write(nullptr, &req, &reply), "Write");
      CheckErr(reply.err(), "Write");
      Count(op, reply.err());
      if (reply.err() == 0) CheckWrite(req, reply);
      break;
    }
    case Op::kGetXattr: {
      auto req = Decode<GetXattrRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      XattrReply reply;
      CheckStatus(service_->GetXattr(nullptr, &req, &reply), "GetXattr");
      CheckErr(reply.err(), "GetXattr");
      Count(op, reply.err());
      break;
    }
    case Op::kListXattr: {
      auto req = Decode<ListXattrRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      XattrReply reply;
      CheckStatus(service_->ListXattr(nullptr, &req, &reply), "ListXattr");
      CheckErr(reply.err(), "ListXattr");
      Count(op, reply.err());
      if (reply.err() == 0 && !reply.value().empty() &&
          reply.value().back() != '\0') {
        Fail("ListXattr's names do not end with NUL");
      }
      break;
    }
    case Op::kSetXattr: {
      auto req = Decode<SetXattrRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      AttrReply reply;
      CheckEntryReply(service_->SetXattr(nullptr, &req, &reply), reply,
                      "SetXattr");
      Count(op, reply.err());
      if (reply.err() != 0) break;
      // An access ACL of only the owner, group and other entries is the
      // mode's bits, kept as those alone.
      if (req.name() == "system.posix_acl_access" &&
          req.value().size() == 4 + 3 * 8) {
        const std::string& v = req.value();
        const uint32_t bits = (v[6] & 7) << 6 | (v[14] & 7) << 3 | (v[22] & 7);
        if ((reply.attr().mode() & 0777) != bits) {
          Fail(absl::StrFormat("access ACL %o left mode %o", bits,
                               reply.attr().mode()));
        }
        CheckXattr(req.id(), req.name(), std::nullopt);
        break;
      }
      CheckXattr(req.id(), req.name(), req.value());
      break;
    }
    case Op::kRemoveXattr: {
      auto req = Decode<RemoveXattrRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      AttrReply reply;
      CheckEntryReply(service_->RemoveXattr(nullptr, &req, &reply), reply,
                      "RemoveXattr");
      Count(op, reply.err());
      if (reply.err() == 0) CheckXattr(req.id(), req.name(), std::nullopt);
      break;
    }
    case Op::kFallocate: {
      auto req = Decode<FallocateRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      AttrReply reply;
      CheckEntryReply(service_->Fallocate(nullptr, &req, &reply), reply,
                      "Fallocate");
      Count(op, reply.err());
      if (reply.err() == 0 && (req.mode() & 1) == 0 &&
          reply.attr().size() < req.offset() + req.length()) {
        Fail(absl::StrCat("fallocate to ", req.offset() + req.length(),
                          " left size ", reply.attr().size()));
      }
      break;
    }
    case Op::kSeek: {
      auto req = Decode<SeekRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      SeekReply reply;
      CheckStatus(service_->Seek(nullptr, &req, &reply), "Seek");
      CheckErr(reply.err(), "Seek");
      Count(op, reply.err());
      if (reply.err() == 0 && reply.offset() < req.offset()) {
        Fail(absl::StrCat("seek from ", req.offset(), " went back to ",
                          reply.offset()));
      }
      break;
    }
    case Op::kCopyRange: {
      auto req = Decode<CopyRangeRequest>(payload);
      if (patch) {
        PatchId(first, kFirstIdMask, req.mutable_in());
        PatchId(second, kSecondIdMask >> kSecondIdShift, req.mutable_out());
      }
      WriteReply reply;
      CheckStatus(service_->CopyRange(nullptr, &req, &reply), "CopyRange");
      CheckErr(reply.err(), "CopyRange");
      Count(op, reply.err());
      if (reply.err() == 0 &&
          (reply.written() >
               std::min<uint64_t>(req.length(), kMaxCopyBytesPerCall) ||
           (reply.written() > 0 &&
            reply.size() < req.out_offset() + reply.written()))) {
        Fail(absl::StrCat("copy of ", req.length(), " bytes reports ",
                          reply.written(), " copied, size ", reply.size()));
      }
      break;
    }
    case Op::kLock: {
      auto req = Decode<LockRequest>(payload);
      if (patch) PatchId(first, kFirstIdMask, req.mutable_id());
      LockReply reply;
      CheckStatus(service_->Lock(nullptr, &req, &reply), "Lock");
      CheckErr(reply.err(), "Lock");
      Count(op, reply.err());
      break;
    }
  }
}

void ServiceHarness::CheckXattr(const InodeId& id, const std::string& name,
                                const std::optional<std::string>& want) {
  GetXattrRequest get;
  *get.mutable_id() = id;
  get.set_name(name);
  XattrReply back;
  CheckStatus(service_->GetXattr(nullptr, &get, &back), "GetXattr after");
  if (want.has_value() ? (back.err() != 0 || back.value() != *want)
                       : back.err() != ENODATA) {
    Fail(absl::StrCat("attribute ", name, " reads back as err ", back.err(),
                      " value of ", back.value().size(), " bytes"));
  }
}

void ServiceHarness::Reset() {
  for (const Known& k : opened_) {
    absl::Status s = fs_->Release(InodeRef{k.ino, k.generation});
    if (!s.ok()) Fail(absl::StrCat("reset: Release: ", s.ToString()));
  }
  opened_.clear();
  known_.resize(1);
  names_.clear();
  RemoveTree(InodeRef{Filesystem::kRootIno, Filesystem::kRootGeneration});
}

void ServiceHarness::RemoveTree(InodeRef dir) {
  for (;;) {
    absl::StatusOr<DirListing> listing = fs_->ReadDir(dir, 0, 4096, false);
    if (!listing.ok()) {
      Fail(absl::StrCat("reset: ReadDir: ", listing.status().ToString()));
    }
    if (listing->items.empty()) {
      if (!listing->eof) Fail("reset: empty ReadDir page before the end");
      return;
    }
    for (const DirItem& item : listing->items) {
      absl::Status s;
      if (item.type == S_IFDIR) {
        absl::StatusOr<Entry> child = fs_->Lookup(dir, item.name);
        if (!child.ok()) {
          Fail(absl::StrCat("reset: Lookup of a listed directory: ",
                            child.status().ToString()));
        }
        RemoveTree(InodeRef{child->ino, child->inode.generation()});
        s = fs_->RmDir(dir, item.name);
      } else {
        s = fs_->Unlink(dir, item.name);
      }
      if (!s.ok()) {
        Fail(absl::StrCat("reset: removing a listed entry: ", s.ToString()));
      }
    }
  }
}

}  // namespace rbfs::fuzz
