// End-to-end behaviour when the server goes away and comes back, and the
// ways a mount ends (SIGTERM, SIGINT, fusermount3 -u) or starts (daemon).
#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/file_contents.h"
#include "gtest/gtest.h"
#include "testing/mount_fixture.h"
#include "testing/test_data.h"

namespace rbfs {
namespace {

constexpr absl::Duration kDeadline = absl::Seconds(3);
// Scheduling noise on a loaded 2-core machine, on top of the deadline: a
// request admitted just before the kill may wait behind others, and under a
// parallel test run gRPC's timer threads lag by seconds. The bound still
// separates "fails after the deadline" from "hangs".
constexpr absl::Duration kSlack = absl::Seconds(7);

std::unique_ptr<RbfsCluster> StartCluster() {
  absl::StatusOr<std::unique_ptr<RbfsCluster>> cluster = RbfsCluster::Start(
      {absl::StrCat("deadline=", absl::ToInt64Seconds(kDeadline))});
  EXPECT_TRUE(cluster.ok()) << cluster.status();
  return cluster.ok() ? *std::move(cluster) : nullptr;
}

void WriteAndCheck(const std::string& path, uint64_t seed) {
  std::string data(3 << 20, '\0');
  PatternFill(seed, 0, data.data(), data.size());
  const int fd = open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << path << ": " << strerror(errno);
  ASSERT_EQ(pwrite(fd, data.data(), data.size(), 0),
            static_cast<ssize_t>(data.size()))
      << strerror(errno);
  std::string back(data.size(), '\0');
  ASSERT_EQ(pread(fd, back.data(), back.size(), 0),
            static_cast<ssize_t>(back.size()));
  EXPECT_TRUE(back == data);
  ASSERT_EQ(fsync(fd), 0) << strerror(errno);
  ASSERT_EQ(close(fd), 0);
}

void CheckContents(const std::string& path, uint64_t seed) {
  std::string expected(3 << 20, '\0');
  PatternFill(seed, 0, expected.data(), expected.size());
  const int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << path << ": " << strerror(errno);
  std::string back(expected.size() + 1, '\0');
  ASSERT_EQ(pread(fd, back.data(), back.size(), 0),
            static_cast<ssize_t>(expected.size()));
  back.resize(expected.size());
  EXPECT_TRUE(back == expected);
  close(fd);
}

TEST(MountFaultTest, ServerKilledMidWriteThenRestarted) {
  std::unique_ptr<RbfsCluster> cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  WriteAndCheck(cluster->Path("before"), 1);
  const int held = open(cluster->Path("before").c_str(), O_RDONLY);
  ASSERT_GE(held, 0);

  const int fd = open(cluster->Path("victim").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  std::atomic<int> writes{0};
  std::promise<std::pair<int, absl::Time>> failure;
  std::thread writer([&] {
    std::string block(1 << 20, 'w');
    for (uint64_t i = 0;; ++i) {
      if (pwrite(fd, block.data(), block.size(), (i % 64) << 20) < 0) {
        failure.set_value({errno, absl::Now()});
        return;
      }
      ++writes;
    }
  });
  const absl::Time wait_until = absl::Now() + absl::Seconds(30);
  while (writes.load() < 20 && absl::Now() < wait_until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_GE(writes.load(), 20) << "writer made no progress";
  const absl::Time killed = absl::Now();
  ASSERT_TRUE(cluster->StopServer(SIGKILL).ok());

  std::future<std::pair<int, absl::Time>> result = failure.get_future();
  const bool failed =
      result.wait_for(absl::ToChronoSeconds(kDeadline + kSlack)) ==
      std::future_status::ready;
  if (!failed) {
    // Unblock the writer before failing, so the test can end.
    ASSERT_TRUE(cluster->StartServer().ok());
  }
  ASSERT_TRUE(failed) << "write did not fail within the deadline";
  writer.join();
  const auto [err, when] = result.get();
  EXPECT_EQ(err, EIO) << strerror(err);
  EXPECT_LT(when - killed, kDeadline + kSlack);
  close(fd);

  // While the server is away, calls fail within the deadline as well.
  const absl::Time stat_start = absl::Now();
  struct stat st;
  EXPECT_EQ(stat(cluster->Path("never-created").c_str(), &st), -1);
  EXPECT_EQ(errno, EIO) << strerror(errno);
  EXPECT_LT(absl::Now() - stat_start, kDeadline + kSlack);

  // The same mount works again once the server is back.
  ASSERT_TRUE(cluster->StartServer().ok());
  WriteAndCheck(cluster->Path("after"), 2);
  // Synced before the crash, so it survived.
  CheckContents(cluster->Path("before"), 1);
  // A descriptor opened before the crash keeps working.
  std::string expected(4096, '\0');
  PatternFill(1, 8192, expected.data(), expected.size());
  std::string back(4096, '\0');
  ASSERT_EQ(pread(held, back.data(), back.size(), 8192), 4096)
      << strerror(errno);
  EXPECT_TRUE(back == expected);
  close(held);
  EXPECT_EQ(stat(cluster->mountpoint().c_str(), &st), 0);
  EXPECT_TRUE(cluster->Mounted());
}

TEST(MountFaultTest, QuickServerRestartIsInvisibleToAWriter) {
  absl::StatusOr<std::unique_ptr<RbfsCluster>> started =
      RbfsCluster::Start({"deadline=20"});
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<RbfsCluster> cluster = *std::move(started);
  const int fd = open(cluster->Path("steady").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  // The file itself must survive the crash for its descriptor to stay valid.
  ASSERT_EQ(fsync(fd), 0);
  constexpr int kBlocks = 16;
  std::atomic<int> writes{0};
  std::atomic<bool> stop{false};
  std::atomic<int> error{0};
  std::thread writer([&] {
    std::string block(1 << 20, '\0');
    for (int i = 0; !stop.load(); ++i) {
      PatternFill(i, 0, block.data(), block.size());
      if (pwrite(fd, block.data(), block.size(),
                 static_cast<off_t>(i % kBlocks) << 20) < 0) {
        error = errno;
        return;
      }
      ++writes;
    }
  });
  auto wait_for_writes = [&](int count) {
    const absl::Time until = absl::Now() + absl::Seconds(60);
    while (writes.load() < count && error.load() == 0 && absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    return writes.load() >= count;
  };
  EXPECT_TRUE(wait_for_writes(20));
  ASSERT_TRUE(cluster->StopServer(SIGKILL).ok());
  ASSERT_TRUE(cluster->StartServer().ok());
  const int after_restart = writes.load();
  EXPECT_TRUE(wait_for_writes(after_restart + 2 * kBlocks));
  stop = true;
  writer.join();
  EXPECT_EQ(error.load(), 0) << strerror(error.load());

  // The last kBlocks writes all happened after the restart.
  const int last = writes.load() - 1;
  std::string expected(1 << 20, '\0');
  std::string back(1 << 20, '\0');
  for (int i = last - kBlocks + 1; i <= last; ++i) {
    PatternFill(i, 0, expected.data(), expected.size());
    const off_t offset = static_cast<off_t>(i % kBlocks) << 20;
    ASSERT_EQ(pread(fd, back.data(), back.size(), offset), 1 << 20);
    EXPECT_TRUE(back == expected) << "block written by write " << i;
  }
  close(fd);
}

TEST(MountFaultTest, SigtermUnmountsCleanlyAndDataSurvives) {
  std::unique_ptr<RbfsCluster> cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  WriteAndCheck(cluster->Path("kept"), 3);
  absl::StatusOr<int> status = cluster->StopMount(SIGTERM);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_FALSE(cluster->Mounted());

  ASSERT_TRUE(cluster->StartMount().ok());
  CheckContents(cluster->Path("kept"), 3);

  status = cluster->StopMount(SIGINT);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
}

// With the server gone, a hard mount's calls retry for ever; once the user
// unmounts, nobody can wait for them: the daemon gives the releases still
// on their way one more deadline, drops them with a log line (the server's
// lease releases them) and exits.
TEST(MountFaultTest, UnmountWithTheServerGoneEndsTheDaemonWithinTheDeadline) {
  absl::StatusOr<std::unique_ptr<RbfsCluster>> cluster = RbfsCluster::Start(
      {absl::StrCat("hard,deadline=", absl::ToInt64Seconds(kDeadline))});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  WriteAndCheck((*cluster)->Path("f"), 5);
  const int fd = open((*cluster)->Path("f").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_TRUE((*cluster)->StopServer(SIGKILL).ok());
  // Its release (sent by the kernel after close returns) finds no server.
  ASSERT_EQ(close(fd), 0);

  const absl::Time start = absl::Now();
  absl::StatusOr<int> status = (*cluster)->Unmount(2 * (kDeadline + kSlack));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_LT(absl::Now() - start, kDeadline + kSlack);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_FALSE((*cluster)->Mounted());
}

int RunCommand(const std::vector<std::string>& argv) {
  return testing::RunProgram(argv).exit_code;
}

TEST(MountFaultTest, DaemonIsMountedWhenTheCommandReturns) {
  std::unique_ptr<RbfsCluster> cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  absl::StatusOr<int> stopped = cluster->StopMount(SIGTERM);
  ASSERT_TRUE(stopped.ok()) << stopped.status();

  const std::string server = cluster->ServerAddress();
  ASSERT_EQ(RunCommand({RunfilePath("client/rbfs-mount"), "-o", "deadline=3",
                        server, cluster->mountpoint()}),
            0);
  // No waiting: the parent exits only after the mount is up.
  EXPECT_TRUE(cluster->Mounted());
  WriteAndCheck(cluster->Path("daemon"), 4);
  ASSERT_EQ(RunCommand({"fusermount3", "-u", cluster->mountpoint()}), 0);
  EXPECT_FALSE(cluster->Mounted());
}

// SIGTERM ends the mount whichever of its threads the kernel hands it to:
// one landing on a gRPC thread must still wake the FUSE loop.
TEST(MountFaultTest, SigtermOnAHelperThreadEndsTheMount) {
  std::unique_ptr<RbfsCluster> cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  WriteAndCheck(cluster->Path("before"), 1);
  absl::StatusOr<int> stopped =
      cluster->StopMount(SIGTERM, RbfsCluster::SignalTo::kHelper);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_TRUE(WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0) << *stopped;
}

// A daemonised mount's stderr is /dev/null: -o log=FILE keeps its records
// (one line each) from the mount to the unmount.
TEST(MountFaultTest, ADaemonLogsToTheFileItIsGiven) {
  std::unique_ptr<RbfsCluster> cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->StopMount(SIGTERM).ok());
  const std::string log = testing::MakeTempDir("mountlog") + "/mount.log";
  ASSERT_EQ(RunCommand({RunfilePath("client/rbfs-mount"), "-o",
                        "deadline=3,log=" + log, cluster->ServerAddress(),
                        cluster->mountpoint()}),
            0);
  WriteAndCheck(cluster->Path("logged"), 6);
  ASSERT_EQ(RunCommand({"fusermount3", "-u", cluster->mountpoint()}), 0);
  // The daemon writes its last line as it exits.
  std::string text;
  for (const absl::Time deadline = absl::Now() + absl::Seconds(30);
       absl::Now() < deadline; absl::SleepFor(absl::Milliseconds(20))) {
    text = ReadFileContents(log).value_or("");
    if (text.find("rbfs-mount: unmounted ") != std::string::npos) break;
  }
  EXPECT_NE(text.find(" I rbfs-mount: mounted " + cluster->ServerAddress()),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(" I rbfs-mount: unmounted " + cluster->mountpoint()),
            std::string::npos)
      << text;
}

TEST(MountFaultTest, MountHelperMountsLikeFstabWould) {
  std::unique_ptr<RbfsCluster> cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  ASSERT_TRUE(cluster->StopMount(SIGTERM).ok());
  // mount.fuse3 finds rbfs-mount on PATH, as after install.sh.
  const std::string binary = RunfilePath("client/rbfs-mount");
  const std::string path =
      absl::StrCat(binary.substr(0, binary.rfind('/')), ":", getenv("PATH"));
  ASSERT_EQ(setenv("PATH", path.c_str(), 1), 0);
  // The arguments mount(8) passes for an fstab line with _netdev.
  ASSERT_EQ(RunCommand({RunfilePath("client/fuse/mount.fuse.rbfs"),
                        cluster->ServerAddress(), cluster->mountpoint(), "-o",
                        "rw,_netdev,deadline=3", "-t", "fuse.rbfs"}),
            0);
  EXPECT_TRUE(cluster->Mounted());
  WriteAndCheck(cluster->Path("helper"), 5);
  ASSERT_EQ(RunCommand({"fusermount3", "-u", cluster->mountpoint()}), 0);
  EXPECT_FALSE(cluster->Mounted());
}

TEST(MountFaultTest, FullVolumeReportsEnospcAndRecovers) {
  RbfsCluster::Options options;
  options.volume_bytes = 32 << 20;
  absl::StatusOr<std::unique_ptr<RbfsCluster>> started =
      RbfsCluster::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<RbfsCluster> cluster = *std::move(started);
  const std::string path = cluster->Path("fill");
  const int fd = open(path.c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  std::string block(1 << 20, 'f');
  int err = 0;
  for (int i = 0; i < 64 && err == 0; ++i) {
    if (write(fd, block.data(), block.size()) < 0) err = errno;
  }
  EXPECT_EQ(err, ENOSPC) << strerror(err);
  close(fd);
  ASSERT_EQ(unlink(path.c_str()), 0);
  // Space comes back once the last handle is gone (release is asynchronous).
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  int written = -1;
  do {
    const int again = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(again, 0);
    written = static_cast<int>(write(again, block.data(), block.size()));
    close(again);
    if (written == static_cast<int>(block.size())) break;
    absl::SleepFor(absl::Milliseconds(20));
  } while (absl::Now() < deadline);
  EXPECT_EQ(written, static_cast<int>(block.size()));
}

// One write(2) of 16 chunks with room for 4: some chunks land past the old
// end, the rest get ENOSPC. The caller is told the write failed, and the
// file is as long as it was (cut back before the reply).
TEST(MountFaultTest, AWriteThatFailsInPartLeavesTheSizeAsTold) {
  RbfsCluster::Options options;
  options.volume_bytes = 32 << 20;
  options.mount_options = "chunk_size=65536";
  absl::StatusOr<std::unique_ptr<RbfsCluster>> started =
      RbfsCluster::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<RbfsCluster> cluster = *std::move(started);
  const int fill = open(cluster->Path("fill").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fill, 0);
  const std::string block(64 << 10, 'f');
  int err = 0;
  for (int i = 0; i < 1024 && err == 0; ++i) {
    if (write(fill, block.data(), block.size()) < 0) err = errno;
  }
  ASSERT_EQ(err, ENOSPC) << strerror(err);
  // Exactly four blocks free again.
  ASSERT_EQ(fallocate(fill, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                      4 * block.size()),
            0)
      << strerror(errno);

  const std::string path = cluster->Path("partly");
  const int fd = open(path.c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, "head", 4, 0), 4);
  const std::string big(1 << 20, 'b');
  EXPECT_EQ(pwrite(fd, big.data(), big.size(), 0), -1);
  EXPECT_EQ(errno, ENOSPC) << strerror(errno);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 4);
  close(fd);
  // As another open sees it, from the server.
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 4);
  close(fill);
}

TEST(MountFaultTest, ThreadLimitedServerRefusesNothingForGood) {
  // With two serving threads the server refuses most of the mount's
  // parallel chunks (RESOURCE_EXHAUSTED); the mount retries them.
  RbfsCluster::Options options;
  options.server_args = {"--threads=2"};
  absl::StatusOr<std::unique_ptr<RbfsCluster>> started =
      RbfsCluster::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<RbfsCluster> cluster = *std::move(started);
  std::vector<std::thread> writers;
  for (int i = 0; i < 4; ++i) {
    writers.emplace_back([&cluster, i] {
      WriteAndCheck(cluster->Path(absl::StrCat("busy", i)), 700 + i);
    });
  }
  for (std::thread& t : writers) t.join();
  for (int i = 0; i < 4; ++i) {
    CheckContents(cluster->Path(absl::StrCat("busy", i)), 700 + i);
  }
}

TEST(MountFaultTest, UnreachableServerFailsTheMount) {
  std::unique_ptr<RbfsCluster> cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  const std::string server = cluster->ServerAddress();
  ASSERT_TRUE(cluster->StopMount(SIGTERM).ok());
  ASSERT_TRUE(cluster->StopServer(SIGTERM).ok());
  const absl::Time start = absl::Now();
  EXPECT_EQ(RunCommand({RunfilePath("client/rbfs-mount"), "-o", "deadline=1",
                        server, cluster->mountpoint()}),
            1);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1) + kSlack);
  EXPECT_FALSE(cluster->Mounted());
}

}  // namespace
}  // namespace rbfs
