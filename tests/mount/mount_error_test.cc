// Volume errors reach the application through a real mount: EIO from the
// volume's writes, reads and syncs (rbfs-server-faulty, a FaultBlockDevice
// under the volume, steered by a spec file) and ENOSPC from a full volume.
// Each failure must leave the metadata consistent (`--check` clean) and the
// data written before it intact.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testing/mount_fixture.h"
#include "testing/process.h"
#include "testing/test_data.h"

namespace rbfs {
namespace {

using ::rbfs::testing::MakeTempDir;
using ::rbfs::testing::RunProgram;

std::string Pattern(uint64_t seed, size_t size) {
  std::string data(size, '\0');
  PatternFill(seed, 0, data.data(), size);
  return data;
}

// A cluster whose server injects the faults named in a spec file.
class MountErrorTest : public ::testing::Test {
 protected:
  void StartFaulty() {
    spec_ = MakeTempDir("faults") + "/spec";
    SetFaults("");
    RbfsCluster::Options options;
    // Long enough to outlast a server restart, as a hard mount would.
    options.mount_options = "deadline=20";
    options.server_binary = "server/testing/rbfs-server-faulty";
    options.server_args = {"--fault-spec=" + spec_};
    absl::StatusOr<std::unique_ptr<RbfsCluster>> cluster =
        RbfsCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }

  // Replaces the spec atomically; the server applies it at its next
  // volume call.
  void SetFaults(const std::string& spec) {
    const std::string tmp = spec_ + ".new";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << spec;
    }
    ASSERT_EQ(std::rename(tmp.c_str(), spec_.c_str()), 0);
  }

  void WriteFile(const std::string& name, const std::string& data) {
    const int fd =
        open(cluster_->Path(name).c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(fd, 0) << strerror(errno);
    ASSERT_EQ(write(fd, data.data(), data.size()),
              static_cast<ssize_t>(data.size()))
        << strerror(errno);
    ASSERT_EQ(fsync(fd), 0) << strerror(errno);
    ASSERT_EQ(close(fd), 0) << strerror(errno);
  }

  std::string ReadFile(const std::string& name) {
    const int fd = open(cluster_->Path(name).c_str(), O_RDONLY);
    EXPECT_GE(fd, 0) << strerror(errno);
    std::string data(64 << 20, '\0');
    ssize_t total = 0;
    for (ssize_t n; (n = pread(fd, data.data() + total, data.size() - total,
                               total)) > 0;) {
      total += n;
    }
    close(fd);
    data.resize(total);
    return data;
  }

  // Stops the server and runs the offline checker on its data.
  void StopAndCheck(int signal) {
    ASSERT_TRUE(cluster_->StopServer(signal).ok());
    testing::ProgramResult check =
        RunProgram({testing::RunfilePath("server/rbfs-server"), "--check",
                    "--data=" + cluster_->data_dir()});
    EXPECT_EQ(check.exit_code, 0) << check.output;
  }

  std::string spec_;
  std::unique_ptr<RbfsCluster> cluster_;
};

TEST_F(MountErrorTest, VolumeWriteErrorReachesWriteAndKeepsEarlierData) {
  StartFaulty();
  const std::string kept = Pattern(1, 1 << 20);
  WriteFile("kept", kept);

  SetFaults("write=EIO");
  const int fresh =
      open(cluster_->Path("fresh").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fresh, 0) << strerror(errno);
  const std::string more = Pattern(2, 256 << 10);
  errno = 0;
  EXPECT_EQ(write(fresh, more.data(), more.size()), -1);
  EXPECT_EQ(errno, EIO);
  close(fresh);
  // An overwrite of blocks the file already has fails the same way.
  const int fd = open(cluster_->Path("kept").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  errno = 0;
  EXPECT_EQ(pwrite(fd, more.data(), more.size(), 4096), -1);
  EXPECT_EQ(errno, EIO);
  close(fd);

  SetFaults("");
  struct stat st;
  ASSERT_EQ(stat(cluster_->Path("fresh").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0) << "a failed write must not grow the file";
  EXPECT_TRUE(ReadFile("kept") == kept);
  StopAndCheck(SIGTERM);
}

TEST_F(MountErrorTest, VolumeReadErrorReachesRead) {
  StartFaulty();
  const std::string data = Pattern(3, 512 << 10);
  WriteFile("f", data);
  SetFaults("read=EIO");
  const int fd = open(cluster_->Path("f").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string buf(data.size(), '\0');
  errno = 0;
  EXPECT_EQ(pread(fd, buf.data(), buf.size(), 0), -1);
  EXPECT_EQ(errno, EIO);
  SetFaults("");
  EXPECT_EQ(pread(fd, buf.data(), buf.size(), 0),
            static_cast<ssize_t>(buf.size()));
  EXPECT_TRUE(buf == data);
  close(fd);
  StopAndCheck(SIGTERM);
}

TEST_F(MountErrorTest, SyncErrorReachesFsyncAndLaterWrites) {
  StartFaulty();
  const std::string synced = Pattern(4, 300 << 10);
  WriteFile("synced", synced);
  const int fd =
      open(cluster_->Path("pending").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  const std::string data = Pattern(5, 200 << 10);
  ASSERT_EQ(write(fd, data.data(), data.size()),
            static_cast<ssize_t>(data.size()));

  SetFaults("sync=EIO");
  errno = 0;
  EXPECT_EQ(fsync(fd), -1);
  EXPECT_EQ(errno, EIO);
  // The failure sticks: Linux forgets a write-back error once reported, so
  // a later sync could succeed over lost data. Writes fail from now on too.
  SetFaults("");
  errno = 0;
  EXPECT_EQ(fsync(fd), -1);
  EXPECT_EQ(errno, EIO);
  errno = 0;
  EXPECT_EQ(pwrite(fd, data.data(), 4096, 0), -1);
  EXPECT_EQ(errno, EIO);
  close(fd);

  // A restart clears it; what was fsync'd before is intact.
  StopAndCheck(SIGKILL);
  ASSERT_TRUE(cluster_->StartServer().ok());
  EXPECT_TRUE(ReadFile("synced") == synced);
  const int again = open(cluster_->Path("pending").c_str(), O_WRONLY);
  ASSERT_GE(again, 0) << strerror(errno);
  EXPECT_EQ(pwrite(again, data.data(), 4096, 0), 4096) << strerror(errno);
  EXPECT_EQ(fsync(again), 0) << strerror(errno);
  close(again);
}

// The server answers a write before it commits it. When the background
// commit then fails, the server tells the mounts on their Watch streams,
// and the next close of each file written since reports it, once; other
// files close cleanly.
TEST_F(MountErrorTest, ACommitFailureAfterAWriteIsReportedAtClose) {
  StartFaulty();
  const int fd =
      open(cluster_->Path("pending").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  const int other =
      open(cluster_->Path("untouched").c_str(), O_CREAT | O_RDONLY, 0644);
  ASSERT_GE(other, 0) << strerror(errno);
  const std::string data = Pattern(6, 64 << 10);
  ASSERT_EQ(write(fd, data.data(), data.size()),
            static_cast<ssize_t>(data.size()));
  // Every close of a descriptor is a flush: before any failure, a clean one.
  ASSERT_EQ(close(dup(fd)), 0) << strerror(errno);

  SetFaults("sync=EIO");
  // The next background commit (every second) fails; the mount hears of it
  // as soon as the server does. Closes of duplicates ask until it has.
  int err = 0;
  for (const absl::Time deadline = absl::Now() + absl::Seconds(30);
       err == 0 && absl::Now() < deadline;) {
    if (close(dup(fd)) != 0) {
      err = errno;
    } else {
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  EXPECT_EQ(err, EIO) << strerror(err);
  // Once.
  EXPECT_EQ(close(dup(fd)), 0) << strerror(errno);
  EXPECT_EQ(close(fd), 0) << strerror(errno);
  EXPECT_EQ(close(other), 0) << strerror(errno);
  SetFaults("");
}

TEST(MountFullVolumeTest, FullVolumeReturnsEnospcAndRecovers) {
  RbfsCluster::Options options;
  options.mount_options = "deadline=20";
  options.volume_bytes = 8 << 20;  // 127 data blocks of 64 KiB
  absl::StatusOr<std::unique_ptr<RbfsCluster>> started =
      RbfsCluster::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<RbfsCluster> cluster = *std::move(started);

  const std::string small = Pattern(6, 128 << 10);
  {
    const int fd =
        open(cluster->Path("small").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_EQ(write(fd, small.data(), small.size()),
              static_cast<ssize_t>(small.size()));
    ASSERT_EQ(fsync(fd), 0);
    ASSERT_EQ(close(fd), 0);
  }
  const int fd = open(cluster->Path("big").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  // One block per write, so each is one call to the server, all or nothing
  // (a larger write goes out in parallel chunks, and its error can come
  // after other chunks of it landed).
  const std::string chunk = Pattern(7, 64 << 10);
  uint64_t written = 0;
  ssize_t n = 0;
  errno = 0;
  for (int i = 0; i < 256; ++i) {
    n = pwrite(fd, chunk.data(), chunk.size(), written);
    if (n <= 0) break;
    written += n;
  }
  EXPECT_EQ(n, -1) << "16 MiB fit in an 8 MiB volume";
  EXPECT_EQ(errno, ENOSPC);
  EXPECT_GT(written, 4u << 20);
  // What was acknowledged stays, and fsync/close of it succeed.
  EXPECT_EQ(fsync(fd), 0) << strerror(errno);
  EXPECT_EQ(close(fd), 0);
  struct stat st;
  ASSERT_EQ(stat(cluster->Path("big").c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), written);

  // Space comes back once the big file is gone.
  ASSERT_EQ(unlink(cluster->Path("big").c_str()), 0);
  const int again =
      open(cluster->Path("again").c_str(), O_CREAT | O_WRONLY, 0644);
  EXPECT_EQ(write(again, chunk.data(), chunk.size()),
            static_cast<ssize_t>(chunk.size()))
      << strerror(errno);
  EXPECT_EQ(close(again), 0);

  const int rd = open(cluster->Path("small").c_str(), O_RDONLY);
  std::string back(small.size(), '\0');
  EXPECT_EQ(pread(rd, back.data(), back.size(), 0),
            static_cast<ssize_t>(back.size()));
  EXPECT_TRUE(back == small);
  close(rd);

  ASSERT_TRUE(cluster->StopServer(SIGTERM).ok());
  testing::ProgramResult check =
      RunProgram({testing::RunfilePath("server/rbfs-server"), "--check",
                  "--data=" + cluster->data_dir()});
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

}  // namespace
}  // namespace rbfs
