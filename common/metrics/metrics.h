// Metrics in the Prometheus text exposition format (version 0.0.4).
//
// Debian 12 has no prometheus-cpp, so this is the small part of it rbfs
// needs: counters and histograms, each a named family whose series differ
// by their labels, and gauges read by a callback when scraped. A
// MetricsRegistry owns them; Exposition() writes every family once, with
// its HELP and TYPE lines, series in label order, histograms as cumulative
// `_bucket{le="..."}` series ending at `le="+Inf"`, then `_sum` and
// `_count`.
//
// Recording is lock-free (atomics): a Counter or Histogram is looked up
// once and kept by its user. Registration and Exposition take mu_.
// Invariants: a family name is registered with one type and one help text;
// names and label names match [a-zA-Z_:][a-zA-Z0-9_:]* (checked when
// registered: a bad one is a programming error and aborts).
#ifndef RBFS_COMMON_METRICS_METRICS_H_
#define RBFS_COMMON_METRICS_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rbfs {

// Label name -> value, in name order (as exposed).
using MetricLabels = std::map<std::string, std::string>;

class Counter {
 public:
  void Add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, ascending; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);
  void ObserveDuration(absl::Duration d) { Observe(absl::ToDoubleSeconds(d)); }

  const std::vector<double>& bounds() const { return bounds_; }
  // Per bucket (not cumulative), the last one +Inf's.
  std::vector<uint64_t> BucketCounts() const;
  // The observations made: the buckets' total.
  uint64_t count() const;
  double sum() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  // The sum's bits (a double), updated by compare-and-swap.
  std::atomic<uint64_t> sum_bits_{0};
};

// Latency buckets for calls from 50 µs to 10 s.
std::vector<double> LatencyBuckets();

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The series of family `name` with `labels`, created on first use. The
  // pointer stays valid for the registry's life.
  Counter* GetCounter(absl::string_view name, absl::string_view help,
                      const MetricLabels& labels = {}) ABSL_LOCKS_EXCLUDED(mu_);
  Histogram* GetHistogram(absl::string_view name, absl::string_view help,
                          const std::vector<double>& bounds,
                          const MetricLabels& labels = {})
      ABSL_LOCKS_EXCLUDED(mu_);
  // A gauge series whose value `read` gives at each scrape (called with
  // mu_ held: it must not use the registry).
  void AddGauge(absl::string_view name, absl::string_view help,
                std::function<double()> read, const MetricLabels& labels = {})
      ABSL_LOCKS_EXCLUDED(mu_);
  // A counter kept elsewhere (it must outlive the registry).
  void AddCounter(absl::string_view name, absl::string_view help,
                  const Counter* counter, const MetricLabels& labels = {})
      ABSL_LOCKS_EXCLUDED(mu_);
  // A counter read by a callback (its value must only grow).
  void AddCounterFn(absl::string_view name, absl::string_view help,
                    std::function<double()> read,
                    const MetricLabels& labels = {}) ABSL_LOCKS_EXCLUDED(mu_);
  // A histogram kept elsewhere (it must outlive the registry).
  void AddHistogram(absl::string_view name, absl::string_view help,
                    const Histogram* histogram, const MetricLabels& labels = {})
      ABSL_LOCKS_EXCLUDED(mu_);

  // Every family in the text exposition format.
  std::string Exposition() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family {
    Type type;
    std::string help;
    std::map<MetricLabels, Counter*> counters;
    std::map<MetricLabels, const Histogram*> histograms;
    // Those of `histograms` GetHistogram made, for it to hand out again.
    std::map<MetricLabels, Histogram*> made_histograms;
    // Gauges, and counters read by a callback.
    std::map<MetricLabels, std::function<double()>> reads;
  };

  Family* FamilyLocked(absl::string_view name, absl::string_view help,
                       Type type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // AddGauge and AddCounterFn.
  void AddRead(absl::string_view name, absl::string_view help, Type type,
               std::function<double()> read, const MetricLabels& labels)
      ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Family, std::less<>> families_ ABSL_GUARDED_BY(mu_);
  // The series GetCounter and GetHistogram made.
  std::vector<std::unique_ptr<Counter>> own_counters_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Histogram>> own_histograms_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rbfs

#endif  // RBFS_COMMON_METRICS_METRICS_H_
