// The mount's metrics (-o metrics=HOST:PORT) and the server's, scraped
// through their HTTP endpoints around real I/O through the kernel: every
// family the mount lists is exposed in the exact text format, and each moves
// with what it counts. deploy/grafana/rbfs-mount.json graphs only those.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/file_contents.h"
#include "gtest/gtest.h"
#include "testing/mount_fixture.h"
#include "testing/prometheus_text.h"
#include "testing/test_data.h"

namespace rbfs {
namespace {

// Every family the mount exposes (client/fuse/fuse_metrics.h,
// client/core/mount_metrics.h).
constexpr const char* kMountFamilies[] = {
    "rbfs_mount_fuse_request_seconds",  "rbfs_mount_kernel_invalidations_total",
    "rbfs_mount_cache_answers_total",   "rbfs_mount_chunks_in_flight",
    "rbfs_mount_chunks_queued",         "rbfs_mount_rpc_retries_total",
    "rbfs_mount_reconnects_total",      "rbfs_mount_synced",
    "rbfs_mount_stream_requests_total", "rbfs_mount_stream_batches_total",
};

class MountMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_ = testing::MakeTempDir("mountmetrics") + "/mount.log";
    RbfsCluster::Options options;
    options.mount_options = "metrics=127.0.0.1:0,log=" + log_;
    options.server_args = {"--metrics-listen=127.0.0.1:0"};
    absl::StatusOr<std::unique_ptr<RbfsCluster>> cluster =
        RbfsCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    // Logged once the mount is made (beside "mounted ... session").
    for (const absl::Time deadline = absl::Now() + absl::Seconds(30);
         mount_port_ <= 0 && absl::Now() < deadline;
         absl::SleepFor(absl::Milliseconds(10))) {
      mount_port_ =
          testing::MetricsPortInLog(ReadFileContents(log_).value_or(""));
    }
    ASSERT_GT(mount_port_, 0) << ReadFileContents(log_).value_or("");
  }

  testing::Exposition ScrapeMount() {
    absl::StatusOr<testing::Exposition> got =
        testing::ScrapeMetrics(mount_port_);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *std::move(got) : testing::Exposition();
  }

  // Waits (bounded) until the mount's `series` is at least `at_least`.
  bool MountReaches(const std::string& series, double at_least) {
    for (const absl::Time deadline = absl::Now() + absl::Seconds(30);
         absl::Now() < deadline; absl::SleepFor(absl::Milliseconds(10))) {
      if (ScrapeMount().Value(series) >= at_least) return true;
    }
    return false;
  }

  std::string log_;
  std::unique_ptr<RbfsCluster> cluster_;
  int mount_port_ = -1;
};

void WriteFile(const std::string& path, const std::string& data) {
  const int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << path << ": " << strerror(errno);
  ASSERT_EQ(write(fd, data.data(), data.size()),
            static_cast<ssize_t>(data.size()));
  ASSERT_EQ(close(fd), 0);
}

TEST_F(MountMetricsTest, EveryMetricIsExposedAndMovesWithWhatItCounts) {
  const testing::Exposition before = ScrapeMount();
  for (const char* family : kMountFamilies) {
    EXPECT_EQ(before.types.count(family), 1u) << family;
  }
  auto moved = [&before](const testing::Exposition& after,
                         const std::string& series) {
    return after.Value(series) - std::max(0.0, before.Value(series));
  };

  // Writes and reads, 4 MiB in 1 MiB requests (each some chunks), then a
  // stat the mount answers itself (it knows the attributes its write
  // returned) and one of a name it must look up.
  std::string data(4 << 20, '\0');
  PatternFill(3, 0, data.data(), data.size());
  const std::string path = cluster_->Path("f");
  WriteFile(path, data);
  const int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  std::string back(data.size(), '\0');
  ASSERT_EQ(pread(fd, back.data(), back.size(), 0),
            static_cast<ssize_t>(back.size()));
  ASSERT_EQ(close(fd), 0);
  EXPECT_TRUE(back == data);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  ASSERT_NE(stat(cluster_->Path("absent").c_str(), &st), 0);
  // The kernel's security.capability probe before each write(2) was
  // answered here: the file has no attributes, as the mount knows.
  char value[16];
  EXPECT_EQ(getxattr(path.c_str(), "user.none", value, sizeof(value)), -1);
  EXPECT_EQ(errno, ENODATA);

  testing::Exposition after = ScrapeMount();
  EXPECT_GE(moved(after, "rbfs_mount_fuse_request_seconds_count{op=\"write\"}"),
            4);
  EXPECT_GE(moved(after, "rbfs_mount_fuse_request_seconds_count{op=\"read\"}"),
            4);
  EXPECT_GE(
      moved(after, "rbfs_mount_fuse_request_seconds_count{op=\"lookup\"}"), 1);
  EXPECT_GE(
      moved(after, "rbfs_mount_fuse_request_seconds_count{op=\"create\"}"), 1);
  EXPECT_GT(moved(after, "rbfs_mount_fuse_request_seconds_sum{op=\"write\"}"),
            0);
  EXPECT_GE(moved(after,
                  "rbfs_mount_cache_answers_total{kind=\"xattr\",result="
                  "\"hit\"}"),
            2);
  EXPECT_GE(moved(after,
                  "rbfs_mount_cache_answers_total{kind=\"data\","
                  "result=\"miss\"}"),
            4);
  EXPECT_EQ(after.Value("rbfs_mount_chunks_in_flight"), 0);
  EXPECT_EQ(after.Value("rbfs_mount_chunks_queued"), 0);
  EXPECT_EQ(after.Value("rbfs_mount_synced"), 1);
  EXPECT_GE(moved(after, "rbfs_mount_stream_requests_total"), 8);
  EXPECT_GE(moved(after, "rbfs_mount_stream_batches_total"), 1);

  // The server counted the same I/O.
  const int server_port = testing::MetricsPortInLog(cluster_->ServerLog());
  ASSERT_GT(server_port, 0) << cluster_->ServerLog();
  absl::StatusOr<testing::Exposition> server =
      testing::ScrapeMetrics(server_port);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GE(server->Value("rbfs_server_written_bytes_total"), 4 << 20);
  EXPECT_GE(server->Value("rbfs_server_read_bytes_total"), 4 << 20);

  // Another mount rewrites a small file this mount holds: the kernel is
  // told to drop it, and this mount's next open brings its data along and
  // answers the read from it.
  absl::StatusOr<std::string> other = cluster_->AddClient("b", "");
  ASSERT_TRUE(other.ok()) << other.status();
  WriteFile(cluster_->Path("small"), "first");
  ASSERT_EQ(stat(cluster_->Path("small").c_str(), &st), 0);
  WriteFile(*other + "/small", "second");
  EXPECT_TRUE(MountReaches("rbfs_mount_kernel_invalidations_total{kind="
                           "\"attr\"}",
                           1) ||
              MountReaches("rbfs_mount_kernel_invalidations_total{kind="
                           "\"data\"}",
                           1));
  EXPECT_EQ(ReadFileContents(cluster_->Path("small")).value_or(""), "second");
  after = ScrapeMount();
  EXPECT_GE(moved(after,
                  "rbfs_mount_cache_answers_total{kind=\"data\","
                  "result=\"hit\"}"),
            1);

  // The server restarts under an open file: the change stream reconnects
  // and the session is re-registered. (A call's repeats are counted where
  // a broken connection can be made certain: //client/core:mount_core_test
  // UnavailableIsRetriedForIdempotentCalls.)
  const int held = open(path.c_str(), O_RDONLY);
  ASSERT_GE(held, 0);
  ASSERT_TRUE(cluster_->StopServer(SIGKILL).ok());
  ASSERT_TRUE(cluster_->StartServer().ok());
  EXPECT_TRUE(MountReaches("rbfs_mount_reconnects_total{what=\"watch\"}", 1));
  EXPECT_TRUE(MountReaches("rbfs_mount_reconnects_total{what=\"session\"}", 1));
  EXPECT_TRUE(MountReaches("rbfs_mount_synced", 1));
  ASSERT_EQ(close(held), 0);
}

// deploy/grafana/rbfs-mount.json graphs only metric families the mount
// exposes.
TEST_F(MountMetricsTest, TheDashboardNamesOnlyMetricsTheMountExposes) {
  const testing::Exposition exposed = ScrapeMount();
  std::ifstream in(RunfilePath("deploy/grafana/rbfs-mount.json"));
  std::stringstream dashboard;
  dashboard << in.rdbuf();
  ASSERT_FALSE(dashboard.str().empty());
  const std::vector<std::string> named =
      testing::FamiliesNamedIn(dashboard.str(), exposed);
  for (const std::string& name : named) {
    EXPECT_EQ(exposed.types.count(name), 1u) << name;
  }
  EXPECT_GE(named.size(), 10u);
}

}  // namespace
}  // namespace rbfs
