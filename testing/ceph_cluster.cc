#include "testing/ceph_cluster.h"

#include <signal.h>

#include <cerrno>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/file_contents.h"
#include "testing/process.h"

namespace rbfs::testing {
namespace {

// Generous: a loaded 2-core machine starts three OSDs in about 25 s.
constexpr absl::Duration kStartTimeout = absl::Minutes(3);
constexpr absl::Duration kStopTimeout = absl::Minutes(1);

std::string Script() { return RunfilePath("deploy/ceph-dev.sh"); }

}  // namespace

absl::StatusOr<std::unique_ptr<CephCluster>> CephCluster::Start(int osds) {
  const std::string dir = MakeTempDir("ceph");
  const ProgramResult up =
      RunProgram({Script(), "up", dir, absl::StrCat(osds)}, kStartTimeout);
  if (up.exit_code != 0) {
    return absl::UnavailableError(absl::StrCat("deploy/ceph-dev.sh up failed (",
                                               up.exit_code, "): ", up.output));
  }
  std::string conf;
  std::string pool;
  for (absl::string_view line : absl::StrSplit(up.output, '\n')) {
    if (absl::ConsumePrefix(&line, "CEPH_CONF=")) conf = std::string(line);
    if (absl::ConsumePrefix(&line, "CEPH_POOL=")) pool = std::string(line);
  }
  if (conf.empty() || pool.empty()) {
    RunProgram({Script(), "down", dir}, kStopTimeout);
    return absl::InternalError(absl::StrCat(
        "deploy/ceph-dev.sh up named no CEPH_CONF and CEPH_POOL: ", up.output));
  }
  return std::unique_ptr<CephCluster>(new CephCluster(dir, conf, pool));
}

absl::Status CephCluster::Stop() {
  if (stopped_) return absl::OkStatus();
  const ProgramResult down = RunProgram({Script(), "down", dir_}, kStopTimeout);
  if (down.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("deploy/ceph-dev.sh down failed: ", down.output));
  }
  stopped_ = true;
  return absl::OkStatus();
}

absl::Status CephCluster::RemoveImage(const std::string& image) {
  const ProgramResult rm = RunProgram(
      {"rbd", "-c", conf_, "rm", "--no-progress", pool_ + "/" + image},
      absl::Minutes(1));
  if (rm.exit_code != 0 &&
      rm.output.find("No such file") == std::string::npos) {
    return absl::InternalError(absl::StrCat("rbd rm ", image, ": ", rm.output));
  }
  return absl::OkStatus();
}

absl::Status CephCluster::Signal(const std::string& name, int signal) {
  absl::StatusOr<std::string> pids = ReadFileContents(dir_ + "/pids");
  if (!pids.ok()) return pids.status();
  for (absl::string_view line : absl::StrSplit(*pids, '\n')) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    int pid = 0;
    if (fields.size() >= 2 && fields[0] == name &&
        absl::SimpleAtoi(fields[1], &pid) && pid > 0) {
      if (kill(pid, signal) != 0) {
        return absl::InternalError(absl::StrCat("kill ", name, ": ", errno));
      }
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError(absl::StrCat("no daemon ", name, " in ", dir_));
}

CephCluster::~CephCluster() {
  // The OSDs' block files keep what was written (sparse files of 20 GiB).
  if (Stop().ok()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

}  // namespace rbfs::testing
