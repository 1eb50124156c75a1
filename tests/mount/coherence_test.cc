// Cross-mount coherence (issue 13): two mounts of one server with the
// default options, whose kernels cache names, attributes, negative lookups,
// listings and pages for a long time. A change on mount A must show on mount
// B within kBound all the same, because the server pushes B an invalidation.
// Every test primes B first (it looks up, stats, reads and lists everything
// the change touches, and looks up the names that do not exist yet), so a
// missing invalidation shows as B's stale view. When B's Watch stream is cut
// (server restart, network partition) B must fall back rather than stay
// stale, and the stream must come back by itself.
#include <dirent.h>
#include <fcntl.h>
#include <libaio.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "testing/mount_fixture.h"
#include "testing/process.h"
#include "testing/tcp_proxy.h"
#include "testing/test_data.h"

namespace rbfs {
namespace {

// How soon a change on one mount must show on another (issue 13).
constexpr absl::Duration kBound = absl::Milliseconds(200);
constexpr absl::Duration kPollStep = absl::Milliseconds(5);
// The documented worst case with the stream gone: it is taken for broken
// after 1 s of silence (common/coherence.h), plus a margin to act on it.
constexpr absl::Duration kCutBound = absl::Milliseconds(1500);
// How long a mount may take to get its stream (back) by itself: at mount or
// after a partition, and after a server restart.
constexpr absl::Duration kStreamUp = absl::Seconds(3);
constexpr absl::Duration kRestartReconnect = absl::Seconds(5);
constexpr size_t kPage = 4096;

std::string ErrnoText(int error) {
  return absl::StrCat("errno ", error, " (", strerror(error), ")");
}

std::string Pattern(uint64_t seed, size_t size) {
  std::string data(size, '\0');
  PatternFill(seed, 0, data.data(), size);
  return data;
}

absl::Status WriteFile(const std::string& path, const std::string& data,
                       int flags = O_CREAT | O_WRONLY | O_TRUNC) {
  const int fd = open(path.c_str(), flags, 0644);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  const ssize_t n = write(fd, data.data(), data.size());
  const int write_errno = errno;
  if (close(fd) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("close ", path));
  }
  if (n != static_cast<ssize_t>(data.size())) {
    return absl::ErrnoToStatus(n < 0 ? write_errno : EIO,
                               absl::StrCat("write ", path));
  }
  return absl::OkStatus();
}

// The whole file through an ordinary open, hence through the page cache in
// the default mode. Errors do not name the path: the same error on two
// mounts reads the same.
absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return absl::ErrnoToStatus(errno, "open");
  std::string data;
  char buffer[65536];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) data.append(buffer, n);
  const int read_errno = errno;
  close(fd);
  if (n < 0) return absl::ErrnoToStatus(read_errno, "read");
  return data;
}

// Page-aligned memory for O_DIRECT.
struct AlignedBuffer {
  explicit AlignedBuffer(size_t size) : size(size) {
    void* p = nullptr;
    if (posix_memalign(&p, kPage, size) != 0) abort();
    data = static_cast<char*>(p);
    memset(data, 0, size);
  }
  ~AlignedBuffer() { free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  char* data;
  size_t size;
};

// The file as the server holds it: O_DIRECT bypasses this mount's page cache.
absl::StatusOr<std::string> ReadDirect(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECT);
  if (fd < 0) return absl::ErrnoToStatus(errno, "open O_DIRECT");
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return absl::ErrnoToStatus(errno, "fstat");
  }
  AlignedBuffer buffer((st.st_size / kPage + 1) * kPage);
  size_t got = 0;
  ssize_t n;
  while ((n = pread(fd, buffer.data + got, buffer.size - got, got)) > 0) {
    got += n;
  }
  const int read_errno = errno;
  close(fd);
  if (n < 0) return absl::ErrnoToStatus(read_errno, "pread O_DIRECT");
  return std::string(buffer.data, got);
}

// Contents, compactly but exactly: length, a hash of every byte, the start.
std::string DataText(const std::string& data) {
  Checksum64 sum;
  sum.Update(data.data(), data.size());
  return absl::StrFormat("bytes=%d fnv=%016x head=\"%s\"", data.size(),
                         sum.value(), absl::CHexEscape(data.substr(0, 16)));
}

std::string DataText(const absl::StatusOr<std::string>& data) {
  return data.ok() ? DataText(*data) : data.status().ToString();
}

std::string TimeText(const timespec& t) {
  return absl::StrFormat("%d.%09d", t.tv_sec, t.tv_nsec);
}

// The names readdir returns for `dir` (but . and ..), sorted.
std::string Listing(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoText(errno);
  std::vector<std::string> names;
  while (const dirent* entry = readdir(d)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return absl::StrJoin(names, " ");
}

// What a mount shows of `names` in `dir` ("." is `dir` itself), in three
// parts, each looked at with its own system calls: an open or a readdir
// (which may refresh the kernel's entries and attributes) must not repair
// the lstat that is checked for staleness.
struct View {
  // Per name the errno of lstat, or every attribute a kernel caches but
  // ctime (A's kernel keeps its own under the writeback cache) and, unless
  // asked for, atime (reads move it on the server).
  std::string attributes;
  // Per name what an ordinary open and read give.
  std::string contents;
  std::string listing;
};

std::string Attributes(const std::string& dir,
                       const std::vector<std::string>& names, bool with_atime) {
  std::string out;
  for (const std::string& name : names) {
    const std::string path = name == "." ? dir : absl::StrCat(dir, "/", name);
    absl::StrAppend(&out, name, ": ");
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) {
      absl::StrAppend(&out, ErrnoText(errno), "\n");
      continue;
    }
    absl::StrAppend(
        &out, "ino=", st.st_ino, absl::StrFormat(" mode=0%o", st.st_mode),
        " nlink=", st.st_nlink, " uid=", st.st_uid, " gid=", st.st_gid,
        " size=", st.st_size, " mtime=", TimeText(st.st_mtim));
    if (with_atime) absl::StrAppend(&out, " atime=", TimeText(st.st_atim));
    out += "\n";
  }
  return out;
}

std::string Contents(const std::string& dir,
                     const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    const std::string path = name == "." ? dir : absl::StrCat(dir, "/", name);
    absl::StrAppend(&out, name, ": ", DataText(ReadFile(path)), "\n");
  }
  return out;
}

View Observe(const std::string& dir, const std::vector<std::string>& names,
             bool with_atime = false) {
  View view;
  view.attributes = Attributes(dir, names, with_atime);
  view.contents = Contents(dir, names);
  view.listing = Listing(dir);
  return view;
}

// Checks `observe()` until it returns `want` or `deadline` passes, at least
// once; returns what it saw last. The caller asserts on that.
template <typename Observer, typename T>
T PollUntil(Observer observe, const T& want, absl::Time deadline) {
  T seen = observe();
  while (seen != want && absl::Now() < deadline) {
    absl::SleepFor(kPollStep);
    seen = observe();
  }
  return seen;
}

// The permission bits of `path`, or -errno.
int ModeOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -errno;
  return st.st_mode & 07777;
}

// Pages of `path` in this mount's page cache, or -errno when it cannot be
// mapped (a direct_io open cannot be, so that says "no page cache" too).
int ResidentPages(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size == 0) {
    close(fd);
    return -EINVAL;
  }
  void* map = mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  const int map_errno = errno;
  close(fd);
  if (map == MAP_FAILED) return -map_errno;
  std::vector<unsigned char> resident((st.st_size + kPage - 1) / kPage);
  int count = -EINVAL;
  if (mincore(map, st.st_size, resident.data()) == 0) {
    count = static_cast<int>(
        std::count_if(resident.begin(), resident.end(),
                      [](unsigned char page) { return page & 1; }));
  }
  munmap(map, st.st_size);
  return count;
}

// Two default mounts of one server, shared by the suite: A (the cluster's
// own) and B. Each test works in a directory of its own name.
class CoherenceTest : public SharedClusterTest<CoherenceTest> {
 public:
  // allow_other: a test acts as nobody through B.
  static constexpr const char* kMountOptions = "allow_other";

  static void SetUpTestSuite() {
    SharedClusterTest::SetUpTestSuite();
    if (cluster_ == nullptr) return;
    absl::StatusOr<std::string> b = cluster_->AddClient("b", kMountOptions);
    ASSERT_TRUE(b.ok()) << b.status();
    mount_b_ = new std::string(*std::move(b));
  }
  static void TearDownTestSuite() {
    delete mount_b_;
    mount_b_ = nullptr;
    SharedClusterTest::TearDownTestSuite();
  }

 protected:
  void SetUp() override {
    SharedClusterTest::SetUp();
    ASSERT_NE(mount_b_, nullptr);
    const std::string name =
        ::testing::UnitTest::GetInstance()->current_test_info()->name();
    a_ = cluster_->Path(name);
    b_ = absl::StrCat(*mount_b_, "/", name);
    ASSERT_EQ(mkdir(a_.c_str(), 0755), 0) << strerror(errno);
  }

  std::string A(const std::string& name) const {
    return absl::StrCat(a_, "/", name);
  }
  std::string B(const std::string& name) const {
    return absl::StrCat(b_, "/", name);
  }

  // B looks at everything about `names` (so its kernel caches it, absent
  // names as negative entries) and must agree with A.
  void Prime(const std::vector<std::string>& names) {
    const View a = Observe(a_, names);
    const View b = Observe(b_, names);
    ASSERT_EQ(b.attributes, a.attributes) << "before any change";
    ASSERT_EQ(b.contents, a.contents) << "before any change";
    ASSERT_EQ(b.listing, a.listing) << "before any change";
  }

  // After a change on A that returned at `changed`: B shows exactly what A
  // shows within kBound. Attributes first, so that nothing done to look at
  // the rest can have refreshed them.
  void ExpectBCatchesUp(const std::vector<std::string>& names,
                        absl::Time changed, bool with_atime = false) {
    const View want = Observe(a_, names, with_atime);
    const absl::Time deadline = changed + kBound;
    EXPECT_EQ(PollUntil([&] { return Attributes(b_, names, with_atime); },
                        want.attributes, deadline),
              want.attributes)
        << "B's attributes " << kBound << " after the change on A";
    EXPECT_EQ(
        PollUntil([&] { return Contents(b_, names); }, want.contents, deadline),
        want.contents)
        << "B's contents " << kBound << " after the change on A";
    EXPECT_EQ(PollUntil([&] { return Listing(b_); }, want.listing, deadline),
              want.listing)
        << "B's listing " << kBound << " after the change on A";
  }

  // B's contents of `name` equal `want` within kBound of `changed`.
  void ExpectBReads(const std::string& name, const std::string& want,
                    absl::Time changed) {
    EXPECT_EQ(PollUntil([&] { return DataText(ReadFile(B(name))); },
                        DataText(want), changed + kBound),
              DataText(want))
        << "B's contents " << kBound << " after the change on A";
  }

  static inline std::string* mount_b_ = nullptr;
  std::string a_;
  std::string b_;
};

TEST_F(CoherenceTest, Create) {
  const std::vector<std::string> names = {".", "new"};
  ASSERT_NO_FATAL_FAILURE(Prime(names));
  const int fd = open(A("new").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0640);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(close(fd), 0);
  const absl::Time changed = absl::Now();
  struct stat st;
  ASSERT_EQ(lstat(A("new").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFREG | 0640);
  EXPECT_EQ(st.st_size, 0);
  ExpectBCatchesUp(names, changed);
}

TEST_F(CoherenceTest, Unlink) {
  ASSERT_EQ(WriteFile(A("victim"), "doomed bytes"), absl::OkStatus());
  ASSERT_EQ(WriteFile(A("bystander"), "stays"), absl::OkStatus());
  const std::vector<std::string> names = {".", "victim", "bystander"};
  ASSERT_NO_FATAL_FAILURE(Prime(names));
  ASSERT_EQ(unlink(A("victim").c_str()), 0) << strerror(errno);
  const absl::Time changed = absl::Now();
  EXPECT_EQ(ModeOf(A("victim")), -ENOENT);
  ExpectBCatchesUp(names, changed);
}

TEST_F(CoherenceTest, RenameToANewName) {
  ASSERT_EQ(WriteFile(A("from"), "moving"), absl::OkStatus());
  struct stat before;
  ASSERT_EQ(lstat(A("from").c_str(), &before), 0);
  const std::vector<std::string> names = {".", "from", "to"};
  ASSERT_NO_FATAL_FAILURE(Prime(names));
  ASSERT_EQ(rename(A("from").c_str(), A("to").c_str()), 0) << strerror(errno);
  const absl::Time changed = absl::Now();
  struct stat after;
  ASSERT_EQ(lstat(A("to").c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(ModeOf(A("from")), -ENOENT);
  ExpectBCatchesUp(names, changed);
}

TEST_F(CoherenceTest, RenameOverAnExistingName) {
  ASSERT_EQ(WriteFile(A("from"), "the new one"), absl::OkStatus());
  ASSERT_EQ(WriteFile(A("to"), "the old one, replaced"), absl::OkStatus());
  struct stat before;
  ASSERT_EQ(lstat(A("from").c_str(), &before), 0);
  const std::vector<std::string> names = {".", "from", "to"};
  ASSERT_NO_FATAL_FAILURE(Prime(names));
  ASSERT_EQ(rename(A("from").c_str(), A("to").c_str()), 0) << strerror(errno);
  const absl::Time changed = absl::Now();
  struct stat after;
  ASSERT_EQ(lstat(A("to").c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(ReadFile(A("to")).value_or(""), "the new one");
  ExpectBCatchesUp(names, changed);
}

TEST_F(CoherenceTest, MkdirThenRmdir) {
  const std::vector<std::string> names = {".", "sub"};
  ASSERT_NO_FATAL_FAILURE(Prime(names));
  ASSERT_EQ(mkdir(A("sub").c_str(), 0750), 0) << strerror(errno);
  absl::Time changed = absl::Now();
  struct stat st;
  ASSERT_EQ(lstat(A("sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFDIR | 0750);
  ExpectBCatchesUp(names, changed);
  EXPECT_EQ(Listing(B("sub")), "");

  ASSERT_EQ(rmdir(A("sub").c_str()), 0) << strerror(errno);
  changed = absl::Now();
  EXPECT_EQ(ModeOf(A("sub")), -ENOENT);
  ExpectBCatchesUp(names, changed);
}

TEST_F(CoherenceTest, Chmod) {
  ASSERT_EQ(WriteFile(A("f"), "mode bits"), absl::OkStatus());
  ASSERT_EQ(chmod(A("f").c_str(), 0644), 0);
  const std::vector<std::string> names = {"f"};
  ASSERT_NO_FATAL_FAILURE(Prime(names));
  ASSERT_EQ(chmod(A("f").c_str(), 0600), 0) << strerror(errno);
  const absl::Time changed = absl::Now();
  EXPECT_EQ(ModeOf(A("f")), 0600);
  ExpectBCatchesUp(names, changed);
}

TEST_F(CoherenceTest, Chown) {
  ASSERT_EQ(WriteFile(A("f"), "owners"), absl::OkStatus());
  const std::vector<std::string> names = {"f"};
  ASSERT_NO_FATAL_FAILURE(Prime(names));
  ASSERT_EQ(chown(A("f").c_str(), 1234, 5678), 0) << strerror(errno);
  const absl::Time changed = absl::Now();
  struct stat st;
  ASSERT_EQ(lstat(A("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  ExpectBCatchesUp(names, changed);
}

TEST_F(CoherenceTest, TruncateShorterThenLonger) {
  const std::string old_data = Pattern(1, 10000);
  ASSERT_EQ(WriteFile(A("f"), old_data), absl::OkStatus());
  const std::vector<std::string> names = {"f"};
  ASSERT_NO_FATAL_FAILURE(Prime(names));

  ASSERT_EQ(truncate(A("f").c_str(), 3000), 0) << strerror(errno);
  absl::Time changed = absl::Now();
  EXPECT_EQ(DataText(ReadFile(A("f"))), DataText(old_data.substr(0, 3000)));
  ExpectBCatchesUp(names, changed);

  ASSERT_EQ(truncate(A("f").c_str(), 9000), 0) << strerror(errno);
  changed = absl::Now();
  EXPECT_EQ(DataText(ReadFile(A("f"))),
            DataText(old_data.substr(0, 3000) + std::string(6000, '\0')));
  ExpectBCatchesUp(names, changed);
}

TEST_F(CoherenceTest, WriteAndCloseIsReadThroughBsPageCache) {
  const std::string old_data = Pattern(2, 3 * kPage + 100);
  ASSERT_EQ(WriteFile(A("doc"), old_data), absl::OkStatus());
  const std::vector<std::string> names = {"doc"};
  ASSERT_NO_FATAL_FAILURE(Prime(names));
  // B has the old pages, and keeps them across opens while the file does
  // not change: what it reads next comes from its page cache unless the
  // change on A reached it.
  EXPECT_GT(ResidentPages(B("doc")), 0)
      << "B's read left no pages of the file in its page cache";

  // The same length, other bytes: nothing in B's attributes gives it away.
  const std::string same_length = Pattern(3, old_data.size());
  ASSERT_EQ(WriteFile(A("doc"), same_length, O_WRONLY), absl::OkStatus());
  absl::Time changed = absl::Now();
  EXPECT_EQ(DataText(ReadFile(A("doc"))), DataText(same_length));
  ExpectBCatchesUp(names, changed);

  for (const size_t size : {size_t{5 * kPage + 7}, size_t{100}}) {
    SCOPED_TRACE(absl::StrCat(size, " bytes"));
    const std::string data = Pattern(size, size);
    ASSERT_EQ(WriteFile(A("doc"), data), absl::OkStatus());
    changed = absl::Now();
    EXPECT_EQ(DataText(ReadFile(A("doc"))), DataText(data));
    ExpectBCatchesUp(names, changed);
  }
}

// A small file's open hands B the whole file (OpenRequest.data_up_to), and
// B's reads through that descriptor are answered from it: a change on A
// while B holds the file open must still reach those reads.
TEST_F(CoherenceTest, AFileHeldOpenOnBIsReadAfreshAfterAChangesIt) {
  const std::string old_data = Pattern(4, 3000);
  ASSERT_EQ(WriteFile(A("small"), old_data), absl::OkStatus());
  const int fd = open(B("small").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  auto read_b = [fd] {
    std::string data(4096, '\0');
    const ssize_t n = pread(fd, data.data(), data.size(), 0);
    data.resize(n < 0 ? 0 : n);
    return DataText(data);
  };
  EXPECT_EQ(read_b(), DataText(old_data));
  // The same length, other bytes, and again with the kernel's pages of the
  // file dropped (as memory pressure would), so B's next read is a READ.
  const std::string new_data = Pattern(5, old_data.size());
  ASSERT_EQ(WriteFile(A("small"), new_data, O_WRONLY), absl::OkStatus());
  const absl::Time changed = absl::Now();
  EXPECT_EQ(PollUntil(read_b, DataText(new_data), changed + kBound),
            DataText(new_data))
      << "B's open descriptor " << kBound << " after the change on A";
  const std::string newer_data = Pattern(6, old_data.size());
  ASSERT_EQ(WriteFile(A("small"), newer_data, O_WRONLY), absl::OkStatus());
  const absl::Time changed_again = absl::Now();
  ASSERT_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  EXPECT_EQ(PollUntil(read_b, DataText(newer_data), changed_again + kBound),
            DataText(newer_data))
      << "B's open descriptor " << kBound << " after the change on A";
  close(fd);
}

// The attribute's value, or its errno, as getxattr gives it.
std::string XattrOf(const std::string& path, const char* name) {
  char value[64];
  const ssize_t n = getxattr(path.c_str(), name, value, sizeof(value));
  if (n < 0) return ErrnoText(errno);
  return std::string(value, n);
}

// B had asked for the attribute and been told it has none (its mount then
// answers such probes itself), and had listed none: a set and a remove on
// A show on B within the bound.
TEST_F(CoherenceTest, ExtendedAttributeSetAndRemoved) {
  ASSERT_EQ(WriteFile(A("f"), "xattrs"), absl::OkStatus());
  const std::vector<std::string> names = {"f"};
  ASSERT_NO_FATAL_FAILURE(Prime(names));
  ASSERT_EQ(XattrOf(B("f"), "user.a"), ErrnoText(ENODATA));
  ASSERT_EQ(listxattr(B("f").c_str(), nullptr, 0), 0);

  ASSERT_EQ(setxattr(A("f").c_str(), "user.a", "set on A", 8, 0), 0)
      << strerror(errno);
  absl::Time changed = absl::Now();
  EXPECT_EQ(PollUntil([&] { return XattrOf(B("f"), "user.a"); },
                      std::string("set on A"), changed + kBound),
            "set on A");
  EXPECT_EQ(listxattr(B("f").c_str(), nullptr, 0), 7);

  ASSERT_EQ(removexattr(A("f").c_str(), "user.a"), 0) << strerror(errno);
  changed = absl::Now();
  EXPECT_EQ(PollUntil([&] { return XattrOf(B("f"), "user.a"); },
                      ErrnoText(ENODATA), changed + kBound),
            ErrnoText(ENODATA));
}

// The kernel enforces a POSIX ACL from its cache of it. Nobody, refused
// through B, may read once A grants it, and is refused again once A's chmod
// masks the grant: B's kernel forgets its cached ACL with the invalidation.
TEST_F(CoherenceTest, AclGrantedAndMaskedOnA) {
  ASSERT_EQ(WriteFile(A("f"), "for nobody"), absl::OkStatus());
  ASSERT_EQ(chmod(A("f").c_str(), 0600), 0);
  auto nobody_opens = [&] {
    return ::rbfs::testing::RunAsNobody(b_, [] {
      const int fd = open("f", O_RDONLY);
      if (fd < 0) return errno;
      close(fd);
      return 0;
    });
  };
  ASSERT_EQ(nobody_opens(), EACCES);

  ASSERT_EQ(::rbfs::testing::RunProgram({"setfacl", "-m", "u:nobody:r", A("f")})
                .exit_code,
            0);
  absl::Time changed = absl::Now();
  EXPECT_EQ(PollUntil(nobody_opens, 0, changed + kBound), 0);

  ASSERT_EQ(chmod(A("f").c_str(), 0600), 0);
  changed = absl::Now();
  EXPECT_EQ(PollUntil(nobody_opens, EACCES, changed + kBound), EACCES);
}

TEST_F(CoherenceTest, Utimensat) {
  ASSERT_EQ(WriteFile(A("f"), "times"), absl::OkStatus());
  const std::vector<std::string> names = {"f"};
  ASSERT_NO_FATAL_FAILURE(Prime(names));
  // atime after ctime (now) and mtime, so that B's reads leave it alone
  // (relatime) and it can be compared exactly.
  const timespec times[2] = {
      {absl::ToUnixSeconds(absl::Now()) + 3600, 111111111},
      {1300000000, 222222222}};
  ASSERT_EQ(utimensat(AT_FDCWD, A("f").c_str(), times, 0), 0)
      << strerror(errno);
  const absl::Time changed = absl::Now();
  struct stat st;
  ASSERT_EQ(lstat(A("f").c_str(), &st), 0);
  EXPECT_EQ(TimeText(st.st_atim), TimeText(times[0]));
  EXPECT_EQ(TimeText(st.st_mtim), TimeText(times[1]));
  ExpectBCatchesUp(names, changed, /*with_atime=*/true);
}

TEST_F(CoherenceTest, SharedMmapWriteAndMsyncReachB) {
  constexpr size_t kBytes = 64 * kPage;
  ASSERT_EQ(WriteFile(A("mapped"), Pattern(4, kBytes)), absl::OkStatus());
  ASSERT_NO_FATAL_FAILURE(Prime({"mapped"}));

  const int fd = open(A("mapped").c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << strerror(errno);
  void* map = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(map, MAP_FAILED)
      << "shared mmap in the default mode: " << strerror(errno);
  const std::string data = Pattern(5, kBytes);
  memcpy(map, data.data(), kBytes);
  ASSERT_EQ(msync(map, kBytes, MS_SYNC), 0) << strerror(errno);
  const absl::Time changed = absl::Now();
  // A still has the file mapped and open: msync alone must publish it.
  ExpectBReads("mapped", data, changed);

  // B's own shared mapping shows the same bytes.
  const int b_fd = open(B("mapped").c_str(), O_RDONLY);
  ASSERT_GE(b_fd, 0);
  void* b_map = mmap(nullptr, kBytes, PROT_READ, MAP_SHARED, b_fd, 0);
  ASSERT_NE(b_map, MAP_FAILED) << strerror(errno);
  EXPECT_EQ(DataText(std::string(static_cast<char*>(b_map), kBytes)),
            DataText(data));
  munmap(b_map, kBytes);
  close(b_fd);
  munmap(map, kBytes);
  ASSERT_EQ(close(fd), 0);
}

// The writeback cache's trap: a partial-page write through a write-only
// descriptor makes the kernel read the rest of the page, which a handle
// opened write-only cannot do. Done on B, whose cache never held the file,
// so the kernel must fetch those pages.
TEST_F(CoherenceTest, WriteOnlyPartialPageWritesKeepTheRestOfThePage) {
  // The last page is partial, so the append below lands in one too.
  const std::string old_data = Pattern(6, 3 * kPage - 300);
  ASSERT_EQ(WriteFile(A("f"), old_data), absl::OkStatus());
  const std::string patch = "PATCHED";
  const std::string tail = Pattern(7, 100);
  std::string want = old_data;
  want.replace(kPage + 1000, patch.size(), patch);
  want += tail;

  const int fd = open(B("f").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(pwrite(fd, patch.data(), patch.size(), kPage + 1000),
            static_cast<ssize_t>(patch.size()))
      << strerror(errno);
  ASSERT_EQ(close(fd), 0);
  ASSERT_EQ(WriteFile(B("f"), tail, O_WRONLY | O_APPEND), absl::OkStatus());
  const absl::Time changed = absl::Now();

  EXPECT_EQ(DataText(ReadDirect(B("f"))), DataText(want))
      << "what the server holds";
  EXPECT_EQ(DataText(ReadFile(B("f"))), DataText(want)) << "B's page cache";
  EXPECT_EQ(PollUntil([&] { return DataText(ReadFile(A("f"))); },
                      DataText(want), changed + kBound),
            DataText(want))
      << "A, which had the old pages";
}

// O_APPEND under the writeback cache: the kernel, not the server, picks the
// offset, and two appenders on one mount must not overwrite or tear each
// other's records.
TEST_F(CoherenceTest, ConcurrentAppendsOnOneMountAreWholeRecords) {
  constexpr int kWriters = 2;
  constexpr int kRecords = 400;
  constexpr size_t kRecordBytes = 100;  // records straddle page boundaries
  ASSERT_NO_FATAL_FAILURE(Prime({"log"}));
  auto record = [](int writer, int index) {
    std::string r = absl::StrFormat("writer %d record %05d ", writer, index);
    r.resize(kRecordBytes - 1, static_cast<char>('a' + writer));
    return r + "\n";
  };
  std::vector<int> fds;
  for (int w = 0; w < kWriters; ++w) {
    fds.push_back(open(A("log").c_str(), O_CREAT | O_WRONLY | O_APPEND, 0644));
    ASSERT_GE(fds.back(), 0) << strerror(errno);
  }
  std::vector<int> errors(kWriters, 0);
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kRecords && errors[w] == 0; ++i) {
        const std::string r = record(w, i);
        if (write(fds[w], r.data(), r.size()) !=
            static_cast<ssize_t>(r.size())) {
          errors[w] = errno ? errno : EIO;
        }
      }
    });
  }
  for (std::thread& t : writers) t.join();
  for (int w = 0; w < kWriters; ++w) {
    EXPECT_EQ(errors[w], 0) << "writer " << w << ": " << strerror(errors[w]);
    EXPECT_EQ(close(fds[w]), 0);
  }
  const absl::Time changed = absl::Now();

  absl::StatusOr<std::string> log = ReadDirect(A("log"));
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->size(), kWriters * kRecords * kRecordBytes);
  std::vector<int> next(kWriters, 0);
  for (size_t offset = 0; offset < log->size(); offset += kRecordBytes) {
    const std::string r = log->substr(offset, kRecordBytes);
    int writer = -1;
    for (int w = 0; w < kWriters; ++w) {
      if (next[w] < kRecords && r == record(w, next[w])) writer = w;
    }
    ASSERT_GE(writer, 0) << "torn or out-of-order record at " << offset << ": "
                         << absl::CHexEscape(r);
    ++next[writer];
  }
  ExpectBCatchesUp({"log"}, changed);
}

// Runs `requests` ((offset, size) into `image`, which mirrors the file) on
// `fd` with libaio, up to `depth` in flight at once; returns each one's
// result (bytes or -errno; 0 if it never completed).
std::vector<long> RunLibaio(
    int fd, bool write, char* image,
    const std::vector<std::pair<off_t, size_t>>& requests, size_t depth) {
  std::vector<long> results(requests.size(), 0);
  io_context_t ctx = nullptr;
  if (io_setup(static_cast<int>(depth), &ctx) != 0) return results;
  std::vector<iocb> iocbs(requests.size());
  size_t next = 0;
  size_t in_flight = 0;
  size_t max_in_flight = 0;
  while (next < requests.size() || in_flight > 0) {
    while (in_flight < depth && next < requests.size()) {
      const auto [offset, size] = requests[next];
      iocb* cb = &iocbs[next];
      if (write) {
        io_prep_pwrite(cb, fd, image + offset, size, offset);
      } else {
        io_prep_pread(cb, fd, image + offset, size, offset);
      }
      cb->data = reinterpret_cast<void*>(next);
      iocb* list[1] = {cb};
      const int submitted = io_submit(ctx, 1, list);
      if (submitted != 1) results[next] = submitted < 0 ? submitted : -EIO;
      in_flight += submitted == 1;
      max_in_flight = std::max(max_in_flight, in_flight);
      ++next;
    }
    if (in_flight == 0) break;
    io_event events[64];
    timespec timeout = {30, 0};
    const int n = io_getevents(ctx, 1, 64, events, &timeout);
    if (n <= 0) break;  // nothing completed within 30 s
    for (int i = 0; i < n; ++i) {
      results[reinterpret_cast<size_t>(events[i].data)] =
          static_cast<long>(events[i].res);
    }
    in_flight -= n;
  }
  io_destroy(ctx);
  EXPECT_EQ(max_in_flight, std::min(depth, requests.size()))
      << "libaio never had the full queue depth in flight";
  return results;
}

TEST_F(CoherenceTest, DirectIoWithLibaioAtDepth16) {
  constexpr size_t kDepth = 16;
  // Not a multiple of the 1 MiB request size, so requests cross chunk
  // boundaries.
  constexpr size_t kRequest = 256 * 1024 + 3 * kPage;
  constexpr size_t kRequests = 48;
  constexpr size_t kFileBytes = kRequest * kRequests;
  ASSERT_NO_FATAL_FAILURE(Prime({"direct"}));

  const int fd = open(A("direct").c_str(), O_CREAT | O_RDWR | O_DIRECT, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  // Sized first: the kernel makes size-extending direct writes synchronous.
  ASSERT_EQ(ftruncate(fd, kFileBytes), 0);
  AlignedBuffer written(kFileBytes + kRequest);
  PatternFill(8, 0, written.data, written.size);
  std::vector<std::pair<off_t, size_t>> requests;
  // Out of order, so that completions interleave.
  for (size_t i = 0; i < kRequests; ++i) {
    requests.push_back(
        {static_cast<off_t>(((i * 7) % kRequests) * kRequest), kRequest});
  }
  std::vector<long> results =
      RunLibaio(fd, /*write=*/true, written.data, requests, kDepth);
  for (size_t i = 0; i < kRequests; ++i) {
    ASSERT_EQ(results[i], static_cast<long>(kRequest))
        << "write " << i << ": "
        << (results[i] < 0 ? strerror(-results[i]) : "short");
  }
  AlignedBuffer read_back(kFileBytes + kRequest);
  results = RunLibaio(fd, /*write=*/false, read_back.data, requests, kDepth);
  for (size_t i = 0; i < kRequests; ++i) {
    ASSERT_EQ(results[i], static_cast<long>(kRequest)) << "read " << i;
  }
  EXPECT_EQ(memcmp(read_back.data, written.data, kFileBytes), 0);

  // One more past the end: the size moves exactly to its end, once it
  // completed.
  results =
      RunLibaio(fd, /*write=*/true, written.data, {{kFileBytes, kRequest}}, 1);
  ASSERT_EQ(results[0], static_cast<long>(kRequest));
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, static_cast<off_t>(kFileBytes + kRequest));
  ASSERT_EQ(close(fd), 0);
  const absl::Time changed = absl::Now();

  const std::string want(written.data, kFileBytes + kRequest);
  EXPECT_EQ(DataText(ReadDirect(A("direct"))), DataText(want));
  ExpectBReads("direct", want, changed);
}

// --- The stream cut under B ---------------------------------------------

std::unique_ptr<RbfsCluster> StartCluster() {
  absl::StatusOr<std::unique_ptr<RbfsCluster>> cluster =
      RbfsCluster::Start({""});
  EXPECT_TRUE(cluster.ok()) << cluster.status();
  return cluster.ok() ? *std::move(cluster) : nullptr;
}

// B's Watch stream works: a change on A shows on B within kBound, with
// B's attributes of the file looked at just before. Once by chance a
// timeout may explain it (B's entry expired just then and was fetched
// again), but not twice in a row: the fetch makes the entry good for at
// least the fallback timeout, 1 s. So this tries for `reconnect` until
// kInARow changes in a row showed at once.
void ExpectStreamBack(const std::string& a_path, const std::string& b_path,
                      absl::Duration reconnect) {
  constexpr int kInARow = 3;
  int mode = 0400;
  auto change_shows_at_once = [&] {
    mode = mode == 0477 ? 0401 : mode + 1;
    ModeOf(b_path);
    if (chmod(a_path.c_str(), mode) != 0) return false;
    const absl::Time changed = absl::Now();
    return PollUntil([&] { return ModeOf(b_path); }, mode, changed + kBound) ==
           mode;
  };
  int in_a_row = 0;
  // A streak under way runs to its end: each step ends within kBound.
  for (const absl::Time until = absl::Now() + reconnect;
       in_a_row < kInARow && (in_a_row > 0 || absl::Now() < until);) {
    in_a_row = change_shows_at_once() ? in_a_row + 1 : 0;
  }
  EXPECT_EQ(in_a_row, kInARow)
      << "for " << reconnect << " changes on A did not show on B within "
      << kBound << " " << kInARow << " times in a row: B's stream is not back";
}

TEST(CoherenceStreamCutTest, ServerRestart) {
  std::unique_ptr<RbfsCluster> cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  absl::StatusOr<std::string> b = cluster->AddClient("b", "");
  ASSERT_TRUE(b.ok()) << b.status();
  const std::string a_path = cluster->Path("file");
  const std::string b_path = absl::StrCat(*b, "/file");
  ASSERT_EQ(WriteFile(a_path, "before the restart"), absl::OkStatus());
  ExpectStreamBack(a_path, b_path, kStreamUp);

  ASSERT_EQ(cluster->StopServer(SIGTERM), absl::OkStatus());
  ASSERT_EQ(cluster->StartServer(), absl::OkStatus());
  ASSERT_EQ(chmod(a_path.c_str(), 0640), 0) << strerror(errno);
  const absl::Time changed = absl::Now();
  EXPECT_EQ(PollUntil([&] { return ModeOf(b_path); }, 0640,
                      changed + kRestartReconnect),
            0640)
      << "B after the server restart";
  ExpectStreamBack(a_path, b_path, kRestartReconnect);
}

// This thread's scheduler state, from /proc ('R' running, 'S'/'D' asleep).
char TaskState(pid_t tid) {
  absl::StatusOr<std::string> stat =
      ReadFile(absl::StrCat("/proc/self/task/", tid, "/stat"));
  if (!stat.ok()) return '?';
  // "tid (comm) S ...": the state follows the last ')'.
  const size_t paren = stat->rfind(')');
  return paren + 2 < stat->size() ? (*stat)[paren + 2] : '?';
}

TEST(CoherenceStreamCutTest, NetworkPartition) {
  // Declared first, destroyed last: B talks through it until it unmounts.
  std::unique_ptr<testing::TcpProxy> proxy;
  std::unique_ptr<RbfsCluster> cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  absl::StatusOr<std::unique_ptr<testing::TcpProxy>> started =
      testing::TcpProxy::Start(cluster->ServerAddress());
  ASSERT_TRUE(started.ok()) << started.status();
  proxy = *std::move(started);
  // Soft, so that an operation B cannot get through fails after a bounded
  // time instead of hanging the test.
  constexpr absl::Duration kDeadline = absl::Seconds(5);
  absl::StatusOr<std::string> b = cluster->AddClientAt(
      "b", absl::StrCat("soft,deadline=", absl::ToInt64Seconds(kDeadline)),
      proxy->address());
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_GT(proxy->accepted(), 0) << "B does not go through the proxy";
  const std::string a_path = cluster->Path("file");
  const std::string b_path = absl::StrCat(*b, "/file");
  ASSERT_EQ(WriteFile(a_path, "partitioned"), absl::OkStatus());
  ExpectStreamBack(a_path, b_path, kStreamUp);
  // B has the current mode cached: that is what must not outlive the bound.
  const int old_mode = ModeOf(a_path);
  ASSERT_EQ(PollUntil([&] { return ModeOf(b_path); }, old_mode,
                      absl::Now() + kStreamUp),
            old_mode);

  proxy->Freeze();
  const absl::Time frozen = absl::Now();
  constexpr int kNewMode = 0640;
  ASSERT_NE(old_mode, kNewMode);
  ASSERT_EQ(chmod(a_path.c_str(), kNewMode), 0) << strerror(errno);
  // The documented bound: by now B knows its stream is gone and has dropped
  // what it cached, so it must ask the server.
  absl::SleepFor(frozen + kCutBound - absl::Now());

  std::atomic<pid_t> tid{0};
  std::atomic<int> seen{0};
  absl::Notification done;
  std::thread stat_on_b([&] {
    tid = gettid();
    seen = ModeOf(b_path);
    done.Notify();
  });
  // Asleep in the kernel means waiting for rbfs-mount, which waits for the
  // server: the stat started during the partition.
  const absl::Time until = absl::Now() + absl::Seconds(1);
  bool waiting = false;
  while (!done.HasBeenNotified() && !waiting && absl::Now() < until) {
    const char state = tid != 0 ? TaskState(tid) : 'R';
    waiting = state == 'S' || state == 'D';
    if (!waiting) absl::SleepFor(kPollStep);
  }
  EXPECT_TRUE(waiting || done.HasBeenNotified());
  proxy->Thaw();
  const bool finished =
      done.WaitForNotificationWithTimeout(kDeadline + absl::Seconds(5));
  // The soft mount's deadline ends the stat in any case.
  stat_on_b.join();
  ASSERT_TRUE(finished) << "the stat on B outlived the soft deadline";
  EXPECT_NE(seen, old_mode) << "B showed the mode from before the partition "
                            << kCutBound << " after it began";
  EXPECT_EQ(seen, kNewMode);

  ExpectStreamBack(a_path, b_path, kStreamUp);
}

}  // namespace
}  // namespace rbfs
