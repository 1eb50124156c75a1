#include "client/fuse/fuse_metrics.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testing/prometheus_text.h"

namespace rbfs {
namespace {

TEST(FuseMetricsTest, EveryOperationHasItsOwnSeriesFromTheStart) {
  FuseMetrics metrics;
  MetricsRegistry registry;
  metrics.Export(&registry);
  absl::StatusOr<testing::Exposition> exposed =
      testing::ParseExposition(registry.Exposition());
  ASSERT_TRUE(exposed.ok()) << exposed.status();
  EXPECT_EQ(exposed->types.at("rbfs_mount_fuse_request_seconds"), "histogram");
  EXPECT_EQ(exposed->types.at("rbfs_mount_kernel_invalidations_total"),
            "counter");
  std::set<std::string> names;
  for (int op = 0; op < FuseMetrics::kOpCount; ++op) {
    const std::string name(FuseMetrics::Name(static_cast<FuseMetrics::Op>(op)));
    EXPECT_TRUE(names.insert(name).second) << name << " named twice";
    EXPECT_EQ(exposed->Value(absl::StrCat(
                  "rbfs_mount_fuse_request_seconds_count{op=\"", name, "\"}")),
              0)
        << name;
  }
}

TEST(FuseMetricsTest, ARequestCountsUnderItsOperationOnly) {
  FuseMetrics metrics;
  MetricsRegistry registry;
  metrics.Export(&registry);
  metrics.Record(FuseMetrics::kWrite, absl::Microseconds(300));
  metrics.Record(FuseMetrics::kWrite, absl::Milliseconds(3));
  metrics.Record(FuseMetrics::kLookup, absl::Microseconds(20));
  metrics.data_invalidations().Add();
  absl::StatusOr<testing::Exposition> exposed =
      testing::ParseExposition(registry.Exposition());
  ASSERT_TRUE(exposed.ok()) << exposed.status();
  EXPECT_EQ(
      exposed->Value("rbfs_mount_fuse_request_seconds_count{op=\"write\"}"), 2);
  EXPECT_NEAR(
      exposed->Value("rbfs_mount_fuse_request_seconds_sum{op=\"write\"}"),
      0.0033, 1e-9);
  // 300 µs is above the 250 µs bound, 3 ms above 2.5 ms.
  EXPECT_EQ(exposed->Value(
                "rbfs_mount_fuse_request_seconds_bucket{op=\"write\",le=\"0."
                "00025\"}"),
            0);
  EXPECT_EQ(exposed->Value("rbfs_mount_fuse_request_seconds_bucket{op="
                           "\"write\",le=\"0.0005\"}"),
            1);
  EXPECT_EQ(
      exposed->Value("rbfs_mount_fuse_request_seconds_count{op=\"lookup\"}"),
      1);
  EXPECT_EQ(
      exposed->Value("rbfs_mount_fuse_request_seconds_count{op=\"read\"}"), 0);
  EXPECT_EQ(
      exposed->Value("rbfs_mount_kernel_invalidations_total{kind=\"data\"}"),
      1);
  EXPECT_EQ(
      exposed->Value("rbfs_mount_kernel_invalidations_total{kind=\"entry\"}"),
      0);
}

}  // namespace
}  // namespace rbfs
