// main() of rbfs's Google Benchmarks: the daemons' process settings (malloc
// tuning, no Abseil deadlock detection) first, so the numbers match theirs.
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "common/malloc_tuning.h"

int main(int argc, char** argv) {
  rbfs::TuneMallocForLargeBuffers();
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
