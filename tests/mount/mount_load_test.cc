// Load, short form: four mounts of one server, sixteen threads
// each, mixed I/O for a few seconds, every byte checked, close-to-open
// consistency across mounts (two of them with the page cache). The long
// form is tools/reliability/rbfs_load (--duration).
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "testing/load_workload.h"
#include "testing/mount_fixture.h"

namespace rbfs {
namespace {

TEST(MountLoadTest, FourMountsSixteenThreadsEachEveryByteChecked) {
  absl::StatusOr<std::unique_ptr<RbfsCluster>> cluster = RbfsCluster::Start({});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  LoadOptions options;
  options.mounts.push_back((*cluster)->mountpoint());
  const std::vector<std::string> extra = {"cache=auto", "", "cache=auto"};
  for (size_t i = 0; i < extra.size(); ++i) {
    absl::StatusOr<std::string> mount =
        (*cluster)->AddClient(absl::StrCat("client", i + 1), extra[i]);
    ASSERT_TRUE(mount.ok()) << mount.status();
    options.mounts.push_back(*mount);
  }
  options.threads_per_mount = 16;
  options.duration = absl::Seconds(8);
  options.seed = 6;
  const LoadResult result = RunLoad(options);
  EXPECT_TRUE(result.errors.empty()) << absl::StrJoin(result.errors, "\n");
  EXPECT_GT(result.operations, 0u);
  EXPECT_GT(result.bytes_verified, 0u);
  EXPECT_GT(result.slot_reads, 0u);
  EXPECT_GT(result.handoffs, 0u);
  std::printf(
      "operations %llu, written %llu bytes, verified %llu bytes, %llu "
      "close-to-open reads, %llu hand-offs\n",
      static_cast<unsigned long long>(result.operations),
      static_cast<unsigned long long>(result.bytes_written),
      static_cast<unsigned long long>(result.bytes_verified),
      static_cast<unsigned long long>(result.slot_reads),
      static_cast<unsigned long long>(result.handoffs));
}

}  // namespace
}  // namespace rbfs
