#include "testing/prometheus_text.h"

#include <httplib.h>

#include <cmath>
#include <cstdlib>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace rbfs::testing {
namespace {

absl::Status Bad(int line, absl::string_view why, absl::string_view text) {
  return absl::InvalidArgumentError(
      absl::StrCat("line ", line, ": ", why, ": ", text));
}

bool ParseNumber(absl::string_view text, double* v) {
  if (text == "+Inf") {
    *v = HUGE_VAL;
    return true;
  }
  if (text == "-Inf") {
    *v = -HUGE_VAL;
    return true;
  }
  return absl::SimpleAtod(text, v);
}

bool NameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c == ':' || (!first && c >= '0' && c <= '9');
}

// The family a sample name belongs to, given the declared types.
std::string FamilyOf(const std::string& name,
                     const std::map<std::string, std::string>& types) {
  if (types.count(name)) return name;
  for (absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (absl::EndsWith(name, suffix)) {
      std::string base = name.substr(0, name.size() - suffix.size());
      auto it = types.find(base);
      if (it != types.end() && it->second == "histogram") return base;
    }
  }
  return "";
}

}  // namespace

double Exposition::Value(const std::string& series) const {
  auto it = samples.find(series);
  return it == samples.end() ? -1 : it->second;
}

double Exposition::Total(const std::string& name) const {
  auto type = types.find(name);
  const std::string series_name =
      type != types.end() && type->second == "histogram" ? name + "_count"
                                                         : name;
  double total = 0;
  for (const auto& [series, value] : samples) {
    if (series == series_name || absl::StartsWith(series, series_name + "{")) {
      total += value;
    }
  }
  return total;
}

absl::StatusOr<Exposition> ParseExposition(absl::string_view text) {
  Exposition out;
  std::map<std::string, bool> helped;
  std::map<std::string, bool> sampled;
  // Histogram series without `le` -> the last bucket count and whether +Inf
  // came.
  std::map<std::string, double> last_bucket;
  std::map<std::string, double> inf_bucket;
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++n;
    if (line.empty()) continue;
    if (absl::StartsWith(line, "# HELP ") ||
        absl::StartsWith(line, "# TYPE ")) {
      std::vector<std::string> parts =
          absl::StrSplit(line.substr(7), absl::MaxSplits(' ', 1));
      if (parts.size() != 2) return Bad(n, "comment without text", line);
      const std::string& name = parts[0];
      if (sampled[name]) return Bad(n, "comment after samples", line);
      if (line[2] == 'H') {
        if (helped[name]) return Bad(n, "second HELP", line);
        helped[name] = true;
      } else {
        if (out.types.count(name)) return Bad(n, "second TYPE", line);
        if (parts[1] != "counter" && parts[1] != "gauge" &&
            parts[1] != "histogram") {
          return Bad(n, "unknown type", line);
        }
        out.types[name] = parts[1];
      }
      continue;
    }
    if (line[0] == '#') continue;
    // name{labels} value
    size_t i = 0;
    while (i < line.size() && NameChar(line[i], i == 0)) ++i;
    if (i == 0) return Bad(n, "no metric name", line);
    const std::string name(line.substr(0, i));
    std::string labels_without_le;
    std::string le;
    if (i < line.size() && line[i] == '{') {
      ++i;
      bool first = true;
      while (i < line.size() && line[i] != '}') {
        if (!first) {
          if (line[i] != ',') return Bad(n, "labels not comma-separated", line);
          ++i;
        }
        first = false;
        const size_t start = i;
        while (i < line.size() && NameChar(line[i], i == start)) ++i;
        const std::string label(line.substr(start, i - start));
        if (label.empty() || i + 1 >= line.size() || line[i] != '=' ||
            line[i + 1] != '"') {
          return Bad(n, "malformed label", line);
        }
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            if (i + 1 >= line.size()) return Bad(n, "bad escape", line);
            const char e = line[i + 1];
            if (e != '\\' && e != '"' && e != 'n') {
              return Bad(n, "bad escape", line);
            }
            value += e == 'n' ? '\n' : e;
            i += 2;
          } else {
            value += line[i++];
          }
        }
        if (i >= line.size()) return Bad(n, "unterminated label value", line);
        ++i;
        if (label == "le") {
          le = value;
        } else {
          absl::StrAppend(&labels_without_le,
                          labels_without_le.empty() ? "" : ",", label, "=\"",
                          value, "\"");
        }
      }
      if (i >= line.size()) return Bad(n, "unterminated labels", line);
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') return Bad(n, "no value", line);
    double value;
    if (!ParseNumber(line.substr(i + 1), &value)) {
      return Bad(n, "bad value", line);
    }
    const std::string family = FamilyOf(name, out.types);
    if (family.empty()) return Bad(n, "sample of an undeclared family", line);
    if (!helped[family]) return Bad(n, "family without HELP", line);
    sampled[family] = true;
    const std::string series = absl::StrCat(name, "{", labels_without_le, "}");
    if (absl::EndsWith(name, "_bucket") && out.types[family] == "histogram") {
      if (le.empty()) return Bad(n, "bucket without le", line);
      double bound;
      if (!ParseNumber(le, &bound)) return Bad(n, "bad le", line);
      auto last = last_bucket.find(series);
      if (last != last_bucket.end() && value < last->second) {
        return Bad(n, "buckets not cumulative", line);
      }
      last_bucket[series] = value;
      if (le == "+Inf") inf_bucket[series] = value;
    } else if (!le.empty()) {
      return Bad(n, "le outside a histogram bucket", line);
    }
    std::string key =
        labels_without_le.empty() && le.empty()
            ? name
            : absl::StrCat(
                  name, "{", labels_without_le,
                  le.empty() ? "" : (labels_without_le.empty() ? "" : ","),
                  le.empty() ? "" : absl::StrCat("le=\"", le, "\""), "}");
    if (out.samples.count(key)) return Bad(n, "repeated series", line);
    out.samples[key] = value;
  }
  // Every histogram series: +Inf present and equal to _count.
  for (const auto& [series, last] : last_bucket) {
    const std::string base = series.substr(0, series.find("_bucket{"));
    const std::string labels = series.substr(
        series.find('{') + 1, series.size() - series.find('{') - 2);
    const std::string count_key =
        labels.empty() ? base + "_count"
                       : absl::StrCat(base, "_count{", labels, "}");
    auto inf = inf_bucket.find(series);
    if (inf == inf_bucket.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(series, ": no +Inf bucket"));
    }
    auto count = out.samples.find(count_key);
    if (count == out.samples.end() || count->second != inf->second) {
      return absl::InvalidArgumentError(
          absl::StrCat(series, ": _count differs from the +Inf bucket"));
    }
  }
  return out;
}

std::vector<std::string> FamiliesNamedIn(absl::string_view text,
                                         const Exposition& exposed) {
  std::vector<std::string> named;
  for (size_t at = text.find("rbfs_"); at != absl::string_view::npos;
       at = text.find("rbfs_", at)) {
    size_t end = at;
    while (end < text.size() &&
           (absl::ascii_isalnum(static_cast<unsigned char>(text[end])) ||
            text[end] == '_')) {
      ++end;
    }
    std::string name(text.substr(at, end - at));
    at = end;
    for (absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (!absl::EndsWith(name, suffix)) continue;
      const std::string base = name.substr(0, name.size() - suffix.size());
      auto type = exposed.types.find(base);
      if (type != exposed.types.end() && type->second == "histogram") {
        name = base;
      }
    }
    named.push_back(std::move(name));
  }
  return named;
}

absl::StatusOr<Exposition> ScrapeMetrics(int port) {
  httplib::Client client("127.0.0.1", port);
  httplib::Result got = client.Get("/metrics");
  if (!got) {
    return absl::UnavailableError(absl::StrCat(
        "scrape of port ", port, ": ", httplib::to_string(got.error())));
  }
  if (got->status != 200) {
    return absl::UnavailableError(
        absl::StrCat("scrape of port ", port, ": HTTP ", got->status));
  }
  return ParseExposition(got->body);
}

int MetricsPortInLog(absl::string_view log) {
  constexpr absl::string_view kAt = "metrics on http://127.0.0.1:";
  const size_t at = log.find(kAt);
  if (at == absl::string_view::npos) return -1;
  const absl::string_view rest = log.substr(at + kAt.size());
  int port = 0;
  if (!absl::SimpleAtoi(rest.substr(0, rest.find('/')), &port)) return -1;
  return port;
}

}  // namespace rbfs::testing
