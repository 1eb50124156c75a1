// ChangeHub::Publish, the cost every mutating call (every write chunk) pays
// for coherence: with nobody else holding the changed inode (the common
// case) and with 1 to 1000 watchers holding it (the fan-out).
#include <cstdint>
#include <vector>

#include "benchmark/benchmark.h"
#include "server/rpc/change_hub.h"

namespace rbfs {
namespace {

constexpr uint64_t kOrigin = 1;
constexpr uint64_t kIno = 5;
// Publishes between two drains of the watchers' queues (as their streams
// would take them), outside the timing.
constexpr int kPublishesPerDrain = 256;

// `watchers` watchers of other sessions, each holding `held_ino`.
std::vector<WatcherId> AttachWatchers(ChangeHub* hub, int watchers,
                                      uint64_t held_ino) {
  std::vector<WatcherId> ids;
  for (int i = 0; i < watchers; ++i) {
    ids.push_back(hub->Attach(kOrigin + 1 + i, [] {}));
    hub->Hold(ids.back(), held_ino, 0);
  }
  return ids;
}

void Run(benchmark::State& state, ChangeHub* hub,
         const std::vector<WatcherId>& ids) {
  const Change change = Change::Data(kIno);
  WatchBatch batch;
  int since_drain = 0;
  for (auto _ : state) {
    hub->Publish(kOrigin, change);
    if (++since_drain == kPublishesPerDrain) {
      state.PauseTiming();
      for (WatcherId id : ids) hub->TakePending(id, &batch);
      since_drain = 0;
      state.ResumeTiming();
    }
  }
  for (WatcherId id : ids) hub->Detach(id);
}

// Every watcher holds the changed inode: one queued change per watcher.
void BM_PublishHeld(benchmark::State& state) {
  ChangeHub hub;
  const std::vector<WatcherId> ids =
      AttachWatchers(&hub, static_cast<int>(state.range(0)), kIno);
  Run(state, &hub, ids);
  state.counters["watchers"] = static_cast<double>(ids.size());
}
BENCHMARK(BM_PublishHeld)->Arg(1)->Arg(10)->Arg(100)->Arg(1000);

// Watchers hold other inodes only: the hash lookup finds nobody.
void BM_PublishUnheld(benchmark::State& state) {
  ChangeHub hub;
  const std::vector<WatcherId> ids =
      AttachWatchers(&hub, static_cast<int>(state.range(0)), kIno + 1);
  Run(state, &hub, ids);
}
BENCHMARK(BM_PublishUnheld)->Arg(0)->Arg(1000);

}  // namespace
}  // namespace rbfs
