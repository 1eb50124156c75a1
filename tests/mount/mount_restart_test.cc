// End-to-end behaviour across server restarts and mount deaths: stable
// inode ids, descriptors and a working directory that keep working, open
// unlinked files re-registered with a restarted server, hard mounts that
// wait out an outage, numbered namespace calls that give their own result
// when repeated across a crash, the server freeing what a killed mount held,
// the next mount detaching the dead one, and SIGTERM on rbfs-mount.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "testing/mount_fixture.h"
#include "testing/test_data.h"

namespace rbfs {
namespace {

constexpr size_t kFileBytes = 1 << 20;

// Polls `done` every 20 ms for up to `limit`.
bool Eventually(const std::function<bool()>& done,
                absl::Duration limit = absl::Seconds(30)) {
  const absl::Time until = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() > until) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

std::unique_ptr<RbfsCluster> Start(RbfsCluster::Options options) {
  absl::StatusOr<std::unique_ptr<RbfsCluster>> cluster =
      RbfsCluster::Start(options);
  EXPECT_TRUE(cluster.ok()) << cluster.status();
  return cluster.ok() ? *std::move(cluster) : nullptr;
}

void WritePattern(int fd, uint64_t seed, size_t size) {
  std::string data(size, '\0');
  PatternFill(seed, 0, data.data(), data.size());
  ASSERT_EQ(pwrite(fd, data.data(), data.size(), 0),
            static_cast<ssize_t>(data.size()))
      << strerror(errno);
}

void ExpectPattern(int fd, uint64_t seed, size_t size) {
  std::string expected(size, '\0');
  PatternFill(seed, 0, expected.data(), expected.size());
  std::string back(size + 1, '\0');
  const ssize_t n = pread(fd, back.data(), back.size(), 0);
  ASSERT_EQ(n, static_cast<ssize_t>(size)) << strerror(errno);
  back.resize(size);
  EXPECT_TRUE(back == expected) << "seed " << seed;
}

uint64_t FreeBlocks(const std::string& dir) {
  struct statvfs st;
  if (statvfs(dir.c_str(), &st) != 0) return 0;
  return st.f_bfree;
}

TEST(MountRestartTest, IdsCwdAndOpenFilesSurviveServerCrashes) {
  RbfsCluster::Options options;
  options.server_args = {"--lease-timeout=3s"};
  std::unique_ptr<RbfsCluster> cluster = Start(options);
  ASSERT_NE(cluster, nullptr);
  ASSERT_EQ(mkdir(cluster->Path("d").c_str(), 0755), 0);
  const int kept =
      open(cluster->Path("d/kept").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  ASSERT_GE(kept, 0);
  WritePattern(kept, 1, kFileBytes);
  struct stat before;
  ASSERT_EQ(fstat(kept, &before), 0);
  // Unlinked but open: only the open handle keeps it alive. (O_CLOEXEC: a
  // restarted server, forked from this process, must not hold it too.)
  const int unlinked = open(cluster->Path("d/unlinked").c_str(),
                            O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  ASSERT_GE(unlinked, 0);
  WritePattern(unlinked, 2, kFileBytes);
  ASSERT_EQ(unlink(cluster->Path("d/unlinked").c_str()), 0);
  const uint64_t free_while_held = FreeBlocks(cluster->mountpoint());

  char old_cwd[PATH_MAX];
  ASSERT_NE(getcwd(old_cwd, sizeof(old_cwd)), nullptr);
  ASSERT_EQ(chdir(cluster->Path("d").c_str()), 0);
  absl::Cleanup restore_cwd = [&old_cwd] { EXPECT_EQ(chdir(old_cwd), 0); };

  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(absl::StrCat("restart ", round));
    ASSERT_TRUE(cluster->StopServer(SIGKILL).ok());
    ASSERT_TRUE(cluster->StartServer().ok());
    struct stat after;
    ASSERT_EQ(stat("kept", &after), 0) << strerror(errno);
    EXPECT_EQ(after.st_ino, before.st_ino);
    ExpectPattern(kept, 1, kFileBytes);
    ExpectPattern(unlinked, 2, kFileBytes);
    const std::string name = absl::StrCat("new", round);
    const int fd = open(name.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    ASSERT_GE(fd, 0) << strerror(errno);
    EXPECT_EQ(write(fd, "x", 1), 1);
    EXPECT_EQ(close(fd), 0);
  }
  // One lease after its start the server frees the unlinked files nobody
  // re-registered; the mount re-registered this one, so it lives on.
  ASSERT_TRUE(Eventually([&] {
    return absl::StrContains(cluster->ServerLog(),
                             "reclaimed 0 of 1 unlinked inodes");
  })) << "no sweep at the end of the grace period";
  ExpectPattern(unlinked, 2, kFileBytes);
  // Its space comes back when the last handle goes.
  ASSERT_EQ(close(unlinked), 0);
  EXPECT_TRUE(Eventually([&] {
    return FreeBlocks(cluster->mountpoint()) > free_while_held;
  })) << FreeBlocks(cluster->mountpoint())
      << " <= " << free_while_held;
  EXPECT_EQ(close(kept), 0);
}

TEST(MountRestartTest, HardMountWaitsOutAnOutage) {
  RbfsCluster::Options options;
  options.mount_options = "hard,deadline=1,attr_timeout=0,entry_timeout=0";
  std::unique_ptr<RbfsCluster> cluster = Start(options);
  ASSERT_NE(cluster, nullptr);
  const std::string path = cluster->Path("f");
  const int fd = open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  WritePattern(fd, 3, kFileBytes);

  ASSERT_TRUE(cluster->StopServer(SIGKILL).ok());
  std::atomic<bool> done{false};
  std::atomic<int> error{0};
  std::thread reader([&] {
    std::string expected(kFileBytes, '\0');
    PatternFill(3, 0, expected.data(), expected.size());
    std::string back(kFileBytes, '\0');
    if (pread(fd, back.data(), back.size(), 0) !=
        static_cast<ssize_t>(kFileBytes)) {
      error = errno;
    } else if (back != expected) {
      error = EILSEQ;
    }
    done = true;
  });
  // A soft mount would fail after one second; this one keeps waiting.
  EXPECT_FALSE(Eventually([&] { return done.load(); }, absl::Seconds(4)));
  ASSERT_TRUE(cluster->StartServer().ok());
  EXPECT_TRUE(Eventually([&] { return done.load(); }));
  reader.join();
  EXPECT_EQ(error.load(), 0) << strerror(error.load());
  close(fd);
}

TEST(MountRestartTest, NamespaceCallsGiveTheirOwnResultAcrossCrashes) {
  RbfsCluster::Options options;
  options.mount_options = "hard,deadline=2";
  std::unique_ptr<RbfsCluster> cluster = Start(options);
  ASSERT_NE(cluster, nullptr);
  const std::string dir = cluster->Path("ns");
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);

  // Every call must succeed: a repeat of a create, rename or unlink the
  // dying server ran but could not answer must not report EEXIST or ENOENT.
  std::atomic<int> iterations{0};
  std::atomic<bool> stop{false};
  std::string failure;
  std::thread worker([&] {
    for (int i = 0; !stop.load(); ++i) {
      const std::string f = absl::StrCat(dir, "/f", i);
      const std::string g = absl::StrCat(dir, "/g", i);
      const std::string d = absl::StrCat(dir, "/d", i);
      const int fd = open(f.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
      if (fd < 0) {
        failure = absl::StrCat("create ", f, ": ", strerror(errno));
        return;
      }
      close(fd);
      if (rename(f.c_str(), g.c_str()) != 0) {
        failure = absl::StrCat("rename ", f, ": ", strerror(errno));
        return;
      }
      if (i > 0 && unlink(absl::StrCat(dir, "/g", i - 1).c_str()) != 0) {
        failure = absl::StrCat("unlink g", i - 1, ": ", strerror(errno));
        return;
      }
      if (mkdir(d.c_str(), 0755) != 0 || rmdir(d.c_str()) != 0) {
        failure = absl::StrCat("mkdir/rmdir ", d, ": ", strerror(errno));
        return;
      }
      iterations = i + 1;
    }
  });
  for (int crash = 0; crash < 3; ++crash) {
    const int target = iterations.load() + 20;
    ASSERT_TRUE(Eventually([&] {
      return iterations.load() >= target || !failure.empty();
    })) << "no progress";
    ASSERT_TRUE(cluster->StopServer(SIGKILL).ok());
    ASSERT_TRUE(cluster->StartServer().ok());
  }
  const int target = iterations.load() + 20;
  EXPECT_TRUE(Eventually(
      [&] { return iterations.load() >= target || !failure.empty(); }));
  stop = true;
  worker.join();
  EXPECT_EQ(failure, "");
  // Exactly the last file is left.
  std::set<std::string> names;
  DIR* listing = opendir(dir.c_str());
  ASSERT_NE(listing, nullptr);
  while (dirent* e = readdir(listing)) {
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") {
      names.insert(e->d_name);
    }
  }
  closedir(listing);
  EXPECT_EQ(names,
            std::set<std::string>{absl::StrCat("g", iterations.load() - 1)});
}

TEST(MountRestartTest, KilledMountIsFreedOnTheServerAndDetachedByTheNext) {
  RbfsCluster::Options options;
  options.server_args = {"--lease-timeout=2s"};
  std::unique_ptr<RbfsCluster> cluster = Start(options);
  ASSERT_NE(cluster, nullptr);
  absl::StatusOr<std::string> observer = cluster->AddClient("observer", "");
  ASSERT_TRUE(observer.ok()) << observer.status();

  const int fd =
      open(cluster->Path("held").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  WritePattern(fd, 4, 8 * kFileBytes);
  ASSERT_EQ(unlink(cluster->Path("held").c_str()), 0);
  const uint64_t free_while_held = FreeBlocks(*observer);
  ASSERT_GT(free_while_held, 0u);

  ASSERT_TRUE(cluster->KillMount().ok());
  // The dead mount's session runs out and its unlinked file is freed.
  EXPECT_TRUE(
      Eventually([&] { return FreeBlocks(*observer) > free_while_held; }));
  // The sweep frees the blocks before it logs the expiry.
  EXPECT_TRUE(Eventually(
      [&] { return absl::StrContains(cluster->ServerLog(), "expired"); }));
  close(fd);

  struct stat st;
  EXPECT_EQ(stat(cluster->mountpoint().c_str(), &st), -1);
  EXPECT_EQ(errno, ENOTCONN);
  ASSERT_TRUE(cluster->StartMount().ok());
  const int again =
      open(cluster->Path("after").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  ASSERT_GE(again, 0) << strerror(errno);
  WritePattern(again, 5, kFileBytes);
  ExpectPattern(again, 5, kFileBytes);
  close(again);
}

TEST(MountRestartTest, SigtermAnswersInFlightWritesAndExitsZero) {
  std::unique_ptr<RbfsCluster> cluster = Start({});
  ASSERT_NE(cluster, nullptr);
  constexpr int kWriters = 4;
  constexpr size_t kBlock = 256 << 10;
  // Per writer: the number of blocks whose write returned success.
  std::vector<std::atomic<int>> acked(kWriters);
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      const int fd = open(cluster->Path(absl::StrCat("w", t)).c_str(),
                          O_CREAT | O_WRONLY, 0644);
      if (fd < 0) return;
      std::string block(kBlock, '\0');
      for (int i = 0;; ++i) {
        PatternFill(t * 1000 + i, 0, block.data(), block.size());
        if (pwrite(fd, block.data(), block.size(), i * kBlock) !=
            static_cast<ssize_t>(kBlock)) {
          break;
        }
        acked[t] = i + 1;
      }
      close(fd);
    });
  }
  EXPECT_TRUE(Eventually([&] {
    for (const auto& a : acked) {
      if (a.load() < 4) return false;
    }
    return true;
  }));
  absl::StatusOr<int> status = cluster->StopMount(SIGTERM);
  for (std::thread& w : writers) w.join();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;

  // Every write that returned success is stored.
  ASSERT_TRUE(cluster->StartMount().ok());
  std::string expected(kBlock, '\0');
  std::string back(kBlock, '\0');
  for (int t = 0; t < kWriters; ++t) {
    const int fd = open(cluster->Path(absl::StrCat("w", t)).c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    for (int i = 0; i < acked[t].load(); ++i) {
      PatternFill(t * 1000 + i, 0, expected.data(), expected.size());
      ASSERT_EQ(pread(fd, back.data(), kBlock, i * kBlock),
                static_cast<ssize_t>(kBlock));
      EXPECT_TRUE(back == expected) << "writer " << t << " block " << i;
    }
    close(fd);
  }
}

}  // namespace
}  // namespace rbfs
