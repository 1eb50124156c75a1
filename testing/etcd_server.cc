#include "testing/etcd_server.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "testing/process.h"

namespace rbfs::testing {
namespace {

// etcd-dev.sh's own deadline is 60 s; a loaded machine starts etcd in 1-2.
constexpr absl::Duration kTimeout = absl::Seconds(90);

std::string Script() { return RunfilePath("deploy/etcd-dev.sh"); }

// Stops the shared etcd once the program's tests have run.
class SharedEtcdEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { etcd_.reset(); }
  EtcdServer* Get() {
    if (etcd_ == nullptr) {
      absl::StatusOr<std::unique_ptr<EtcdServer>> started = EtcdServer::Start();
      if (!started.ok()) {
        ADD_FAILURE() << started.status();
        return nullptr;
      }
      etcd_ = *std::move(started);
    }
    return etcd_.get();
  }

 private:
  std::unique_ptr<EtcdServer> etcd_;
};

SharedEtcdEnvironment* const shared_environment =
    static_cast<SharedEtcdEnvironment*>(
        ::testing::AddGlobalTestEnvironment(new SharedEtcdEnvironment));

}  // namespace

EtcdServer* SharedEtcdServer() { return shared_environment->Get(); }

absl::StatusOr<std::unique_ptr<EtcdServer>> EtcdServer::Start() {
  const std::string dir = MakeTempDir("etcd");
  const ProgramResult up = RunProgram({Script(), "up", dir}, kTimeout);
  if (up.exit_code != 0) {
    return absl::UnavailableError(absl::StrCat("deploy/etcd-dev.sh up failed (",
                                               up.exit_code, "): ", up.output));
  }
  for (absl::string_view line : absl::StrSplit(up.output, '\n')) {
    if (absl::ConsumePrefix(&line, "ETCD_ENDPOINTS=")) {
      return std::unique_ptr<EtcdServer>(
          new EtcdServer(dir, std::string(line)));
    }
  }
  RunProgram({Script(), "down", dir}, kTimeout);
  return absl::InternalError(absl::StrCat(
      "deploy/etcd-dev.sh up named no ETCD_ENDPOINTS: ", up.output));
}

absl::Status EtcdServer::DeletePrefix(const std::string& prefix) {
  const ProgramResult del =
      RunProgram({"env", "ETCDCTL_API=3", "etcdctl", "--endpoints", endpoint_,
                  "del", "--prefix", prefix},
                 kTimeout);
  if (del.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("etcdctl del --prefix ", prefix, ": ", del.output));
  }
  return absl::OkStatus();
}

absl::Status EtcdServer::Stop() {
  if (stopped_) return absl::OkStatus();
  const ProgramResult down = RunProgram({Script(), "down", dir_}, kTimeout);
  if (down.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("deploy/etcd-dev.sh down failed: ", down.output));
  }
  stopped_ = true;
  return absl::OkStatus();
}

EtcdServer::~EtcdServer() {
  if (Stop().ok()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

}  // namespace rbfs::testing
