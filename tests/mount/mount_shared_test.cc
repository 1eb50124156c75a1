// Two servers serving one volume at once (issue 18, --etcd-shared: the
// metadata in a loopback etcd, the volume one file both open), a mount on
// each (the fixture's A on the first server, B on the second): files
// written through both at the same time come from different allocation
// groups and read back whole through the other mount; a seeded churn of
// creates, renames and unlinks through both leaves one namespace that both
// list alike; and afterwards the offline check finds the volume clean.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/file_contents.h"
#include "gtest/gtest.h"
#include "testing/mount_fixture.h"
#include "testing/process.h"
#include "testing/test_data.h"

namespace rbfs {
namespace {

// How long a change through one server may take to show through the other
// (its change feed and the mount's invalidation).
constexpr absl::Duration kBound = absl::Seconds(10);

class MountSharedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The environment sets RBFS_TEST_META_ON_ETCD and
    // RBFS_TEST_SHARED_SERVERS.
    RbfsCluster::Options options;
    options.volume_bytes = uint64_t{1} << 30;
    absl::StatusOr<std::unique_ptr<RbfsCluster>> cluster =
        RbfsCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    ASSERT_NE(cluster_->second_server(), nullptr) << "one server only";
    absl::StatusOr<std::string> b = cluster_->AddClient("b", "");
    ASSERT_TRUE(b.ok()) << b.status();
    a_ = cluster_->mountpoint();
    b_ = *b;
  }

  // Stops both servers and checks the volume offline.
  void ExpectCheckClean() {
    ASSERT_TRUE(cluster_->StopServer(SIGTERM).ok());
    ASSERT_TRUE(cluster_->second_server()->Stop().ok());
    const testing::ProgramResult check = testing::RunProgram(
        {testing::RunfilePath("server/rbfs-server"), "--check",
         "--data=" + cluster_->data_dir(),
         "--etcd-endpoints=" + cluster_->etcd()->endpoint()});
    EXPECT_EQ(check.exit_code, 0) << check.output;
    EXPECT_NE(check.output.find("clean: "), std::string::npos) << check.output;
  }

  std::unique_ptr<RbfsCluster> cluster_;
  std::string a_;
  std::string b_;
};

std::string Pattern(uint64_t seed, size_t size) {
  std::string data(size, '\0');
  PatternFill(seed, 0, data.data(), size);
  return data;
}

void WriteWhole(const std::string& path, const std::string& data) {
  const int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << path << ": " << strerror(errno);
  ASSERT_EQ(write(fd, data.data(), data.size()),
            static_cast<ssize_t>(data.size()))
      << strerror(errno);
  ASSERT_EQ(fsync(fd), 0) << strerror(errno);
  ASSERT_EQ(close(fd), 0);
}

TEST_F(MountSharedTest, WritersThroughBothServersNeverShareABlock) {
  constexpr int kFiles = 6;
  constexpr size_t kBytes = 3 << 20;
  // Each server claims an allocation group of its own for its files.
  std::thread through_a([&] {
    for (int i = 0; i < kFiles; ++i) {
      WriteWhole(absl::StrCat(a_, "/a", i), Pattern(100 + i, kBytes));
    }
  });
  std::thread through_b([&] {
    for (int i = 0; i < kFiles; ++i) {
      WriteWhole(absl::StrCat(b_, "/b", i), Pattern(200 + i, kBytes));
    }
  });
  through_a.join();
  through_b.join();
  for (int i = 0; i < kFiles; ++i) {
    absl::StatusOr<std::string> a_file =
        ReadFileContents(absl::StrCat(b_, "/a", i));
    ASSERT_TRUE(a_file.ok()) << a_file.status();
    EXPECT_TRUE(*a_file == Pattern(100 + i, kBytes)) << "a" << i;
    absl::StatusOr<std::string> b_file =
        ReadFileContents(absl::StrCat(a_, "/b", i));
    ASSERT_TRUE(b_file.ok()) << b_file.status();
    EXPECT_TRUE(*b_file == Pattern(200 + i, kBytes)) << "b" << i;
  }
  EXPECT_NE(cluster_->ServerLog().find("allocating from group"),
            std::string::npos);
  EXPECT_NE(cluster_->second_server()->Log().find("allocating from group"),
            std::string::npos);

  // An overwrite through A shows through B, whose kernel cached the old
  // bytes: the second server's feed told B's mount.
  const std::string newer = Pattern(300, kBytes);
  WriteWhole(a_ + "/a0", newer);
  const absl::Time deadline = absl::Now() + kBound;
  absl::StatusOr<std::string> seen = ReadFileContents(b_ + "/a0");
  while ((!seen.ok() || *seen != newer) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    seen = ReadFileContents(b_ + "/a0");
  }
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_TRUE(*seen == newer) << "B still reads the old bytes";
  ExpectCheckClean();
}

// The names in `dir`, sorted.
std::set<std::string> Names(const std::string& dir) {
  std::set<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

TEST_F(MountSharedTest, AChurnThroughBothServersLeavesOneNamespace) {
  ASSERT_EQ(mkdir((a_ + "/d0").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((a_ + "/d1").c_str(), 0755), 0);
  constexpr int kSteps = 300;
  auto churn = [](const std::string& root, uint32_t seed) {
    std::mt19937 random(seed);
    for (int step = 0; step < kSteps; ++step) {
      const std::string dir = absl::StrCat(root, "/d", random() % 2);
      const std::string other = absl::StrCat(root, "/d", random() % 2);
      const std::string name = absl::StrCat(dir, "/f", random() % 16);
      const std::string to = absl::StrCat(other, "/f", random() % 16);
      switch (random() % 3) {
        case 0: {
          const int fd = open(name.c_str(), O_CREAT | O_WRONLY, 0644);
          if (fd >= 0) close(fd);
          break;
        }
        case 1:
          rename(name.c_str(), to.c_str());
          break;
        default:
          unlink(name.c_str());
      }
    }
  };
  std::thread through_a([&] { churn(a_, 1); });
  std::thread through_b([&] { churn(b_, 2); });
  through_a.join();
  through_b.join();
  for (const char* dir : {"/d0", "/d1"}) {
    const std::set<std::string> through_a_names = Names(a_ + dir);
    const absl::Time deadline = absl::Now() + kBound;
    std::set<std::string> through_b_names = Names(b_ + dir);
    while (through_b_names != through_a_names && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
      through_b_names = Names(b_ + dir);
    }
    EXPECT_EQ(through_b_names, through_a_names) << dir;
  }
  ExpectCheckClean();
}

}  // namespace
}  // namespace rbfs
