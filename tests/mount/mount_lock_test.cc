// Locks across mounts (issue 15): two mounts of one server, whose kernels
// would each grant every lock if the server did not arbitrate. POSIX
// byte-range locks (fcntl) and flock are refused on B while A holds them,
// F_GETLK on B names A's lock, F_SETLKW on B returns once A lets go (by
// unlock, by close, by dying, with its mount, and after a server restart
// that A's mount reclaims its locks through), and SQLite on two mounts
// keeps one database whole.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "testing/mount_fixture.h"

namespace rbfs {
namespace {

// How long a lock freed on one mount may take to be granted on the other:
// F_SETLKW's pauses grow to 50 ms (MountCore::kLockRetryMax).
constexpr absl::Duration kGrantBound = absl::Seconds(2);
// The server's lease in these tests: a dead mount's locks go after it.
constexpr absl::Duration kLease = absl::Seconds(2);

struct Mounts {
  std::unique_ptr<RbfsCluster> cluster;
  std::string a;
  std::string b;
};

Mounts StartMounts() {
  RbfsCluster::Options options;
  options.volume_bytes = uint64_t{256} << 20;
  options.server_args = {
      absl::StrCat("--lease-timeout=", absl::ToInt64Seconds(kLease), "s")};
  absl::StatusOr<std::unique_ptr<RbfsCluster>> cluster =
      RbfsCluster::Start(options);
  EXPECT_TRUE(cluster.ok()) << cluster.status();
  if (!cluster.ok()) return {};
  absl::StatusOr<std::string> b = (*cluster)->AddClient("b", "");
  EXPECT_TRUE(b.ok()) << b.status();
  if (!b.ok()) return {};
  Mounts mounts;
  mounts.a = (*cluster)->mountpoint();
  mounts.b = *b;
  mounts.cluster = *std::move(cluster);
  return mounts;
}

int OpenFile(const std::string& path) {
  // O_CLOEXEC: servers and mounts forked later must not hold it.
  return open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
}

// F_SETLK or F_SETLKW of [start, start + len) (len 0: to the end); 0 or
// errno.
int Lock(int fd, short type, off_t start, off_t len, int cmd = F_SETLK) {
  struct flock lock = {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = start;
  lock.l_len = len;
  return fcntl(fd, cmd, &lock) == 0 ? 0 : errno;
}

// Polls until a non-blocking lock of [0, end) by a fresh descriptor of
// `path` is granted (then drops it) or `bound` passes; returns whether it
// was.
bool GrantedWithin(const std::string& path, absl::Duration bound) {
  const absl::Time deadline = absl::Now() + bound;
  do {
    const int fd = OpenFile(path);
    const int err = Lock(fd, F_WRLCK, 0, 0);
    close(fd);
    if (err == 0) return true;
    absl::SleepFor(absl::Milliseconds(10));
  } while (absl::Now() < deadline);
  return false;
}

// Waits until thread (or process) `tid` is inside the fcntl system call,
// blocked there, as /proc/TID/syscall shows, or `bound` passes; returns
// whether it was seen there.
bool SeenBlockedInFcntl(pid_t tid, absl::Duration bound) {
  const std::string path = absl::StrCat("/proc/", tid, "/syscall");
  const absl::Time deadline = absl::Now() + bound;
  do {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    if (absl::StartsWith(text.str(), absl::StrCat(SYS_fcntl, " "))) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(1));
  } while (absl::Now() < deadline);
  return false;
}

TEST(MountLockTest, PosixLocksOnAAreRefusedOnBAndNamedByGetlk) {
  Mounts m = StartMounts();
  ASSERT_NE(m.cluster, nullptr);
  const int a = OpenFile(m.a + "/f");
  const int b = OpenFile(m.b + "/f");
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_EQ(Lock(a, F_WRLCK, 100, 50), 0);
  EXPECT_EQ(Lock(b, F_WRLCK, 0, 0), EAGAIN);
  EXPECT_EQ(Lock(b, F_RDLCK, 120, 1), EAGAIN);
  // Outside A's range: granted.
  EXPECT_EQ(Lock(b, F_WRLCK, 0, 100), 0);
  EXPECT_EQ(Lock(b, F_WRLCK, 150, 0), 0);

  struct flock probe = {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  probe.l_start = 0;
  probe.l_len = 0;
  const int c = OpenFile(m.b + "/f");
  // Another process's view: B's own locks do not conflict with it, A's do.
  ASSERT_EQ(fcntl(c, F_OFD_GETLK, &probe), 0) << strerror(errno);
  EXPECT_EQ(probe.l_type, F_WRLCK);

  // Readers share: A downgrades, B reads the same range.
  ASSERT_EQ(Lock(b, F_UNLCK, 0, 0), 0);
  ASSERT_EQ(Lock(a, F_RDLCK, 100, 50), 0);
  EXPECT_EQ(Lock(b, F_RDLCK, 100, 50), 0);
  EXPECT_EQ(Lock(b, F_WRLCK, 100, 50), EAGAIN);

  // F_GETLK from a process of B's mount names A's range and pid.
  ASSERT_EQ(Lock(b, F_UNLCK, 0, 0), 0);
  ASSERT_EQ(Lock(a, F_WRLCK, 100, 50), 0);
  const pid_t child = fork();
  if (child == 0) {
    struct flock lock = {};
    lock.l_type = F_RDLCK;
    lock.l_whence = SEEK_SET;
    if (fcntl(b, F_GETLK, &lock) != 0) _exit(1);
    if (lock.l_type != F_WRLCK || lock.l_start != 100 || lock.l_len != 50) {
      _exit(2);
    }
    _exit(lock.l_pid == getppid() ? 0 : 3);
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  // Closing a descriptor of the file drops the process's POSIX locks on
  // it (those it holds through that mount).
  close(a);
  EXPECT_TRUE(GrantedWithin(m.b + "/f", kGrantBound));
  close(b);
  close(c);
}

TEST(MountLockTest, FlockOnAIsRefusedOnBUntilReleased) {
  Mounts m = StartMounts();
  ASSERT_NE(m.cluster, nullptr);
  const int a = OpenFile(m.a + "/f");
  const int b = OpenFile(m.b + "/f");
  ASSERT_EQ(flock(a, LOCK_EX), 0) << strerror(errno);
  EXPECT_EQ(flock(b, LOCK_EX | LOCK_NB), -1);
  EXPECT_EQ(errno, EWOULDBLOCK);
  EXPECT_EQ(flock(b, LOCK_SH | LOCK_NB), -1);
  // flock and POSIX locks are apart, as on Linux.
  EXPECT_EQ(Lock(b, F_WRLCK, 0, 0), 0);
  ASSERT_EQ(flock(a, LOCK_SH), 0);
  EXPECT_EQ(flock(b, LOCK_SH | LOCK_NB), 0);
  ASSERT_EQ(flock(b, LOCK_UN), 0);
  // The last close of A's open file releases its flock (the kernel tells
  // the mount with the file's release, which it sends after close()
  // returns).
  close(a);
  const absl::Time deadline = absl::Now() + kGrantBound;
  while (flock(b, LOCK_EX | LOCK_NB) != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(flock(b, LOCK_EX | LOCK_NB), 0) << strerror(errno);
  close(b);
}

// B's F_SETLKW waits (it is seen blocked in fcntl) and returns once A
// unlocks; a second waiter is ended by a signal with EINTR.
TEST(MountLockTest, SetlkwOnBReturnsWhenAUnlocksAndASignalEndsIt) {
  Mounts m = StartMounts();
  ASSERT_NE(m.cluster, nullptr);
  const int a = OpenFile(m.a + "/f");
  ASSERT_EQ(Lock(a, F_WRLCK, 0, 0), 0);

  const int b = OpenFile(m.b + "/f");
  std::atomic<pid_t> waiter_tid{0};
  absl::Time granted;
  int waited = -1;
  std::thread waiter([&] {
    waiter_tid = static_cast<pid_t>(gettid());
    waited = Lock(b, F_WRLCK, 0, 0, F_SETLKW);
    granted = absl::Now();
  });
  while (waiter_tid == 0) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_TRUE(SeenBlockedInFcntl(waiter_tid, kGrantBound));
  const absl::Time unlocked = absl::Now();
  ASSERT_EQ(Lock(a, F_UNLCK, 0, 0), 0);
  waiter.join();
  EXPECT_EQ(waited, 0) << strerror(waited);
  EXPECT_GE(granted, unlocked);
  EXPECT_LT(granted - unlocked, kGrantBound);

  // Now B holds it: a process on A waits and is interrupted.
  const pid_t child = fork();
  if (child == 0) {
    // Without SA_RESTART: with it, Linux restarts an interrupted F_SETLKW.
    struct sigaction action = {};
    action.sa_handler = [](int) {};
    sigaction(SIGUSR1, &action, nullptr);
    const int fd = OpenFile(m.a + "/f");
    _exit(Lock(fd, F_WRLCK, 0, 0, F_SETLKW) == EINTR ? 0 : 1);
  }
  EXPECT_TRUE(SeenBlockedInFcntl(child, kGrantBound));
  ASSERT_EQ(kill(child, SIGUSR1), 0);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  close(a);
  close(b);
}

// A lock goes with its holder: a killed process (its descriptors close)
// and a killed mount (its session's lease runs out on the server).
TEST(MountLockTest, ALockGoesWhenItsProcessOrItsMountIsKilled) {
  Mounts m = StartMounts();
  ASSERT_NE(m.cluster, nullptr);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t holder = fork();
  if (holder == 0) {
    const int fd = OpenFile(m.b + "/f");
    if (Lock(fd, F_WRLCK, 0, 0) != 0) _exit(1);
    if (write(ready[1], "x", 1) != 1) _exit(2);
    pause();
    _exit(0);
  }
  char byte;
  ASSERT_EQ(read(ready[0], &byte, 1), 1);
  const int a = OpenFile(m.a + "/f");
  EXPECT_EQ(Lock(a, F_WRLCK, 0, 0), EAGAIN);
  ASSERT_EQ(kill(holder, SIGKILL), 0);
  waitpid(holder, nullptr, 0);
  EXPECT_TRUE(GrantedWithin(m.a + "/f", kGrantBound));
  close(a);

  // A (the cluster's own mount) locks, and its daemon is killed: the
  // server drops its locks one lease later.
  const int held = OpenFile(m.a + "/g");
  ASSERT_EQ(Lock(held, F_WRLCK, 0, 0), 0);
  const int b = OpenFile(m.b + "/g");
  EXPECT_EQ(Lock(b, F_WRLCK, 0, 0), EAGAIN);
  ASSERT_TRUE(m.cluster->KillMount().ok());
  EXPECT_TRUE(GrantedWithin(m.b + "/g", kLease + kGrantBound));
  close(b);
  close(held);
  close(ready[0]);
  close(ready[1]);
}

// Locks live in the server's memory: after a restart A's mount re-asserts
// its lock during the grace period, in which nobody else gets it.
TEST(MountLockTest, AServerRestartKeepsLocksThroughTheirReclaim) {
  Mounts m = StartMounts();
  ASSERT_NE(m.cluster, nullptr);
  const int a = OpenFile(m.a + "/f");
  ASSERT_EQ(Lock(a, F_WRLCK, 0, 10), 0);
  ASSERT_TRUE(m.cluster->StopServer(SIGKILL).ok());
  ASSERT_TRUE(m.cluster->StartServer().ok());
  const int b = OpenFile(m.b + "/f");
  ASSERT_GE(b, 0) << strerror(errno);
  // Past the grace period: only A's reclaim can be what refuses B.
  const absl::Time after_grace = absl::Now() + kLease + absl::Milliseconds(500);
  while (absl::Now() < after_grace) {
    EXPECT_EQ(Lock(b, F_WRLCK, 0, 10), EAGAIN);
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(Lock(b, F_WRLCK, 0, 10), EAGAIN) << "A's reclaimed lock";
  EXPECT_EQ(Lock(b, F_WRLCK, 10, 10), 0) << "outside it, after the grace";
  ASSERT_EQ(Lock(a, F_UNLCK, 0, 0), 0);
  EXPECT_EQ(Lock(b, F_WRLCK, 0, 10), 0);
  close(a);
  close(b);
}

// SQLite coordinates its writers with POSIX locks: two processes on two
// mounts insert into one database, and it stays whole.
TEST(MountLockTest, SqliteOnTwoMountsKeepsOneDatabaseWhole) {
  Mounts m = StartMounts();
  ASSERT_NE(m.cluster, nullptr);
  // A writer that finds the database locked waits up to 20 s (SQLite's
  // busy handler), so the two writers take turns.
  auto sqlite = [](const std::string& db, const std::string& sql) {
    return system(absl::StrCat("sqlite3 -bail -cmd '.timeout 20000' '", db,
                               "' \"", sql, "\" > /dev/null")
                      .c_str());
  };
  ASSERT_EQ(sqlite(m.a + "/db", "CREATE TABLE t (mount TEXT, n INTEGER);"), 0);
  constexpr int kRows = 100;
  auto writer = [&](const std::string& dir, const char* name) {
    const pid_t pid = fork();
    if (pid == 0) {
      for (int i = 0; i < kRows; ++i) {
        if (sqlite(dir + "/db", absl::StrCat("INSERT INTO t VALUES ('", name,
                                             "', ", i, ");")) != 0) {
          _exit(1);
        }
      }
      _exit(0);
    }
    return pid;
  };
  const pid_t on_a = writer(m.a, "a");
  const pid_t on_b = writer(m.b, "b");
  for (pid_t pid : {on_a, on_b}) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  const std::string out = m.a + "/out";
  ASSERT_EQ(system(absl::StrCat("sqlite3 '", m.b,
                                "/db' 'PRAGMA integrity_check; SELECT "
                                "count(*), count(DISTINCT mount || n) FROM t;' "
                                "> '",
                                out, "'")
                       .c_str()),
            0);
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), absl::StrCat("ok\n", 2 * kRows, "|", 2 * kRows, "\n"));
}

}  // namespace
}  // namespace rbfs
