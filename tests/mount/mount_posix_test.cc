// POSIX completeness through the kernel (issue 15): extended attributes with
// their exact errno, binary values to the limit, the namespaces' permission
// rules for an unprivileged caller, and tools that carry them (cp -a); POSIX
// ACLs enforced and inherited; the set-id bits an unprivileged write drops.
#include <fcntl.h>
#include <grp.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/wire_limits.h"
#include "gtest/gtest.h"
#include "testing/mount_fixture.h"
#include "testing/process.h"

namespace rbfs {
namespace {

using ::rbfs::testing::RunAsNobody;

// allow_other: the tests also act as an unprivileged user.
class MountPosixTest : public SharedClusterTest<MountPosixTest> {
 public:
  static constexpr const char* kMountOptions = "allow_other";

 protected:
  void SetUp() override {
    SharedClusterTest::SetUp();
    dir_ = cluster_->Path(
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(mkdir(dir_.c_str(), 0777), 0) << strerror(errno);
    ASSERT_EQ(chmod(dir_.c_str(), 0777), 0);
  }

  std::string Path(const std::string& name) const {
    return absl::StrCat(dir_, "/", name);
  }

  std::string NewFile(const std::string& name, mode_t mode = 0644) {
    const std::string path = Path(name);
    const int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, mode);
    EXPECT_GE(fd, 0) << path << ": " << strerror(errno);
    if (fd >= 0) close(fd);
    return path;
  }

  // Runs `body` as nobody in the test's directory; its exit code.
  int AsNobody(const std::function<int()>& body) {
    return RunAsNobody(dir_, body);
  }

  std::string dir_;
};

// -1 with errno, as the system calls give it, folded into one number.
int Errno(ssize_t result) { return result < 0 ? errno : 0; }

std::string Get(const std::string& path, const std::string& name) {
  std::string value(kMaxXattrValueBytes, '\0');
  const ssize_t n =
      getxattr(path.c_str(), name.c_str(), value.data(), value.size());
  if (n < 0) return absl::StrCat("<", strerror(errno), ">");
  value.resize(n);
  return value;
}

std::vector<std::string> List(const std::string& path) {
  std::string names(kMaxXattrListBytes, '\0');
  const ssize_t n = listxattr(path.c_str(), names.data(), names.size());
  std::vector<std::string> out;
  if (n < 0) return {absl::StrCat("<", strerror(errno), ">")};
  for (size_t at = 0; at < static_cast<size_t>(n);) {
    const size_t end = names.find('\0', at);
    out.push_back(names.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

TEST_F(MountPosixTest, ExtendedAttributesRoundTripWithExactErrno) {
  const std::string f = NewFile("f");
  const char* p = f.c_str();
  EXPECT_EQ(Errno(getxattr(p, "user.a", nullptr, 0)), ENODATA);
  EXPECT_EQ(Errno(listxattr(p, nullptr, 0)), 0);

  // Every byte value, up to the largest value Linux passes.
  std::string largest(kMaxXattrValueBytes, '\0');
  for (size_t i = 0; i < largest.size(); ++i) largest[i] = char(i * 131 + 7);
  ASSERT_EQ(setxattr(p, "user.large", largest.data(), largest.size(), 0), 0)
      << strerror(errno);
  ASSERT_EQ(setxattr(p, "user.empty", "", 0, 0), 0);
  ASSERT_EQ(setxattr(p, "trusted.t", "t", 1, 0), 0);
  ASSERT_EQ(setxattr(p, "security.s", "s", 1, 0), 0);
  EXPECT_EQ(Get(f, "user.large"), largest);
  EXPECT_EQ(Get(f, "user.empty"), "");
  EXPECT_EQ(List(f), (std::vector<std::string>{"security.s", "trusted.t",
                                               "user.empty", "user.large"}));

  // Size probes and short buffers.
  EXPECT_EQ(getxattr(p, "user.large", nullptr, 0),
            static_cast<ssize_t>(kMaxXattrValueBytes));
  char small[16];
  EXPECT_EQ(Errno(getxattr(p, "user.large", small, sizeof(small))), ERANGE);
  EXPECT_EQ(listxattr(p, nullptr, 0), 43);  // the four names, NUL-ended
  EXPECT_EQ(Errno(listxattr(p, small, sizeof(small))), ERANGE);

  EXPECT_EQ(Errno(setxattr(p, "user.empty", "x", 1, XATTR_CREATE)), EEXIST);
  EXPECT_EQ(Errno(setxattr(p, "user.none", "x", 1, XATTR_REPLACE)), ENODATA);
  ASSERT_EQ(setxattr(p, "user.empty", "now", 3, XATTR_REPLACE), 0);
  EXPECT_EQ(Get(f, "user.empty"), "now");
  EXPECT_EQ(Errno(setxattr(p, "user.big", largest.data(),
                           kMaxXattrValueBytes + 1, 0)),
            E2BIG);
  EXPECT_EQ(Errno(setxattr(p, "os2.x", "x", 1, 0)), ENOTSUP);
  EXPECT_EQ(Errno(getxattr(p, "os2.x", nullptr, 0)), ENOTSUP);
  EXPECT_EQ(Errno(setxattr(p, std::string(256, 'u').c_str(), "x", 1, 0)),
            ERANGE);

  // The inode's total: more large values until it is spent.
  int stored = 1;
  while (setxattr(p, absl::StrCat("user.more", stored).c_str(), largest.data(),
                  largest.size(), 0) == 0) {
    ++stored;
  }
  EXPECT_EQ(errno, ENOSPC);
  EXPECT_EQ(stored, 3);

  ASSERT_EQ(removexattr(p, "user.large"), 0);
  EXPECT_EQ(Errno(getxattr(p, "user.large", nullptr, 0)), ENODATA);
  EXPECT_EQ(Errno(removexattr(p, "user.large")), ENODATA);
}

// Directories take attributes too; a symlink takes no user attribute (the
// kernel refuses), but one of its own in trusted.
TEST_F(MountPosixTest, ExtendedAttributesOnDirectoriesAndSymlinks) {
  const std::string d = Path("d");
  ASSERT_EQ(mkdir(d.c_str(), 0755), 0);
  ASSERT_EQ(setxattr(d.c_str(), "user.d", "dir", 3, 0), 0);
  EXPECT_EQ(Get(d, "user.d"), "dir");
  const std::string l = Path("l");
  ASSERT_EQ(symlink("d", l.c_str()), 0);
  EXPECT_EQ(Errno(lsetxattr(l.c_str(), "user.l", "x", 1, 0)), EPERM);
  ASSERT_EQ(lsetxattr(l.c_str(), "trusted.l", "link", 4, 0), 0);
  std::string value(8, '\0');
  EXPECT_EQ(lgetxattr(l.c_str(), "trusted.l", value.data(), value.size()), 4);
  // Through the link: the directory's.
  EXPECT_EQ(Get(l, "user.d"), "dir");
}

// Runs setfacl with `args`; true if it succeeded.
bool Setfacl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"setfacl"};
  argv.insert(argv.end(), args.begin(), args.end());
  return ::rbfs::testing::RunProgram(argv).exit_code == 0;
}

int PermissionBits(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -errno;
  return st.st_mode & 07777;
}

// setfacl grants nobody what the mode refuses; the kernel enforces it, the
// mode shows the mask as its group bits, chmod masks the grant, and
// setfacl -b takes it away again.
TEST_F(MountPosixTest, AnAccessAclGrantsWhatTheModeDoesNot) {
  const std::string f = NewFile("f", 0600);
  auto nobody = [&](int flags) {
    return AsNobody([flags] {
      const int fd = open("f", flags);
      if (fd < 0) return errno;
      close(fd);
      return 0;
    });
  };
  ASSERT_EQ(nobody(O_RDONLY), EACCES);

  ASSERT_TRUE(Setfacl({"-m", "u:nobody:r", f}));
  EXPECT_EQ(PermissionBits(f), 0640);
  EXPECT_EQ(nobody(O_RDONLY), 0);
  EXPECT_EQ(nobody(O_WRONLY), EACCES);
  const ::rbfs::testing::ProgramResult shown =
      ::rbfs::testing::RunProgram({"getfacl", "-c", f});
  EXPECT_NE(shown.output.find("user:nobody:r--"), std::string::npos)
      << shown.output;

  // chmod sets the mask: the named entry stays but grants nothing.
  ASSERT_EQ(chmod(f.c_str(), 0600), 0);
  EXPECT_EQ(nobody(O_RDONLY), EACCES);
  EXPECT_GT(getxattr(f.c_str(), "system.posix_acl_access", nullptr, 0), 28);
  ASSERT_EQ(chmod(f.c_str(), 0640), 0);
  EXPECT_EQ(nobody(O_RDONLY), 0);

  // setfacl -b sets the base entries alone (the owning group's ---, not the
  // mask's r--): an ACL the mode says all of, so none is kept.
  ASSERT_TRUE(Setfacl({"-b", f}));
  EXPECT_EQ(Errno(getxattr(f.c_str(), "system.posix_acl_access", nullptr, 0)),
            ENODATA);
  EXPECT_EQ(PermissionBits(f), 0600);
  EXPECT_EQ(nobody(O_RDONLY), EACCES);
  // The kernel checks the ACL's form before it reaches the mount; others
  // of "system." are not stored.
  EXPECT_EQ(Errno(setxattr(f.c_str(), "system.posix_acl_access", "x", 1, 0)),
            EINVAL);
  EXPECT_EQ(Errno(setxattr(f.c_str(), "system.other", "x", 1, 0)), EOPNOTSUPP);
}

// A directory's default ACL: what is created in it takes the ACL, masked by
// the mode asked for, and not the umask; elsewhere the umask applies.
TEST_F(MountPosixTest, ADefaultAclIsInheritedAndTheUmaskOnlyWithoutOne) {
  const std::string d = Path("d");
  ASSERT_EQ(mkdir(d.c_str(), 0755), 0);
  ASSERT_TRUE(Setfacl({"-d", "-m", "u:nobody:rwx", d}));
  const mode_t old_umask = umask(077);
  const int fd = open((d + "/new").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0666);
  const int made = mkdir((d + "/sub").c_str(), 0777);
  const std::string plain = NewFile("plain", 0666);
  const int made_plain = mkdir(Path("plaind").c_str(), 0777);
  umask(old_umask);
  ASSERT_GE(fd, 0) << strerror(errno);
  close(fd);
  ASSERT_EQ(made, 0);
  ASSERT_EQ(made_plain, 0);

  // u::rw- g::r-- (the mask rw-) o::r--: the default's entries masked by
  // 0666, with no umask.
  EXPECT_EQ(PermissionBits(d + "/new"), 0664);
  EXPECT_EQ(PermissionBits(d + "/sub"), 0775);
  EXPECT_EQ(PermissionBits(plain), 0600);
  EXPECT_EQ(PermissionBits(Path("plaind")), 0700);
  EXPECT_GT(
      getxattr((d + "/sub").c_str(), "system.posix_acl_default", nullptr, 0),
      0);
  EXPECT_EQ(Errno(getxattr((d + "/new").c_str(), "system.posix_acl_default",
                           nullptr, 0)),
            ENODATA);
  // The inherited named entry is in force: nobody may write the new file.
  EXPECT_EQ(AsNobody([] {
              const int w = open("d/new", O_WRONLY | O_APPEND);
              if (w < 0) return errno;
              const bool wrote = write(w, "x", 1) == 1;
              close(w);
              return wrote ? 0 : EIO;
            }),
            0);
  // A default ACL only on directories (the kernel says so first).
  EXPECT_FALSE(Setfacl({"-d", "-m", "u:nobody:r", plain}));
}

TEST_F(MountPosixTest, CopyingWithAttributesKeepsThem) {
  const std::string f = NewFile("f");
  ASSERT_EQ(setxattr(f.c_str(), "user.kept", "\0\1\2", 3, 0), 0);
  const std::string g = Path("g");
  ASSERT_EQ(system(absl::StrCat("cp -a ", f, " ", g).c_str()), 0);
  EXPECT_EQ(Get(g, "user.kept"), std::string("\0\1\2", 3));
}

// An unprivileged caller: user attributes follow the file's permission
// bits, trusted ones are for CAP_SYS_ADMIN only.
TEST_F(MountPosixTest, UnprivilegedCallersGetTheNamespacesRules) {
  const std::string theirs = NewFile("theirs", 0644);
  ASSERT_EQ(setxattr(theirs.c_str(), "user.a", "root", 4, 0), 0);
  // Exit codes: 0 = as expected, otherwise the failed check.
  const int result = AsNobody([] {
    char value[8];
    if (getxattr("theirs", "user.a", value, sizeof(value)) != 4) return 1;
    if (setxattr("theirs", "user.b", "x", 1, 0) != -1 || errno != EACCES) {
      return 2;
    }
    const int fd = open("mine", O_CREAT | O_WRONLY, 0600);
    if (fd < 0) return 3;
    close(fd);
    if (setxattr("mine", "user.mine", "x", 1, 0) != 0) return 4;
    if (setxattr("mine", "trusted.t", "x", 1, 0) != -1 || errno != EPERM) {
      return 5;
    }
    return 0;
  });
  EXPECT_EQ(result, 0);
  EXPECT_EQ(Get(Path("mine"), "user.mine"), "x");
}

// The mode after an unprivileged write, truncate and a root chown of a
// file with both set-id bits (and group-exec), in `dir`, and after a root
// write (which keeps them); "write truncate chown root" as octal modes.
std::string SetIdBitsAfter(const std::string& dir) {
  std::string out;
  for (const char* op : {"write", "truncate", "chown", "root"}) {
    const std::string path = absl::StrCat(dir, "/", op);
    const int fd = open(path.c_str(), O_CREAT | O_WRONLY, 0666);
    if (fd < 0) return strerror(errno);
    close(fd);
    if (chmod(path.c_str(), 06777) != 0) return strerror(errno);
    const std::string what = op;
    int result = 0;
    if (what == "chown") {
      result = chown(path.c_str(), 65534, 65534);
    } else if (what == "root") {
      const int wfd = open(path.c_str(), O_WRONLY);
      result = write(wfd, "x", 1) == 1 ? 0 : -1;
      close(wfd);
    } else {
      result = RunAsNobody(dir, [&] {
        if (what == "truncate") return truncate(op, 0) == 0 ? 0 : 1;
        const int wfd = open(op, O_WRONLY);
        return wfd >= 0 && write(wfd, "x", 1) == 1 ? 0 : 2;
      });
    }
    struct stat st;
    if (result != 0 || stat(path.c_str(), &st) != 0) {
      absl::StrAppend(&out, op, " failed ");
      continue;
    }
    absl::StrAppend(&out, absl::StrFormat("%o ", st.st_mode & 07777));
  }
  return out;
}

TEST_F(MountPosixTest, UnprivilegedWritesTruncatesAndChownsDropSetIdBits) {
  EXPECT_EQ(SetIdBitsAfter(dir_), "777 777 777 6777 ");
}

// cache=none opens every file with direct I/O, where the kernel does not
// clear the bits itself: the mount's writes carry the request to.
TEST_F(MountPosixTest, SoDoDirectIoWritesWithCacheNone) {
  RbfsCluster::Options options;
  options.volume_bytes = uint64_t{256} << 20;
  options.mount_options = "allow_other,cache=none";
  auto cluster = RbfsCluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::string dir = (*cluster)->Path("d");
  ASSERT_EQ(mkdir(dir.c_str(), 0777), 0);
  ASSERT_EQ(chmod(dir.c_str(), 0777), 0);
  EXPECT_EQ(SetIdBitsAfter(dir), "777 777 777 6777 ");
}

uint64_t FreeBytes(const std::string& dir) {
  struct statvfs st;
  if (statvfs(dir.c_str(), &st) != 0) return 0;
  return uint64_t{st.f_bfree} * st.f_frsize;
}

// fallocate's modes through the kernel: space taken and given back (df
// sees it), zeros read, SEEK_DATA/SEEK_HOLE find the punched hole, and a
// range larger than the free space fails before anything changes.
TEST_F(MountPosixTest, FallocatePunchesHolesThatSeekFinds) {
  const std::string f = NewFile("f");
  const int fd = open(f.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  struct statvfs vfs;
  ASSERT_EQ(statvfs(dir_.c_str(), &vfs), 0);
  const uint64_t block = vfs.f_frsize;
  const uint64_t free_before = FreeBytes(dir_);
  ASSERT_EQ(fallocate(fd, 0, 0, 8 * block), 0) << strerror(errno);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 8 * block);
  EXPECT_EQ(static_cast<uint64_t>(st.st_blocks) * 512, 8 * block);
  EXPECT_EQ(FreeBytes(dir_), free_before - 8 * block);

  const std::string data(8 * block, 'd');
  ASSERT_EQ(pwrite(fd, data.data(), data.size(), 0),
            static_cast<ssize_t>(data.size()));
  ASSERT_EQ(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * block,
                      3 * block),
            0)
      << strerror(errno);
  EXPECT_EQ(FreeBytes(dir_), free_before - 5 * block);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 8 * block);
  EXPECT_EQ(static_cast<uint64_t>(st.st_blocks) * 512, 5 * block);
  std::string back(8 * block, '\0');
  ASSERT_EQ(pread(fd, back.data(), back.size(), 0),
            static_cast<ssize_t>(back.size()));
  std::string want = data;
  std::fill(want.begin() + 2 * block, want.begin() + 5 * block, '\0');
  EXPECT_TRUE(back == want);
  EXPECT_EQ(lseek(fd, 0, SEEK_HOLE), static_cast<off_t>(2 * block));
  EXPECT_EQ(lseek(fd, 2 * block, SEEK_DATA), static_cast<off_t>(5 * block));
  EXPECT_EQ(lseek(fd, 5 * block, SEEK_HOLE), static_cast<off_t>(8 * block));
  EXPECT_EQ(lseek(fd, 8 * block, SEEK_DATA), -1);
  EXPECT_EQ(errno, ENXIO);

  // Zero a range: allocated again, zeros.
  ASSERT_EQ(fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, 3 * block), 0)
      << strerror(errno);
  ASSERT_EQ(pread(fd, back.data(), 3 * block, 0),
            static_cast<ssize_t>(3 * block));
  EXPECT_EQ(back.substr(0, 3 * block), std::string(3 * block, '\0'));
  EXPECT_EQ(lseek(fd, 0, SEEK_HOLE), static_cast<off_t>(3 * block));

  // More than is free: ENOSPC, and the file is as it was.
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(fallocate(fd, 0, 8 * block, FreeBytes(dir_) + block), -1);
  EXPECT_EQ(errno, ENOSPC);
  struct stat after;
  ASSERT_EQ(fstat(fd, &after), 0);
  EXPECT_EQ(after.st_size, st.st_size);
  EXPECT_EQ(after.st_blocks, st.st_blocks);
  EXPECT_EQ(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, block), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
  close(fd);
}

// Bytes the mount's daemon read and wrote through system calls (its
// sockets and /dev/fuse), from /proc/PID/io; -1 if it is not found.
int64_t MountDaemonIoBytes(const std::string& mountpoint) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream cmdline(entry.path() / "cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)),
                     std::istreambuf_iterator<char>());
    if (args.find("rbfs-mount") == std::string::npos ||
        args.find(mountpoint + '\0') == std::string::npos) {
      continue;
    }
    std::ifstream io(entry.path() / "io");
    int64_t total = 0;
    std::string key;
    int64_t value;
    while (io >> key >> value) {
      if (key == "rchar:" || key == "wchar:") total += value;
    }
    return total;
  }
  return -1;
}

// copy_file_range is the server's: a 64 MiB copy moves almost nothing
// through the mount's daemon, and the copy reads back whole.
TEST_F(MountPosixTest, CopyFileRangeMovesNoDataThroughTheMount) {
  constexpr size_t kBytes = size_t{64} << 20;
  std::string data(kBytes, '\0');
  for (size_t i = 0; i < kBytes; i += 4096) data[i] = char(i / 4096 + 1);
  const std::string in = NewFile("in");
  const std::string out = NewFile("out");
  {
    const int fd = open(in.c_str(), O_WRONLY);
    ASSERT_EQ(pwrite(fd, data.data(), kBytes, 0), static_cast<ssize_t>(kBytes));
    close(fd);
  }
  const int from = open(in.c_str(), O_RDONLY);
  const int to = open(out.c_str(), O_WRONLY);
  ASSERT_GE(from, 0);
  ASSERT_GE(to, 0);
  const int64_t before = MountDaemonIoBytes(cluster_->mountpoint());
  ASSERT_GE(before, 0);
  size_t copied = 0;
  while (copied < kBytes) {
    const ssize_t n =
        copy_file_range(from, nullptr, to, nullptr, kBytes - copied, 0);
    ASSERT_GT(n, 0) << strerror(errno);
    copied += n;
  }
  const int64_t moved = MountDaemonIoBytes(cluster_->mountpoint()) - before;
  close(from);
  close(to);
  EXPECT_LT(moved, int64_t{1} << 20) << "bytes through the mount's daemon";
  const int fd = open(out.c_str(), O_RDONLY);
  std::string back(kBytes, 'x');
  size_t got = 0;
  ssize_t n;
  while ((n = pread(fd, back.data() + got, kBytes - got, got)) > 0) got += n;
  close(fd);
  EXPECT_EQ(got, kBytes);
  EXPECT_TRUE(back == data);
}
}  // namespace
}  // namespace rbfs
