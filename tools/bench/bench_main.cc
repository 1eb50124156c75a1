// main() of rbfs's Google Benchmarks: the daemons' malloc tuning first, so
// the numbers match what the daemons do.
#include "benchmark/benchmark.h"
#include "common/malloc_tuning.h"

int main(int argc, char** argv) {
  rbfs::TuneMallocForLargeBuffers();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
