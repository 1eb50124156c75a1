#include "common/metrics/metrics.h"

#include <httplib.h>

#include <string>

#include "common/metrics/metrics_http_server.h"
#include "gtest/gtest.h"
#include "testing/prometheus_text.h"

namespace rbfs {
namespace {

TEST(MetricsTest, WritesTheTextFormatExactly) {
  MetricsRegistry registry;
  registry.GetCounter("rbfs_calls_total", "Calls.", {{"method", "Read"}})
      ->Add(3);
  registry.GetCounter("rbfs_calls_total", "Calls.", {{"method", "Wr\"ite"}})
      ->Add();
  registry.AddGauge("rbfs_blocks_free", "Free\nblocks.", [] { return 7.5; });
  Histogram* h =
      registry.GetHistogram("rbfs_latency_seconds", "Latency.", {0.001, 0.1});
  h->Observe(0.0005);
  h->Observe(0.05);
  h->Observe(3);
  EXPECT_EQ(registry.Exposition(),
            "# HELP rbfs_blocks_free Free\\nblocks.\n"
            "# TYPE rbfs_blocks_free gauge\n"
            "rbfs_blocks_free 7.5\n"
            "# HELP rbfs_calls_total Calls.\n"
            "# TYPE rbfs_calls_total counter\n"
            "rbfs_calls_total{method=\"Read\"} 3\n"
            "rbfs_calls_total{method=\"Wr\\\"ite\"} 1\n"
            "# HELP rbfs_latency_seconds Latency.\n"
            "# TYPE rbfs_latency_seconds histogram\n"
            "rbfs_latency_seconds_bucket{le=\"0.001\"} 1\n"
            "rbfs_latency_seconds_bucket{le=\"0.1\"} 2\n"
            "rbfs_latency_seconds_bucket{le=\"+Inf\"} 3\n"
            "rbfs_latency_seconds_sum 3.0505\n"
            "rbfs_latency_seconds_count 3\n");
}

// As Prometheus' own clients write them: small bounds without an exponent,
// large counts in full.
TEST(MetricsTest, NumbersAreWrittenAsPrometheusWritesThem) {
  MetricsRegistry registry;
  registry.GetCounter("rbfs_bytes_total", "Bytes.")->Add(123456789012);
  registry.GetHistogram("rbfs_s", "S.", {0.00005, 0.0005, 2.5})->Observe(1e-6);
  const std::string text = registry.Exposition();
  EXPECT_NE(text.find("rbfs_bytes_total 123456789012\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("rbfs_s_bucket{le=\"5e-05\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("rbfs_s_bucket{le=\"0.0005\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("rbfs_s_bucket{le=\"2.5\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("rbfs_s_sum 1e-06\n"), std::string::npos) << text;
}

// Series kept by their owners are read at each scrape.
TEST(MetricsTest, CountersAndHistogramsKeptElsewhereAreReadAtTheScrape) {
  Counter kept;
  Histogram latency({0.1});
  MetricsRegistry registry;
  registry.AddCounter("rbfs_kept_total", "Kept.", &kept, {{"kind", "a"}});
  registry.AddHistogram("rbfs_kept_seconds", "Kept.", &latency);
  kept.Add(4);
  latency.Observe(0.05);
  latency.Observe(2);
  EXPECT_EQ(latency.count(), 2u);
  absl::StatusOr<testing::Exposition> parsed =
      testing::ParseExposition(registry.Exposition());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->types.at("rbfs_kept_total"), "counter");
  EXPECT_EQ(parsed->Value("rbfs_kept_total{kind=\"a\"}"), 4);
  EXPECT_EQ(parsed->Value("rbfs_kept_seconds_count"), 2);
}

TEST(MetricsTest, TheParserAcceptsWhatTheRegistryWritesAndRefusesDamage) {
  MetricsRegistry registry;
  registry
      .GetHistogram("rbfs_op_seconds", "Ops.", LatencyBuckets(),
                    {{"op", "write"}})
      ->ObserveDuration(absl::Milliseconds(2));
  registry.GetCounter("rbfs_bytes_total", "Bytes.")->Add(4096);
  absl::StatusOr<testing::Exposition> parsed =
      testing::ParseExposition(registry.Exposition());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->types.at("rbfs_op_seconds"), "histogram");
  EXPECT_EQ(parsed->Value("rbfs_bytes_total"), 4096);
  EXPECT_EQ(parsed->Value("rbfs_op_seconds_bucket{op=\"write\",le=\"0.0025\"}"),
            1);
  EXPECT_EQ(parsed->Total("rbfs_op_seconds"), 1);

  EXPECT_FALSE(testing::ParseExposition("rbfs_x 1\n").ok()) << "undeclared";
  EXPECT_FALSE(testing::ParseExposition("# HELP a A.\n# TYPE a counter\n"
                                        "a{b=\"1} 2\n")
                   .ok());
  EXPECT_FALSE(
      testing::ParseExposition("# HELP h H.\n# TYPE h histogram\n"
                               "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                               "h_sum 1\nh_count 1\n")
          .ok())
      << "not cumulative";
  EXPECT_FALSE(
      testing::ParseExposition("# HELP h H.\n# TYPE h histogram\n"
                               "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n")
          .ok())
      << "count differs";
}

TEST(MetricsTest, ServesTheExpositionOverHttp) {
  MetricsRegistry registry;
  Counter* c = registry.GetCounter("rbfs_scrapes_total", "Scrapes.");
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
      MetricsHttpServer::Start("127.0.0.1", 0, &registry);
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->port());
  c->Add(2);
  httplib::Result got = client.Get("/metrics");
  ASSERT_TRUE(got) << httplib::to_string(got.error());
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->get_header_value("Content-Type"),
            "text/plain; version=0.0.4; charset=utf-8");
  absl::StatusOr<testing::Exposition> parsed =
      testing::ParseExposition(got->body);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Value("rbfs_scrapes_total"), 2);
  EXPECT_EQ(client.Get("/other")->status, 404);
}

// Two mounts given the same port: the second is told, instead of sharing
// the port so that scrapes reach either at random.
TEST(MetricsTest, APortInUseFailsTheStart) {
  MetricsRegistry registry;
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> first =
      MetricsHttpServer::Start("127.0.0.1", 0, &registry);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> second =
      MetricsHttpServer::Start("127.0.0.1", (*first)->port(), &registry);
  EXPECT_FALSE(second.ok());
  EXPECT_TRUE(absl::IsUnavailable(second.status())) << second.status();
}

}  // namespace
}  // namespace rbfs
