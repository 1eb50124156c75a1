#include "common/metrics/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace rbfs {
namespace {

bool ValidName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

void CheckNames(absl::string_view name, const MetricLabels& labels) {
  bool ok = ValidName(name);
  for (const auto& [label, value] : labels) {
    ok = ok && ValidName(label) && label != "le";
  }
  if (!ok) {
    LogError("metric %s: invalid name or label name", name);
    std::abort();
  }
}

// The shortest text that reads back as `v`: whole numbers (counts, bytes)
// in full, others as %g would write them (le="0.0005", not "5e-04").
std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  // Below 2^53 every whole double is exact as an integer.
  constexpr double kExactWhole = 9007199254740992.0;
  if (v == std::trunc(v) && std::fabs(v) < kExactWhole) {
    return std::to_string(static_cast<int64_t>(v));
  }
  char buf[32];
  const std::to_chars_result r =
      std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general);
  return std::string(buf, r.ptr);
}

// HELP text: backslash and newline escaped.
std::string EscapeHelp(absl::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// A label value: backslash, double quote and newline escaped.
std::string EscapeValue(absl::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// `{a="1",b="2"}` (with `le` last when given), or nothing without labels.
std::string LabelText(const MetricLabels& labels, const std::string* le) {
  if (labels.empty() && le == nullptr) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out += ",";
    first = false;
    absl::StrAppend(&out, name, "=\"", EscapeValue(value), "\"");
  }
  if (le != nullptr) {
    absl::StrAppend(&out, first ? "" : ",", "le=\"", *le, "\"");
  }
  return out + "}";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  uint64_t old_bits = sum_bits_.load(std::memory_order_relaxed);
  for (;;) {
    double sum;
    std::memcpy(&sum, &old_bits, sizeof(sum));
    sum += value;
    uint64_t new_bits;
    std::memcpy(&new_bits, &sum, sizeof(sum));
    if (sum_bits_.compare_exchange_weak(old_bits, new_bits,
                                        std::memory_order_relaxed)) {
      break;
    }
  }
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> counts(bounds_.size() + 1);
  for (size_t i = 0; i < counts.size(); ++i) {
    counts[i] = buckets_[i].load(std::memory_order_relaxed);
  }
  return counts;
}

uint64_t Histogram::count() const {
  uint64_t total = 0;
  for (uint64_t in_bucket : BucketCounts()) total += in_bucket;
  return total;
}

double Histogram::sum() const {
  const uint64_t bits = sum_bits_.load(std::memory_order_relaxed);
  double sum;
  std::memcpy(&sum, &bits, sizeof(sum));
  return sum;
}

std::vector<double> LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
}

MetricsRegistry::Family* MetricsRegistry::FamilyLocked(absl::string_view name,
                                                       absl::string_view help,
                                                       Type type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{type, std::string(help)})
             .first;
  } else if (it->second.type != type) {
    LogError("metric %s registered with two types", name);
    std::abort();
  }
  return &it->second;
}

Counter* MetricsRegistry::GetCounter(absl::string_view name,
                                     absl::string_view help,
                                     const MetricLabels& labels) {
  CheckNames(name, labels);
  absl::MutexLock lock(&mu_);
  Counter*& c = FamilyLocked(name, help, Type::kCounter)->counters[labels];
  if (c == nullptr) {
    own_counters_.push_back(std::make_unique<Counter>());
    c = own_counters_.back().get();
  }
  return c;
}

Histogram* MetricsRegistry::GetHistogram(absl::string_view name,
                                         absl::string_view help,
                                         const std::vector<double>& bounds,
                                         const MetricLabels& labels) {
  CheckNames(name, labels);
  absl::MutexLock lock(&mu_);
  Family* family = FamilyLocked(name, help, Type::kHistogram);
  Histogram*& made = family->made_histograms[labels];
  if (made == nullptr) {
    own_histograms_.push_back(std::make_unique<Histogram>(bounds));
    made = own_histograms_.back().get();
    family->histograms[labels] = made;
  }
  return made;
}

void MetricsRegistry::AddRead(absl::string_view name, absl::string_view help,
                              Type type, std::function<double()> read,
                              const MetricLabels& labels) {
  CheckNames(name, labels);
  absl::MutexLock lock(&mu_);
  FamilyLocked(name, help, type)->reads[labels] = std::move(read);
}

void MetricsRegistry::AddGauge(absl::string_view name, absl::string_view help,
                               std::function<double()> read,
                               const MetricLabels& labels) {
  AddRead(name, help, Type::kGauge, std::move(read), labels);
}

void MetricsRegistry::AddCounter(absl::string_view name, absl::string_view help,
                                 const Counter* counter,
                                 const MetricLabels& labels) {
  AddCounterFn(
      name, help, [counter] { return static_cast<double>(counter->value()); },
      labels);
}

void MetricsRegistry::AddCounterFn(absl::string_view name,
                                   absl::string_view help,
                                   std::function<double()> read,
                                   const MetricLabels& labels) {
  AddRead(name, help, Type::kCounter, std::move(read), labels);
}

void MetricsRegistry::AddHistogram(absl::string_view name,
                                   absl::string_view help,
                                   const Histogram* histogram,
                                   const MetricLabels& labels) {
  CheckNames(name, labels);
  absl::MutexLock lock(&mu_);
  FamilyLocked(name, help, Type::kHistogram)->histograms[labels] = histogram;
}

std::string MetricsRegistry::Exposition() const {
  static constexpr const char* kTypeNames[] = {"counter", "gauge", "histogram"};
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, family] : families_) {
    absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(family.help), "\n",
                    "# TYPE ", name, " ",
                    kTypeNames[static_cast<int>(family.type)], "\n");
    for (const auto& [labels, counter] : family.counters) {
      absl::StrAppend(&out, name, LabelText(labels, nullptr), " ",
                      counter->value(), "\n");
    }
    for (const auto& [labels, read] : family.reads) {
      absl::StrAppend(&out, name, LabelText(labels, nullptr), " ",
                      Number(read()), "\n");
    }
    for (const auto& [labels, h] : family.histograms) {
      const std::vector<uint64_t> counts = h->BucketCounts();
      uint64_t cumulative = 0;
      for (size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        const std::string le =
            i < h->bounds().size() ? Number(h->bounds()[i]) : "+Inf";
        absl::StrAppend(&out, name, "_bucket", LabelText(labels, &le), " ",
                        cumulative, "\n");
      }
      // From the buckets, so that _count equals the +Inf bucket even while
      // observations race the scrape.
      absl::StrAppend(&out, name, "_sum", LabelText(labels, nullptr), " ",
                      Number(h->sum()), "\n", name, "_count",
                      LabelText(labels, nullptr), " ", cumulative, "\n");
    }
  }
  return out;
}

}  // namespace rbfs
