// A mount of two servers of one volume (metadata in a loopback etcd, the
// volume a file both open; issue 18): one serves, the other stands by on
// the volume's serving lock; `kill -9` of the serving one under fio verify
// and under a writer that counts its acknowledged writes: the standby takes
// over within its lease, the mount (rbfs-mount A,B) moves to it within its
// deadline, and nothing acknowledged is lost.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "testing/etcd_server.h"
#include "testing/mount_fixture.h"
#include "testing/process.h"
#include "testing/server_process.h"
#include "testing/test_data.h"

namespace rbfs {
namespace {

// The standby takes over within this of the serving server's death.
constexpr char kLease[] = "--etcd-lease=2s";

class MountFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The fixture's server (A) keeps its metadata in an etcd of its own
    // (the test's environment sets RBFS_TEST_META_ON_ETCD).
    RbfsCluster::Options options;
    options.volume_bytes = uint64_t{1} << 30;
    options.server_args = {kLease};
    absl::StatusOr<std::unique_ptr<RbfsCluster>> cluster =
        RbfsCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    ASSERT_NE(cluster_->etcd(), nullptr) << "not on etcd";
    // B: the same volume file and etcd prefix, its own (empty) data dir.
    const std::string b_data = testing::MakeTempDir("standby");
    testing::ServerProcess::Options b;
    b.data_dir = b_data;
    b.extra_args = {"--etcd-endpoints=" + cluster_->etcd()->endpoint(), kLease,
                    "--volume=" + cluster_->data_dir() + "/volume"};
    standby_ = std::make_unique<testing::ServerProcess>(b);
    ASSERT_TRUE(standby_->Launch().ok());
    ASSERT_TRUE(standby_->WaitForLog("standing by", absl::Seconds(30)).ok());
    absl::StatusOr<std::string> both = cluster_->AddClientAt(
        "both", "deadline=60",
        cluster_->ServerAddress() + "," + standby_->address());
    ASSERT_TRUE(both.ok()) << both.status();
    mount_ = *both;
  }

  // Kills A; B must take over.
  void KillServing() {
    ASSERT_TRUE(cluster_->StopServer(SIGKILL).ok());
    ASSERT_TRUE(standby_->WaitForLog("ready on", absl::Seconds(60)).ok());
  }

  std::unique_ptr<RbfsCluster> cluster_;
  std::unique_ptr<testing::ServerProcess> standby_;
  std::string mount_;
};

TEST_F(MountFailoverTest, FioVerifyPassesAcrossAKillOfTheServingServer) {
  const std::string file = mount_ + "/fio.0.0";
  testing::ProgramResult fio;
  std::thread job([&] {
    fio = testing::RunProgram(
        {"fio", "--name=fio", "--directory=" + mount_, "--rw=randwrite",
         "--bs=64k", "--size=48M", "--ioengine=libaio", "--iodepth=8",
         "--direct=1", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1"},
        absl::Minutes(5));
  });
  // Once fio has its file (it lays it out, then writes), A goes.
  struct stat st;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (stat(file.c_str(), &st) != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(stat(file.c_str(), &st), 0) << "fio made no file";
  KillServing();
  job.join();
  EXPECT_EQ(fio.exit_code, 0) << fio.output;
  EXPECT_EQ(fio.output.find("verify: bad"), std::string::npos) << fio.output;
  EXPECT_NE(standby_->Log().find("serving "), std::string::npos);
}

TEST_F(MountFailoverTest, EveryAcknowledgedWriteOutlivesTheServingServer) {
  constexpr size_t kRecord = 64 << 10;
  constexpr int kRecords = 256;
  constexpr int kKillAfter = 64;
  const std::string path = mount_ + "/records";
  const int fd = open(path.c_str(), O_CREAT | O_RDWR | O_DIRECT, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  void* buffer = nullptr;
  ASSERT_EQ(posix_memalign(&buffer, 4096, kRecord), 0);
  std::unique_ptr<char, decltype(&free)> record(static_cast<char*>(buffer),
                                                &free);
  absl::Notification halfway;
  std::atomic<int> acknowledged{0};
  std::atomic<int> failed_errno{0};
  std::thread writer([&] {
    for (int i = 0; i < kRecords; ++i) {
      PatternFill(7, static_cast<uint64_t>(i) * kRecord, record.get(), kRecord);
      if (pwrite(fd, record.get(), kRecord,
                 static_cast<uint64_t>(i) * kRecord) !=
          static_cast<ssize_t>(kRecord)) {
        failed_errno = errno;
        break;
      }
      if (++acknowledged == kKillAfter) halfway.Notify();
    }
    if (!halfway.HasBeenNotified()) halfway.Notify();
  });
  halfway.WaitForNotification();
  KillServing();
  writer.join();
  EXPECT_EQ(failed_errno.load(), 0) << strerror(failed_errno.load());
  ASSERT_EQ(acknowledged.load(), kRecords);
  ASSERT_EQ(fsync(fd), 0) << strerror(errno);
  // Read back through the new server, record by record.
  std::string want(kRecord, '\0');
  for (int i = 0; i < kRecords; ++i) {
    ASSERT_EQ(
        pread(fd, record.get(), kRecord, static_cast<uint64_t>(i) * kRecord),
        static_cast<ssize_t>(kRecord))
        << "record " << i << ": " << strerror(errno);
    PatternFill(7, static_cast<uint64_t>(i) * kRecord, want.data(), kRecord);
    ASSERT_EQ(std::memcmp(record.get(), want.data(), kRecord), 0)
        << "record " << i;
  }
  EXPECT_EQ(close(fd), 0);
}

}  // namespace
}  // namespace rbfs
