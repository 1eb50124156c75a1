// A parser of the Prometheus text exposition format for tests: it checks the
// structure a scraper relies on (each family's HELP and TYPE before its
// samples and only once, samples of declared families only, well-formed
// labels and numbers; for histograms, buckets cumulative and ending at
// le="+Inf" equal to _count) and gives the samples by series. Also the
// scrape of an endpoint, found through the log line that names it.
#ifndef RBFS_TESTING_PROMETHEUS_TEXT_H_
#define RBFS_TESTING_PROMETHEUS_TEXT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rbfs::testing {

struct Exposition {
  // Family name -> "counter", "gauge", "histogram".
  std::map<std::string, std::string> types;
  // Series as written, `name{a="1",le="+Inf"}` (labels in their order), or
  // just `name` -> its value.
  std::map<std::string, double> samples;

  // The value of `series`, or -1 when absent.
  double Value(const std::string& series) const;
  // The sum over every series of family `name` (for histograms: of its
  // _count series).
  double Total(const std::string& name) const;
};

absl::StatusOr<Exposition> ParseExposition(absl::string_view text);

// The metric families `text` (a Grafana dashboard's JSON, say) names: each
// word starting "rbfs_", a histogram's _bucket, _sum and _count series
// given as the family `exposed` declares, in order of appearance.
std::vector<std::string> FamiliesNamedIn(absl::string_view text,
                                         const Exposition& exposed);

// GET http://127.0.0.1:`port`/metrics, parsed.
absl::StatusOr<Exposition> ScrapeMetrics(int port);

// The port of the "metrics on http://127.0.0.1:PORT/metrics" line that
// rbfs-server and rbfs-mount log, or -1 when `log` has none.
int MetricsPortInLog(absl::string_view log);

}  // namespace rbfs::testing

#endif  // RBFS_TESTING_PROMETHEUS_TEXT_H_
