// rbfs-mount on an rbfs-server whose volume is an RBD image of a real Ceph
// cluster on loopback (deploy/ceph-dev.sh; issue 17), through the kernel:
// fio writes and verifies, data outlives a server kill, and a cluster gone
// under a soft mount gives EIO within the deadlines instead of a hang.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/file_contents.h"
#include "gtest/gtest.h"
#include "testing/ceph_cluster.h"
#include "testing/mount_fixture.h"
#include "testing/process.h"
#include "testing/test_data.h"

namespace rbfs {
namespace {

class MountCephTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::CephCluster>> started =
        testing::CephCluster::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    ceph_ = started->release();
  }
  static void TearDownTestSuite() {
    delete ceph_;
    ceph_ = nullptr;
  }

  // A server on an image of its own (named after the test) and a mount.
  void StartCluster(const std::string& mount_options,
                    const std::string& op_timeout = "20s") {
    ASSERT_NE(ceph_, nullptr);
    RbfsCluster::Options options;
    options.mount_options = mount_options;
    options.volume_bytes = uint64_t{1} << 30;
    options.server_args = {
        "--ceph-conf=" + ceph_->conf(), "--ceph-pool=" + ceph_->pool(),
        absl::StrCat(
            "--ceph-image=",
            ::testing::UnitTest::GetInstance()->current_test_info()->name()),
        "--ceph-op-timeout=" + op_timeout};
    absl::StatusOr<std::unique_ptr<RbfsCluster>> cluster =
        RbfsCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }

  static inline testing::CephCluster* ceph_ = nullptr;
  std::unique_ptr<RbfsCluster> cluster_;
};

TEST_F(MountCephTest, FioWritesAndVerifiesOnAnRbdVolume) {
  StartCluster("deadline=30");
  EXPECT_NE(cluster_->ServerLog().find("rbd:" + ceph_->pool() + "/"),
            std::string::npos)
      << cluster_->ServerLog();
  const testing::ProgramResult fio = testing::RunProgram(
      {"fio", "--name=verify", "--directory=" + cluster_->mountpoint(),
       "--rw=randwrite", "--bs=64k", "--size=64M", "--ioengine=libaio",
       "--iodepth=8", "--direct=1", "--verify=crc32c", "--do_verify=1",
       "--verify_fatal=1"},
      absl::Minutes(5));
  EXPECT_EQ(fio.exit_code, 0) << fio.output;
  EXPECT_EQ(fio.output.find("verify: bad"), std::string::npos) << fio.output;
}

TEST_F(MountCephTest, WhatWasSyncedOutlivesAServerKill) {
  StartCluster("deadline=30");
  std::string data(8 << 20, '\0');
  PatternFill(11, 0, data.data(), data.size());
  const std::string path = cluster_->Path("kept");
  const int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(write(fd, data.data(), data.size()),
            static_cast<ssize_t>(data.size()));
  ASSERT_EQ(fsync(fd), 0) << strerror(errno);
  ASSERT_EQ(close(fd), 0);
  ASSERT_TRUE(cluster_->StopServer(SIGKILL).ok());
  ASSERT_TRUE(cluster_->StartServer().ok());
  absl::StatusOr<std::string> back = ReadFileContents(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == data);
  // The offline check reads the metadata against the image.
  ASSERT_TRUE(cluster_->StopServer(SIGTERM).ok());
  const testing::ProgramResult check = testing::RunProgram(
      {testing::RunfilePath("server/rbfs-server"), "--check",
       "--data=" + cluster_->data_dir(), "--ceph-conf=" + ceph_->conf(),
       "--ceph-pool=" + ceph_->pool(),
       "--ceph-image=WhatWasSyncedOutlivesAServerKill"});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("clean: "), std::string::npos) << check.output;
}

// The whole cluster frozen (SIGSTOP: unreachable, as behind a partition)
// under a soft mount: the write fails with EIO within the deadlines; thawed,
// the same mount and server go on without a restart. (The lone OSD's read
// lease outlasts the pause: deploy/ceph-dev.sh, single_osd_lease.)
TEST_F(MountCephTest, AFrozenClusterGivesEioAndTheMountGoesOnWhenItIsBack) {
  StartCluster("deadline=10", "3s");
  const std::string path = cluster_->Path("paused");
  const int fd = open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(pwrite(fd, "before", 6, 0), 6);
  ASSERT_EQ(fsync(fd), 0);
  for (const char* daemon : {"osd.0", "mon.a"}) {
    ASSERT_TRUE(ceph_->Signal(daemon, SIGSTOP).ok()) << daemon;
  }
  const absl::Time began = absl::Now();
  const std::string block(1 << 20, 'z');
  const bool failed =
      pwrite(fd, block.data(), block.size(), 4096) < 0 || fsync(fd) != 0;
  const int err = errno;
  const absl::Duration took = absl::Now() - began;
  for (const char* daemon : {"mon.a", "osd.0"}) {
    ASSERT_TRUE(ceph_->Signal(daemon, SIGCONT).ok()) << daemon;
  }
  EXPECT_TRUE(failed);
  EXPECT_EQ(err, EIO) << strerror(err);
  EXPECT_LT(took, absl::Seconds(40));
  // Back: new writes land and read back through the same descriptor.
  bool wrote = false;
  int last_err = 0;
  for (const absl::Time deadline = absl::Now() + absl::Seconds(60);
       !wrote && absl::Now() < deadline;
       absl::SleepFor(absl::Milliseconds(100))) {
    wrote = pwrite(fd, "after", 5, 0) == 5 && fsync(fd) == 0;
    if (!wrote) last_err = errno;
  }
  EXPECT_TRUE(wrote) << "the last attempt: " << strerror(last_err);
  char back[5];
  ASSERT_EQ(pread(fd, back, sizeof(back), 0), 5);
  EXPECT_EQ(std::string(back, 5), "after");
  close(fd);
}

// Last: it stops the shared cluster.
TEST_F(MountCephTest, AClusterGoneGivesEioWithinTheDeadlines) {
  StartCluster("deadline=10", "3s");
  const std::string path = cluster_->Path("late");
  const int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(write(fd, "x", 1), 1);
  ASSERT_TRUE(ceph_->Stop().ok());
  const absl::Time began = absl::Now();
  std::string block(1 << 20, 'y');
  const bool failed =
      pwrite(fd, block.data(), block.size(), 0) < 0 || fsync(fd) != 0;
  const int err = errno;
  const absl::Duration took = absl::Now() - began;
  EXPECT_TRUE(failed);
  EXPECT_EQ(err, EIO) << strerror(err);
  // The server's 3 s per Ceph operation, the mount's 10 s deadline, and
  // slack for a loaded machine: an answer, not a hang.
  EXPECT_LT(took, absl::Seconds(40));
  close(fd);
}

// A pool of size 3: an OSD killed under fio verify costs nothing but a
// pause while Ceph marks it down (seconds, deploy/ceph-dev.sh's heartbeat
// settings); every write is there to read back.
TEST(MountCephReplicatedTest, AnOsdKilledUnderFioLosesNothing) {
  absl::StatusOr<std::unique_ptr<testing::CephCluster>> ceph =
      testing::CephCluster::Start(/*osds=*/3);
  ASSERT_TRUE(ceph.ok()) << ceph.status();
  RbfsCluster::Options options;
  options.mount_options = "deadline=30";
  options.volume_bytes = uint64_t{1} << 30;
  options.server_args = {"--ceph-conf=" + (*ceph)->conf(),
                         "--ceph-pool=" + (*ceph)->pool()};
  absl::StatusOr<std::unique_ptr<RbfsCluster>> cluster =
      RbfsCluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  testing::ProgramResult fio;
  std::thread writer([&] {
    fio = testing::RunProgram(
        {"fio", "--name=verify", "--directory=" + (*cluster)->mountpoint(),
         "--rw=randwrite", "--bs=64k", "--size=96M", "--ioengine=libaio",
         "--iodepth=8", "--direct=1", "--verify=crc32c", "--do_verify=1",
         "--verify_fatal=1", "--verify_backlog=64"},
        absl::Minutes(5));
  });
  // Once fio has laid its file out and is writing: kill an OSD.
  const std::string file = (*cluster)->mountpoint() + "/verify.0.0";
  for (const absl::Time deadline = absl::Now() + absl::Seconds(60);
       absl::Now() < deadline; absl::SleepFor(absl::Milliseconds(20))) {
    struct stat st;
    if (stat(file.c_str(), &st) == 0 && st.st_size == 96 << 20) break;
  }
  EXPECT_TRUE((*ceph)->Signal("osd.1", SIGKILL).ok());
  writer.join();
  EXPECT_EQ(fio.exit_code, 0) << fio.output;
  EXPECT_EQ(fio.output.find("verify: bad"), std::string::npos) << fio.output;
}

}  // namespace
}  // namespace rbfs
