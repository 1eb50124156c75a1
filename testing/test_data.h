// Deterministic test data for the end-to-end data-path tests.
//
// PatternFill() writes the bytes a file generated from `seed` holds at
// [offset, offset + size), so any range can be produced or checked on its
// own without keeping the file in memory. Checksum64 is an order-sensitive
// hash for comparing large streams.
#ifndef RBFS_TESTING_TEST_DATA_H_
#define RBFS_TESTING_TEST_DATA_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace rbfs {

inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline void PatternFill(uint64_t seed, uint64_t offset, char* out,
                        size_t size) {
  uint64_t word_index = offset / 8;
  size_t skip = offset % 8;
  size_t done = 0;
  while (done < size) {
    const uint64_t word = SplitMix64(seed ^ (word_index * 0x100000001b3ULL));
    const size_t take = (size - done) < 8 - skip ? size - done : 8 - skip;
    memcpy(out + done, reinterpret_cast<const char*>(&word) + skip, take);
    done += take;
    skip = 0;
    ++word_index;
  }
}

// 64-bit FNV-1a, continued across Update() calls.
class Checksum64 {
 public:
  void Update(const char* data, size_t size) {
    for (size_t i = 0; i < size; ++i) {
      state_ =
          (state_ ^ static_cast<unsigned char>(data[i])) * 0x100000001b3ULL;
    }
  }
  uint64_t value() const { return state_; }

 private:
  uint64_t state_ = 0xcbf29ce484222325ULL;
};

}  // namespace rbfs

#endif  // RBFS_TESTING_TEST_DATA_H_
