// Writes the seed scripts of tests/fuzz/corpus: one short, valid script per
// RPC family plus one of hostile requests, in the format of
// service_harness.h. Run it to regenerate the checked-in corpus:
//   bazel run //tests/fuzz:make_corpus -- "$PWD/tests/fuzz/corpus"
#include <fcntl.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "tests/fuzz/service_harness.h"

namespace rbfs::fuzz {
namespace {

// The `ids` byte: `first` and `second` count back from the newest known id.
constexpr uint8_t Ids(uint8_t first, uint8_t second = 0) {
  return static_cast<uint8_t>(first | second << kSecondIdShift);
}
constexpr uint8_t kRoot = kFirstIdMask;
constexpr uint8_t kRootSecond = kSecondIdMask >> kSecondIdShift;

template <typename Request>
Request Named(const std::string& name) {
  Request r;
  r.set_name(name);
  return r;
}

MkNodRequest File(const std::string& name, bool open) {
  MkNodRequest r = Named<MkNodRequest>(name);
  r.set_mode(0100644);
  r.set_exclusive(true);
  r.set_open(open);
  return r;
}

MkDirRequest Dir(const std::string& name) {
  MkDirRequest r = Named<MkDirRequest>(name);
  r.set_mode(0755);
  return r;
}

std::string Namespace() {
  std::string s;
  AppendCall(Op::kMkDir, Ids(kRoot), Dir("a"), &s);
  AppendCall(Op::kMkDir, Ids(0), Dir("b"), &s);          // a/b
  AppendCall(Op::kMkNod, Ids(1), File("f", false), &s);  // a/f
  SymlinkRequest sym = Named<SymlinkRequest>("s");
  sym.set_target("../f");
  AppendCall(Op::kSymlink, Ids(1), sym, &s);  // a/b/s
  AppendCall(Op::kReadLink, Ids(0), ReadLinkRequest(), &s);
  LinkRequest link;
  link.set_new_name("g");
  AppendCall(Op::kLink, Ids(1, kRootSecond), link, &s);  // /g -> a/f
  RenameRequest rename = Named<RenameRequest>("b");
  rename.set_new_name("c");
  AppendCall(Op::kRename, Ids(3, kRootSecond), rename, &s);  // a/b -> /c
  AppendCall(Op::kLookup, Ids(kRoot), Named<LookupRequest>("c"), &s);
  ReadDirRequest readdir;
  readdir.set_max_entries(2);
  AppendCall(Op::kReadDir, Ids(kRoot), readdir, &s);
  AppendCall(Op::kUnlink, Ids(kRoot), Named<UnlinkRequest>("g"), &s);
  AppendCall(Op::kRmDir, Ids(kRoot), Named<RmDirRequest>("a"), &s);
  return s;
}

std::string Data() {
  std::string s;
  AppendCall(Op::kMkNod, Ids(kRoot), File("d", true), &s);
  WriteRequest write;
  write.set_data("hello, rbfs");
  AppendCall(Op::kWrite, Ids(0), write, &s);
  write.set_offset(4000);  // across a block boundary
  write.set_data(std::string(5000, 'z'));
  AppendCall(Op::kWrite, Ids(0), write, &s);
  ReadRequest read;
  read.set_offset(3);
  read.set_length(8192);
  AppendCall(Op::kRead, Ids(0), read, &s);
  SetAttrRequest truncate;
  truncate.set_valid(SETATTR_SIZE);
  truncate.set_size(4100);
  AppendCall(Op::kSetAttr, Ids(0), truncate, &s);
  AppendCall(Op::kFsync, Ids(0), FsyncRequest(), &s);
  AppendCall(Op::kUnlink, Ids(kRoot), Named<UnlinkRequest>("d"), &s);
  AppendCall(Op::kRead, Ids(0), read, &s);  // unlinked but still open
  AppendCall(Op::kRelease, Ids(0), ReleaseRequest(), &s);
  AppendCall(Op::kStatFs, 0, StatFsRequest(), &s);
  return s;
}

std::string Attributes() {
  std::string s;
  AppendCall(Op::kMkNod, Ids(kRoot), File("x", false), &s);
  SetAttrRequest set;
  set.set_valid(SETATTR_MODE | SETATTR_UID | SETATTR_GID | SETATTR_ATIME |
                SETATTR_MTIME_NOW);
  set.set_mode(0600);
  set.set_uid(1000);
  set.set_gid(100);
  set.mutable_atime()->set_sec(1700000000);
  AppendCall(Op::kSetAttr, Ids(0), set, &s);
  AppendCall(Op::kGetAttr, Ids(0), GetAttrRequest(), &s);
  OpenRequest open;
  open.set_flags(O_RDWR | O_TRUNC);
  AppendCall(Op::kOpen, Ids(0), open, &s);
  AppendCall(Op::kRelease, Ids(0), ReleaseRequest(), &s);
  ReadDirRequest readdir;
  readdir.set_with_attrs(true);
  AppendCall(Op::kReadDir, Ids(kRoot), readdir, &s);
  AppendCall(Op::kStatFs, 0, StatFsRequest(), &s);
  return s;
}

std::string Hostile() {
  std::string s;
  AppendCall(Op::kMkDir, Ids(kRoot), Dir("p"), &s);
  AppendCall(Op::kMkDir, Ids(0), Dir("q"), &s);  // p/q
  RenameRequest loop = Named<RenameRequest>("p");
  loop.set_new_name("r");
  AppendCall(Op::kRename, Ids(kRoot, 0), loop, &s);  // p into its own child
  AppendCall(Op::kMkDir, Ids(kRoot), Dir(".."), &s);
  AppendCall(Op::kMkDir, Ids(kRoot), Dir("x/y"), &s);
  AppendCall(Op::kMkDir, Ids(kRoot), Dir(std::string(256, 'n')), &s);
  GetAttrRequest stale;
  stale.mutable_id()->set_ino(1);
  stale.mutable_id()->set_generation(2);
  AppendCall(Op::kGetAttr, kRawIds, stale, &s);
  stale.mutable_id()->set_ino(~uint64_t{0});
  AppendCall(Op::kGetAttr, kRawIds, stale, &s);
  AppendCall(Op::kMkNod, Ids(kRoot), File("h", true), &s);
  WriteRequest far;
  far.set_offset(~uint64_t{0} - 2);
  far.set_data("end");
  AppendCall(Op::kWrite, Ids(0), far, &s);
  ReadRequest huge;
  huge.set_length(~uint32_t{0});
  AppendCall(Op::kRead, Ids(0), huge, &s);
  SetAttrRequest grow;
  grow.set_valid(SETATTR_SIZE);
  grow.set_size(uint64_t{1} << 44);
  AppendCall(Op::kSetAttr, Ids(0), grow, &s);
  AppendCall(Op::kReadDir, Ids(0), ReadDirRequest(), &s);  // not a directory
  AppendCall(Op::kRmDir, Ids(kRoot), Named<RmDirRequest>("p"), &s);
  RenameRequest exchange = Named<RenameRequest>("h");
  exchange.set_new_name("p");
  exchange.set_flags(2);
  AppendCall(Op::kRename, Ids(kRoot, kRootSecond), exchange, &s);
  return s;
}

}  // namespace
}  // namespace rbfs::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::pair<const char*, std::string> seeds[] = {
      {"namespace", rbfs::fuzz::Namespace()},
      {"data", rbfs::fuzz::Data()},
      {"attributes", rbfs::fuzz::Attributes()},
      {"hostile", rbfs::fuzz::Hostile()},
  };
  for (const auto& [name, script] : seeds) {
    std::ofstream out(std::string(argv[1]) + "/" + name, std::ios::binary);
    out << script;
    if (!out) {
      std::perror(name);
      return 1;
    }
  }
  return 0;
}
