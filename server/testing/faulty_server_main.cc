// rbfs-server-faulty: rbfs-server with a FaultBlockDevice under its volume,
// for end-to-end tests of the error paths. The faults come from the file
// that --fault-spec names, re-read whenever it is replaced (tests write a
// new one and rename it into place): whitespace-separated `read=ERR`,
// `write=ERR` and `sync=ERR`, ERR being EIO, ENOSPC or EROFS; an empty or
// missing file means no faults.
#include <sys/stat.h>

#include <cerrno>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/file_contents.h"
#include "common/log.h"
#include "server/server_main.h"
#include "server/testing/fault_block_device.h"

ABSL_FLAG(std::string, fault_spec, "",
          "file naming the volume faults to inject (see the file comment)");

namespace rbfs {
namespace {

// Applies the spec file to the switchboard whenever the file changes;
// checked before every volume call, which a test build can afford.
class SpecFileDevice : public BlockDevice {
 public:
  SpecFileDevice(std::unique_ptr<BlockDevice> inner, std::string spec_path)
      : faults_(std::make_shared<VolumeFaults>()),
        device_(std::move(inner), faults_),
        spec_path_(std::move(spec_path)) {}

  uint32_t block_size() const override { return device_.block_size(); }
  uint64_t block_count() const override { return device_.block_count(); }
  absl::Status Read(uint64_t block, uint32_t offset, char* data,
                    uint32_t length) const override {
    Refresh();
    return device_.Read(block, offset, data, length);
  }
  absl::Status Write(uint64_t block, uint32_t offset,
                     absl::string_view data) const override {
    Refresh();
    return device_.Write(block, offset, data);
  }
  absl::Status Sync() const override {
    Refresh();
    return device_.Sync();
  }

 private:
  static int ParseErrno(absl::string_view name) {
    if (name == "EIO") return EIO;
    if (name == "ENOSPC") return ENOSPC;
    if (name == "EROFS") return EROFS;
    return 0;
  }

  void Refresh() const {
    struct stat st {};
    const bool exists = stat(spec_path_.c_str(), &st) == 0;
    absl::MutexLock lock(&mu_);
    const std::pair<ino_t, int64_t> version = {
        exists ? st.st_ino : 0,
        exists ? st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec : 0};
    if (version == version_) return;
    version_ = version;
    // An unreadable spec counts as an empty one: no faults.
    const std::string spec =
        exists ? ReadFileContents(spec_path_).value_or("") : "";
    int read_err = 0, write_err = 0, sync_err = 0;
    for (absl::string_view item :
         absl::StrSplit(spec, absl::ByAnyChar(" \t\n"), absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> kv =
          absl::StrSplit(item, '=');
      const int err = ParseErrno(kv.second);
      if (kv.first == "read") read_err = err;
      if (kv.first == "write") write_err = err;
      if (kv.first == "sync") sync_err = err;
    }
    faults_->FailReads(read_err);
    faults_->FailWrites(write_err);
    faults_->FailSyncs(sync_err);
    LogInfo("fault spec now \"%s\"", spec);
  }

  const std::shared_ptr<VolumeFaults> faults_;
  FaultBlockDevice device_;
  const std::string spec_path_;
  mutable absl::Mutex mu_;
  // Identity of the spec file last applied.
  mutable std::pair<ino_t, int64_t> version_ ABSL_GUARDED_BY(mu_) = {0, 0};
};

}  // namespace
}  // namespace rbfs

int main(int argc, char** argv) {
  return rbfs::RunServerMain(
      argc, argv, [](std::unique_ptr<rbfs::BlockDevice> volume) {
        return std::make_unique<rbfs::SpecFileDevice>(
            std::move(volume), absl::GetFlag(FLAGS_fault_spec));
      });
}
