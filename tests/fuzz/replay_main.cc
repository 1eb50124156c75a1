// A small stand-in for libFuzzer's driver, for builds without clang: runs
// every file of a seed corpus through LLVMFuzzerTestOneInput, then a bounded
// number of byte-level mutations of them drawn from a seeded generator, so a
// run is repeatable. Any failure aborts inside the harness; the last volume
// check runs at exit, as under libFuzzer.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"

ABSL_FLAG(std::string, corpus, "", "directory of seed scripts");
ABSL_FLAG(int, mutations, 1000, "mutated scripts to run after the seeds");
ABSL_FLAG(uint64_t, seed, 1, "seed of the mutation generator");
ABSL_FLAG(int, max_len, 4096, "longest mutated script, in bytes");

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv);
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string> LoadCorpus(const std::string& dir) {
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file()) paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> corpus;
  for (const auto& path : paths) {
    std::ifstream in(path, std::ios::binary);
    corpus.emplace_back(std::istreambuf_iterator<char>(in),
                        std::istreambuf_iterator<char>());
  }
  return corpus;
}

// One to four of libFuzzer's simplest mutations: flip a bit, set a byte,
// insert or erase a run, copy a run within the input, splice in another seed.
std::string Mutate(const std::vector<std::string>& corpus, std::mt19937_64& rng,
                   size_t max_len) {
  auto pick = [&rng](size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng);
  };
  std::string s = corpus[pick(corpus.size())];
  for (size_t rounds = 1 + pick(4); rounds > 0; --rounds) {
    switch (pick(6)) {
      case 0:
        if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1 << pick(8));
        break;
      case 1:
        if (!s.empty()) s[pick(s.size())] = static_cast<char>(pick(256));
        break;
      case 2:
        s.insert(pick(s.size() + 1), 1 + pick(8), static_cast<char>(pick(256)));
        break;
      case 3:
        if (!s.empty()) {
          size_t at = pick(s.size());
          s.erase(at, 1 + pick(std::min<size_t>(16, s.size() - at)));
        }
        break;
      case 4:
        if (!s.empty()) {
          size_t from = pick(s.size());
          std::string run = s.substr(from, 1 + pick(64));
          s.insert(pick(s.size() + 1), run);
        }
        break;
      default: {
        const std::string& other = corpus[pick(corpus.size())];
        s = s.substr(0, pick(s.size() + 1)) +
            other.substr(pick(other.size() + 1));
        break;
      }
    }
  }
  if (s.size() > max_len) s.resize(max_len);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::vector<std::string> corpus = LoadCorpus(absl::GetFlag(FLAGS_corpus));
  if (corpus.empty()) {
    std::fprintf(stderr, "no seed scripts in --corpus=%s\n",
                 absl::GetFlag(FLAGS_corpus).c_str());
    return 1;
  }
  LLVMFuzzerInitialize(&argc, &argv);
  for (const std::string& s : corpus) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()),
                           s.size());
  }
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));
  const int mutations = absl::GetFlag(FLAGS_mutations);
  for (int i = 0; i < mutations; ++i) {
    std::string s = Mutate(corpus, rng, absl::GetFlag(FLAGS_max_len));
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()),
                           s.size());
  }
  std::fprintf(stderr, "replayed %zu seeds and %d mutations\n", corpus.size(),
               mutations);
  return 0;
}
