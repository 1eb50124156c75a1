// End-to-end tests of a cache=auto mount: page cache, executables, shared
// mmap, close-to-open consistency.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "testing/mount_fixture.h"
#include "testing/test_data.h"

namespace rbfs {
namespace {

class MountCacheTest : public SharedClusterTest<MountCacheTest> {
 public:
  static constexpr const char* kMountOptions =
      "cache=auto,attr_timeout=60,entry_timeout=60";
};

std::string ReadAll(int fd) {
  std::string data;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) data.append(buf, n);
  return data;
}

TEST_F(MountCacheTest, CopiedBinaryRuns) {
  const int source = open("/bin/echo", O_RDONLY);
  ASSERT_GE(source, 0);
  const std::string binary = ReadAll(source);
  close(source);
  ASSERT_GT(binary.size(), 1000u);

  const std::string path = cluster_->Path("echo");
  const int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0755);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, binary.data(), binary.size()),
            static_cast<ssize_t>(binary.size()));
  ASSERT_EQ(close(fd), 0);

  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    execl(path.c_str(), "echo", "hello", "from", "rbfs", nullptr);
    _exit(127);
  }
  close(out[1]);
  const std::string output = ReadAll(out[0]);
  close(out[0]);
  absl::StatusOr<int> status = WaitForExit(pid, absl::Seconds(30));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  EXPECT_EQ(output, "hello from rbfs\n");
}

// Linux gives a FUSE mount a 128 KiB readahead window, which makes a
// buffered sequential read one 128 KiB round trip after another; the mount
// raises it to one full-size READ (-o read_ahead, 1024 KiB by default).
TEST_F(MountCacheTest, BufferedReadsGetAOneMebibyteReadaheadWindow) {
  struct stat st;
  ASSERT_EQ(stat(cluster_->Path("").c_str(), &st), 0) << strerror(errno);
  const std::string sysfs =
      absl::StrCat("/sys/class/bdi/", major(st.st_dev), ":", minor(st.st_dev),
                   "/read_ahead_kb");
  const int fd = open(sysfs.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << sysfs << ": " << strerror(errno);
  const std::string window = ReadAll(fd);
  close(fd);
  EXPECT_EQ(window, "1024\n");
}

TEST_F(MountCacheTest, SharedMmapWritesReachTheServer) {
  constexpr size_t kBytes = 1 << 20;
  const std::string path = cluster_->Path("mapped");
  const int fd = open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, kBytes), 0);
  void* map = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(map, MAP_FAILED) << strerror(errno);
  PatternFill(77, 0, static_cast<char*>(map), kBytes);
  ASSERT_EQ(msync(map, kBytes, MS_SYNC), 0);
  ASSERT_EQ(munmap(map, kBytes), 0);
  ASSERT_EQ(close(fd), 0);

  // O_DIRECT bypasses the page cache, so this reads what the server holds.
  const int direct = open(path.c_str(), O_RDONLY | O_DIRECT);
  ASSERT_GE(direct, 0);
  void* raw = nullptr;
  ASSERT_EQ(posix_memalign(&raw, 4096, kBytes), 0);
  std::unique_ptr<char, decltype(&free)> buffer(static_cast<char*>(raw), free);
  ASSERT_EQ(pread(direct, buffer.get(), kBytes, 0),
            static_cast<ssize_t>(kBytes));
  close(direct);
  std::string expected(kBytes, '\0');
  PatternFill(77, 0, expected.data(), kBytes);
  EXPECT_EQ(memcmp(buffer.get(), expected.data(), kBytes), 0);
}

TEST_F(MountCacheTest, OpenSeesWritesThatBypassedTheCache) {
  const std::string path = cluster_->Path("c2o");
  int fd = open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "old contents", 12), 12);
  ASSERT_EQ(close(fd), 0);
  fd = open(path.c_str(), O_RDONLY);
  ASSERT_EQ(ReadAll(fd), "old contents");  // now in the page cache
  close(fd);

  // Written around the page cache, as another client would.
  void* raw = nullptr;
  ASSERT_EQ(posix_memalign(&raw, 4096, 4096), 0);
  std::unique_ptr<char, decltype(&free)> page(static_cast<char*>(raw), free);
  memset(page.get(), 0, 4096);
  memcpy(page.get(), "new contents", 12);
  const int direct = open(path.c_str(), O_WRONLY | O_DIRECT);
  ASSERT_GE(direct, 0);
  ASSERT_EQ(pwrite(direct, page.get(), 4096, 0), 4096);
  ASSERT_EQ(ftruncate(direct, 12), 0);
  close(direct);

  fd = open(path.c_str(), O_RDONLY);
  EXPECT_EQ(ReadAll(fd), "new contents");
  close(fd);
}

TEST_F(MountCacheTest, CloseToOpenAcrossClients) {
  // A second client without a page cache writes; this cached mount must see
  // each new version at its next open, long before its attribute and entry
  // caches would expire.
  absl::StatusOr<std::string> other =
      cluster_->AddClient("writer", "cache=none");
  ASSERT_TRUE(other.ok()) << other.status();
  const std::string reader_path = cluster_->Path("shared_doc");
  const std::string writer_path = *other + "/shared_doc";
  const std::vector<std::string> versions = {"v1", "version two, longer", "3",
                                             std::string(100000, 'x')};
  for (const std::string& version : versions) {
    const int w = open(writer_path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(w, 0);
    ASSERT_EQ(write(w, version.data(), version.size()),
              static_cast<ssize_t>(version.size()));
    ASSERT_EQ(close(w), 0);
    const int r = open(reader_path.c_str(), O_RDONLY);
    ASSERT_GE(r, 0) << strerror(errno);
    const std::string seen = ReadAll(r);
    close(r);
    EXPECT_TRUE(seen == version) << "read " << seen.size() << " bytes, "
                                 << version.size() << " expected";
  }
}

}  // namespace
}  // namespace rbfs
