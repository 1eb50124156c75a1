// End-to-end metadata tests: real rbfs-server, real mount, real kernel.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "testing/mount_fixture.h"

namespace rbfs {
namespace {

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

class MountMetadataTest : public SharedClusterTest<MountMetadataTest> {
 public:
  static constexpr const char* kMountOptions = "";

 protected:
  static std::string Path(const std::string& name) {
    return cluster_->Path(name);
  }

  static void WriteFile(const std::string& path, const std::string& data) {
    const int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(fd, 0) << path << ": " << strerror(errno);
    ASSERT_EQ(write(fd, data.data(), data.size()),
              static_cast<ssize_t>(data.size()));
    ASSERT_EQ(close(fd), 0);
  }

  static std::string ReadFile(const std::string& path) {
    const int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return "<" + std::string(strerror(errno)) + ">";
    std::string data;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) data.append(buf, n);
    close(fd);
    return data;
  }
};

TEST_F(MountMetadataTest, IsAFuseMount) {
  struct statfs st;
  ASSERT_EQ(statfs(cluster_->mountpoint().c_str(), &st), 0);
  EXPECT_EQ(st.f_type, FUSE_SUPER_MAGIC);
}

TEST_F(MountMetadataTest, CreateStatUnlink) {
  const std::string path = Path("create");
  const int fd = open(path.c_str(), O_CREAT | O_EXCL | O_RDWR, 0640);
  ASSERT_GE(fd, 0) << strerror(errno);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_size, 0);
  EXPECT_EQ(st.st_nlink, 1u);
  ASSERT_EQ(write(fd, "0123456789", 10), 10);
  ASSERT_EQ(close(fd), 0);
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 10);
  EXPECT_EQ(open(path.c_str(), O_CREAT | O_EXCL | O_RDWR, 0640), -1);
  EXPECT_EQ(errno, EEXIST);
  ASSERT_EQ(unlink(path.c_str()), 0);
  EXPECT_EQ(stat(path.c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
}

// The kernel asks for a directory's attributes again right after every
// change in it, and the mount answers from the attributes the server sent
// with the change (client/core/attr_cache.h): each stat must show that
// change.
TEST_F(MountMetadataTest, DirectoryAttributesFollowEveryChange) {
  const std::string dir = Path("changing");
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << strerror(errno);
  struct stat before;
  ASSERT_EQ(stat(dir.c_str(), &before), 0);
  EXPECT_EQ(before.st_nlink, 2u);
  auto expect_changed = [&](const char* what, nlink_t nlink) {
    struct stat after;
    ASSERT_EQ(stat(dir.c_str(), &after), 0) << what;
    EXPECT_EQ(after.st_nlink, nlink) << what;
    EXPECT_GT(absl::TimeFromTimespec(after.st_mtim),
              absl::TimeFromTimespec(before.st_mtim))
        << what;
    EXPECT_GT(absl::TimeFromTimespec(after.st_ctim),
              absl::TimeFromTimespec(before.st_ctim))
        << what;
    before = after;
  };
  ASSERT_EQ(mkdir((dir + "/sub").c_str(), 0755), 0);
  expect_changed("mkdir", 3);
  const int fd = open((dir + "/f").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(close(fd), 0);
  expect_changed("create", 3);
  ASSERT_EQ(rename((dir + "/f").c_str(), (dir + "/g").c_str()), 0);
  expect_changed("rename", 3);
  ASSERT_EQ(link((dir + "/g").c_str(), (dir + "/h").c_str()), 0);
  expect_changed("link", 3);
  ASSERT_EQ(symlink("g", (dir + "/s").c_str()), 0);
  expect_changed("symlink", 3);
  ASSERT_EQ(unlink((dir + "/g").c_str()), 0);
  expect_changed("unlink", 3);
  ASSERT_EQ(rmdir((dir + "/sub").c_str()), 0);
  expect_changed("rmdir", 2);
  ASSERT_EQ(unlink((dir + "/h").c_str()), 0);
  ASSERT_EQ(unlink((dir + "/s").c_str()), 0);
  ASSERT_EQ(rmdir(dir.c_str()), 0);
}

TEST_F(MountMetadataTest, SpecialFilesAndDirectorySync) {
  ASSERT_EQ(mkfifo(Path("fifo").c_str(), 0600), 0) << strerror(errno);
  struct stat st;
  ASSERT_EQ(lstat(Path("fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(mkfifo(Path("fifo").c_str(), 0600), -1);
  EXPECT_EQ(errno, EEXIST);
  const int dir = open(cluster_->mountpoint().c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dir, 0);
  EXPECT_EQ(fsync(dir), 0) << strerror(errno);
  close(dir);
  ASSERT_EQ(unlink(Path("fifo").c_str()), 0);
}

TEST_F(MountMetadataTest, ServerErrnosReachTheCaller) {
  ASSERT_EQ(mkdir(Path("errs").c_str(), 0755), 0);
  WriteFile(Path("errs/file"), "x");
  EXPECT_EQ(mkdir(Path("errs").c_str(), 0755), -1);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_EQ(rmdir(Path("errs").c_str()), -1);
  EXPECT_EQ(errno, ENOTEMPTY);
  EXPECT_EQ(rmdir(Path("errs/file").c_str()), -1);
  EXPECT_EQ(errno, ENOTDIR);
  EXPECT_EQ(unlink(Path("errs").c_str()), -1);
  EXPECT_EQ(errno, EISDIR);
  EXPECT_EQ(open(Path("errs/missing").c_str(), O_RDONLY), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(open(Path("errs/file/below").c_str(), O_RDONLY), -1);
  EXPECT_EQ(errno, ENOTDIR);
  ASSERT_EQ(unlink(Path("errs/file").c_str()), 0);
  ASSERT_EQ(rmdir(Path("errs").c_str()), 0);
}

TEST_F(MountMetadataTest, RenameWithFlags) {
  WriteFile(Path("ren_a"), "alpha");
  WriteFile(Path("ren_b"), "beta");
  ASSERT_EQ(renameat2(AT_FDCWD, Path("ren_a").c_str(), AT_FDCWD,
                      Path("ren_b").c_str(), RENAME_NOREPLACE),
            -1);
  EXPECT_EQ(errno, EEXIST);
  ASSERT_EQ(renameat2(AT_FDCWD, Path("ren_a").c_str(), AT_FDCWD,
                      Path("ren_b").c_str(), RENAME_EXCHANGE),
            0)
      << strerror(errno);
  EXPECT_EQ(ReadFile(Path("ren_a")), "beta");
  EXPECT_EQ(ReadFile(Path("ren_b")), "alpha");
  ASSERT_EQ(mkdir(Path("ren_dir").c_str(), 0755), 0);
  ASSERT_EQ(rename(Path("ren_a").c_str(), Path("ren_dir/moved").c_str()), 0);
  EXPECT_EQ(ReadFile(Path("ren_dir/moved")), "beta");
  ASSERT_EQ(rename(Path("ren_b").c_str(), Path("ren_dir/moved").c_str()), 0);
  EXPECT_EQ(ReadFile(Path("ren_dir/moved")), "alpha");
  EXPECT_EQ(access(Path("ren_b").c_str(), F_OK), -1);
  ASSERT_EQ(unlink(Path("ren_dir/moved").c_str()), 0);
  ASSERT_EQ(rmdir(Path("ren_dir").c_str()), 0);
}

TEST_F(MountMetadataTest, HardLinks) {
  WriteFile(Path("link_src"), "shared");
  ASSERT_EQ(link(Path("link_src").c_str(), Path("link_dst").c_str()), 0);
  struct stat a, b;
  ASSERT_EQ(stat(Path("link_src").c_str(), &a), 0);
  ASSERT_EQ(stat(Path("link_dst").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  ASSERT_EQ(unlink(Path("link_src").c_str()), 0);
  EXPECT_EQ(ReadFile(Path("link_dst")), "shared");
  ASSERT_EQ(stat(Path("link_dst").c_str(), &b), 0);
  EXPECT_EQ(b.st_nlink, 1u);
  ASSERT_EQ(unlink(Path("link_dst").c_str()), 0);
}

TEST_F(MountMetadataTest, Symlinks) {
  WriteFile(Path("sym_target"), "pointed at");
  ASSERT_EQ(symlink("sym_target", Path("sym").c_str()), 0);
  char buf[256];
  const ssize_t n = readlink(Path("sym").c_str(), buf, sizeof(buf));
  ASSERT_EQ(n, 10);
  EXPECT_EQ(std::string(buf, n), "sym_target");
  struct stat st;
  ASSERT_EQ(lstat(Path("sym").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(ReadFile(Path("sym")), "pointed at");
  ASSERT_EQ(unlink(Path("sym").c_str()), 0);
  ASSERT_EQ(unlink(Path("sym_target").c_str()), 0);
}

TEST_F(MountMetadataTest, ChmodUtimensTruncate) {
  const std::string path = Path("attrs");
  WriteFile(path, "abcdefgh");
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  struct timespec times[2] = {{1000000000, 123456789}, {1200000000, 5}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
  EXPECT_EQ(st.st_atim.tv_nsec, 123456789);
  EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 5);

  ASSERT_EQ(truncate(path.c_str(), 3), 0);
  EXPECT_EQ(ReadFile(path), "abc");
  ASSERT_EQ(truncate(path.c_str(), 100000), 0);
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 100000);
  EXPECT_EQ(ReadFile(path), std::string("abc") + std::string(99997, '\0'));
  ASSERT_EQ(unlink(path.c_str()), 0);
}

TEST_F(MountMetadataTest, ReaddirOfTenThousandEntries) {
  const std::string dir = Path("many");
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  constexpr int kEntries = 10000;
  for (int i = 0; i < kEntries; ++i) {
    // mknod: one RPC fewer per entry than open+close.
    const std::string path = absl::StrCat(dir, "/entry_", i);
    ASSERT_EQ(mknod(path.c_str(), S_IFREG | 0644, 0), 0)
        << path << ": " << strerror(errno);
  }
  std::set<std::string> names;
  int dots = 0;
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr);
  while (dirent* entry = readdir(d)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") {
      ++dots;
      continue;
    }
    EXPECT_TRUE(names.insert(name).second) << "duplicate " << name;
  }
  closedir(d);
  EXPECT_EQ(dots, 2);
  ASSERT_EQ(names.size(), static_cast<size_t>(kEntries));
  for (int i = 0; i < kEntries; i += 997) {
    EXPECT_EQ(names.count(absl::StrCat("entry_", i)), 1u);
  }
  struct stat st;
  ASSERT_EQ(stat(absl::StrCat(dir, "/entry_4242").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(MountMetadataTest, ReaddirSurvivesConcurrentUnlinks) {
  const std::string dir = Path("churn");
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  constexpr int kEntries = 3000;
  for (int i = 0; i < kEntries; ++i) {
    ASSERT_EQ(mknod(absl::StrCat(dir, "/f", i).c_str(), S_IFREG | 0644, 0), 0);
  }
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr);
  std::set<std::string> seen;
  int read_count = 0;
  bool unlinked = false;
  while (dirent* entry = readdir(d)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    EXPECT_TRUE(seen.insert(name).second) << "duplicate " << name;
    if (++read_count == kEntries / 3 && !unlinked) {
      // Midway: remove every odd-numbered file, seen or not.
      for (int i = 1; i < kEntries; i += 2) {
        ASSERT_EQ(unlink(absl::StrCat(dir, "/f", i).c_str()), 0);
      }
      unlinked = true;
    }
  }
  closedir(d);
  ASSERT_TRUE(unlinked);
  for (int i = 0; i < kEntries; i += 2) {
    EXPECT_EQ(seen.count(absl::StrCat("f", i)), 1u) << "missing f" << i;
  }
}

TEST_F(MountMetadataTest, StatFsReportsTheVolume) {
  struct statvfs before;
  ASSERT_EQ(statvfs(cluster_->mountpoint().c_str(), &before), 0);
  EXPECT_EQ(before.f_bsize, 65536u);
  EXPECT_EQ(before.f_frsize, 65536u);
  // The server may keep a few blocks of the volume for itself.
  EXPECT_LE(before.f_blocks * before.f_frsize, uint64_t{4} << 30);
  EXPECT_GT(before.f_blocks * before.f_frsize, uint64_t{4} << 29);
  EXPECT_GT(before.f_bfree, 0u);
  EXPECT_GT(before.f_namemax, 0u);
  WriteFile(Path("statfs_fill"), std::string(4 << 20, 'f'));
  struct statvfs after;
  ASSERT_EQ(statvfs(cluster_->mountpoint().c_str(), &after), 0);
  EXPECT_EQ(before.f_bfree - after.f_bfree, (4u << 20) / 65536);
  ASSERT_EQ(unlink(Path("statfs_fill").c_str()), 0);
}

TEST_F(MountMetadataTest, UnlinkedFileStaysUsableUntilLastClose) {
  const std::string path = Path("doomed");
  struct statvfs empty;
  ASSERT_EQ(statvfs(cluster_->mountpoint().c_str(), &empty), 0);
  const int fd = open(path.c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  const std::string data(1 << 20, 'd');
  ASSERT_EQ(pwrite(fd, data.data(), data.size(), 0),
            static_cast<ssize_t>(data.size()));
  const int second = open(path.c_str(), O_RDONLY);
  ASSERT_GE(second, 0);
  ASSERT_EQ(unlink(path.c_str()), 0);
  EXPECT_EQ(access(path.c_str(), F_OK), -1);

  std::string back(data.size(), '\0');
  ASSERT_EQ(pread(second, back.data(), back.size(), 0),
            static_cast<ssize_t>(back.size()));
  EXPECT_EQ(back, data);
  ASSERT_EQ(pwrite(fd, "tail", 4, data.size()), 4);
  struct stat st;
  ASSERT_EQ(fstat(second, &st), 0);
  EXPECT_EQ(st.st_size, static_cast<off_t>(data.size() + 4));
  EXPECT_EQ(st.st_nlink, 0u);
  ASSERT_EQ(close(second), 0);
  // One handle is still open: the data must survive the other's close.
  ASSERT_EQ(pread(fd, back.data(), 4, data.size()), 4);
  EXPECT_EQ(back.substr(0, 4), "tail");

  struct statvfs held;
  ASSERT_EQ(statvfs(cluster_->mountpoint().c_str(), &held), 0);
  EXPECT_LT(held.f_bfree, empty.f_bfree);
  ASSERT_EQ(close(fd), 0);
  // The kernel sends the last release asynchronously after close().
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  struct statvfs freed;
  do {
    ASSERT_EQ(statvfs(cluster_->mountpoint().c_str(), &freed), 0);
    if (freed.f_bfree == empty.f_bfree) break;
    absl::SleepFor(absl::Milliseconds(10));
  } while (absl::Now() < deadline);
  EXPECT_EQ(freed.f_bfree, empty.f_bfree) << "space of the unlinked file";
}

}  // namespace
}  // namespace rbfs
