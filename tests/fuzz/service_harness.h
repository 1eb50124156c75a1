// ServiceHarness: drives the real RbfsService over a real Filesystem with a
// byte string read as a script of RPC calls, and aborts on anything a hostile
// client could break: a gRPC status other than OK, an errno outside the
// valid range, a successful reply without its payload, written data that
// does not read back, a volume the offline checker (server/store/checker.h)
// finds unclean, or a tree that cannot be removed again.
//
// Script format: a sequence of records, each
//   op (1 byte) | ids (1 byte) | length (2 bytes, little endian) | payload
// `op` % 18 names the RPC (Op below); an op outside the harness's family is
// mapped onto one inside it. The payload is parsed as that RPC's request
// message; when it is not a valid message, the request is built field by
// field from the raw bytes instead. Unless bit 7 of `ids` is set, the
// request's inode ids are replaced by ids the script has already seen (the
// root and every id returned since), so that calls reach deep into the
// tree: bits 0-2 pick the first id (parent, or the inode itself), bits 3-6
// the second (new_parent of Rename and Link); 0 is the newest id, 1 the one
// before, and so on, and all ones is the root. With bit 7 set the ids stay
// as sent. A name of one byte below kNameRefs stands for a name the script
// created before (0 the newest), so that lookups, unlinks and renames hit.
//
// State between scripts: every script starts from an empty root. After each
// script the harness releases what the script opened and removes everything
// under the root through the Filesystem. Every `check_every` scripts (and on
// CheckNow) it first closes the Filesystem with the script's tree in place,
// runs the checker on the data directory, and reopens it, so the checker sees
// non-trivial trees and reopening reclaims the script's orphans.
#ifndef RBFS_TESTS_FUZZ_SERVICE_HARNESS_H_
#define RBFS_TESTS_FUZZ_SERVICE_HARNESS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "protos/rbfs.pb.h"
#include "server/fs/filesystem.h"
#include "server/rpc/rbfs_service.h"

namespace rbfs::fuzz {

enum class Op : uint8_t {
  kLookup,
  kGetAttr,
  kSetAttr,
  kMkNod,
  kMkDir,
  kUnlink,
  kRmDir,
  kRename,
  kLink,
  kSymlink,
  kReadLink,
  kReadDir,
  kStatFs,
  kFsync,
  kOpen,
  kRelease,
  kRead,
  kWrite,
  kGetXattr,
  kListXattr,
  kSetXattr,
  kRemoveXattr,
  kFallocate,
  kSeek,
  kLock,
  kCopyRange,
};
constexpr int kOpCount = 26;

// Which RPCs a harness drives; each family also has the calls that create
// what its other calls work on.
enum class Family { kAll, kNamespace, kData, kAttr };

// A record's `ids` byte.
constexpr uint8_t kFirstIdMask = 0x07;
constexpr uint8_t kSecondIdMask = 0x78;
constexpr int kSecondIdShift = 3;
constexpr uint8_t kRawIds = 0x80;  // keep the request's own inode ids
// One-byte names below this refer back to names the script created.
constexpr uint8_t kNameRefs = 0x10;

// Appends one script record to *script.
void AppendCall(Op op, uint8_t ids, const google::protobuf::Message& request,
                std::string* script);

class ServiceHarness {
 public:
  // Formats a fresh volume in `dir` (which must exist and be empty); aborts
  // the process if that fails.
  ServiceHarness(std::string dir, Family family, int check_every);
  ServiceHarness(const ServiceHarness&) = delete;
  ServiceHarness& operator=(const ServiceHarness&) = delete;
  ~ServiceHarness();

  // Runs one script, then resets the volume to an empty root.
  void RunScript(const uint8_t* data, size_t size);

  // Closes the volume, checks it offline and reopens it; aborts on problems.
  void CheckNow();

  uint64_t scripts_run() const { return scripts_run_; }
  uint64_t checks_run() const { return checks_run_; }
  // Calls and successful calls per RPC so far, one line, to show how deep
  // the scripts reach.
  std::string Summary() const;

 private:
  struct Known {
    uint64_t ino;
    uint64_t generation;
  };

  void OpenVolume();
  Op ChooseOp(uint8_t byte) const;
  // Runs one call; `payload` is the record's payload.
  void Call(Op op, uint8_t ids, absl::string_view payload);
  // `selector` counts back from the newest known id; `root` names the root.
  void PatchId(uint8_t selector, uint8_t root, InodeId* id) const;
  void Learn(const Attr& attr);
  void Count(Op op, int err);
  void ReuseName(std::string* name) const;
  void LearnName(const std::string& name);
  // The attribute `name` of `id` reads back as `want` (none: ENODATA).
  void CheckXattr(const InodeId& id, const std::string& name,
                  const std::optional<std::string>& want);
  void CheckWrite(const WriteRequest& req, const WriteReply& reply);
  // Releases every inode the script opened and removes every entry under
  // the root; aborts if the tree cannot be emptied.
  void Reset();
  // Recursion depth is bounded by the number of calls in a script.
  void RemoveTree(InodeRef dir);

  const std::string dir_;
  const std::vector<Op> ops_;
  const int check_every_;
  std::unique_ptr<Filesystem> fs_;
  std::unique_ptr<RbfsService> service_;
  // Ids seen during the current script; the root is always first.
  std::vector<Known> known_;
  // Names the current script created, newest last.
  std::vector<std::string> names_;
  // Inodes the current script opened, with how often.
  std::vector<Known> opened_;
  std::array<uint64_t, kOpCount> calls_{};
  std::array<uint64_t, kOpCount> successes_{};
  uint64_t scripts_run_ = 0;
  uint64_t checks_run_ = 0;
};

}  // namespace rbfs::fuzz

#endif  // RBFS_TESTS_FUZZ_SERVICE_HARNESS_H_
