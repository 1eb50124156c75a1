// The client's chunk pipeline (IoContext -> GrpcChunkSender -> gRPC) against
// an in-process server: MiB/s and chunk calls/s by chunk size, by how many
// requests are outstanding at once, and by transport (unary callback calls,
// or the Exchange streams).
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "client/core/buffer_pool.h"
#include "client/core/grpc_chunk_sender.h"
#include "client/core/inflight_limiter.h"
#include "client/core/io_context.h"
#include "client/rpc/rpc_client.h"
#include "tools/bench/loopback_server.h"

namespace rbfs {
namespace {

constexpr size_t kRequest = 1 << 20;          // one FUSE max_write request
constexpr uint64_t kFileSpan = 256ull << 20;  // cycle over 256 MiB
constexpr size_t kMaxInflight = 64;

// Counts outstanding requests; the benchmark loop keeps `depth` of them.
class Outstanding {
 public:
  void Add() {
    absl::MutexLock lock(&mu_);
    ++count_;
  }
  void Fail(std::string why) {
    absl::MutexLock lock(&mu_);
    if (failures_++ == 0) first_failure_ = std::move(why);
  }
  void Done() {
    absl::MutexLock lock(&mu_);
    --count_;
  }
  void WaitBelow(int limit) {
    absl::MutexLock lock(&mu_);
    auto below = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return count_ < limit;
    };
    mu_.Await(absl::Condition(&below));
  }
  int failures() {
    absl::MutexLock lock(&mu_);
    return failures_;
  }
  std::string first_failure() {
    absl::MutexLock lock(&mu_);
    return first_failure_;
  }

 private:
  absl::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_failure_ ABSL_GUARDED_BY(mu_);
};

void RunPipeline(benchmark::State& state, IoContext::Direction direction) {
  const uint32_t chunk = static_cast<uint32_t>(state.range(0));
  const int depth = static_cast<int>(state.range(1));
  const bool streams = state.range(2) != 0;
  // One server and one client per transport for the whole process: gRPC
  // 1.51 does not take kindly to callback-API users being created and
  // destroyed repeatedly.
  static LoopbackServer* const server = new LoopbackServer();
  auto client_of = [](bool exchange_streams) {
    RpcOptions options;
    options.target = server->address();
    options.exchange_streams = exchange_streams;
    return new RpcClient(options);
  };
  static RpcClient* const unary_rpc = client_of(false);
  static RpcClient* const stream_rpc = client_of(true);
  RpcClient* const rpc = streams ? stream_rpc : unary_rpc;
  // Google Benchmark calls this several times per configuration: every
  // call reuses the same two files rather than filling the volume.
  static const InodeId write_file = server->CreateFile("written");
  static const InodeId read_file = [] {
    InodeId id = server->CreateFile("read");
    server->Fill(id, kFileSpan);
    return id;
  }();
  const InodeId& id =
      direction == IoContext::Direction::kRead ? read_file : write_file;
  InflightLimiter limiter(kMaxInflight);
  BufferPool pool(2 * kMaxInflight);
  GrpcChunkSender sender(rpc, &limiter, id);
  const std::string payload(kRequest, 'p');
  Outstanding outstanding;
  uint64_t offset = 0;
  for (auto _ : state) {
    outstanding.WaitBelow(depth);
    outstanding.Add();
    auto finish = [&outstanding](IoContext&, absl::StatusOr<size_t> result) {
      if (!result.ok() || *result != kRequest) {
        outstanding.Fail(result.ok() ? absl::StrCat("short: ", *result)
                                     : result.status().ToString());
      }
    };
    std::shared_ptr<IoContext> io =
        direction == IoContext::Direction::kWrite
            ? IoContext::CreateWrite(offset, payload.data(), kRequest, chunk,
                                     &pool, finish, [](uint64_t) {})
            : IoContext::CreateRead(offset, kRequest, chunk, &pool, finish);
    // Counted until the context is done with the pool, not just replied.
    io->SetReleaseHook([&outstanding] { outstanding.Done(); });
    io->Start(sender);
    offset = (offset + kRequest) % kFileSpan;
  }
  outstanding.WaitBelow(1);
  if (outstanding.failures() > 0) {
    state.SkipWithError(outstanding.first_failure().c_str());
  }
  state.SetBytesProcessed(state.iterations() * kRequest);
  state.counters["calls"] = benchmark::Counter(
      static_cast<double>(state.iterations() * (kRequest / chunk)),
      benchmark::Counter::kIsRate);
}

void BM_PipelineWrite(benchmark::State& state) {
  RunPipeline(state, IoContext::Direction::kWrite);
}
void BM_PipelineRead(benchmark::State& state) {
  RunPipeline(state, IoContext::Direction::kRead);
}

// {chunk size, requests outstanding, 0: unary calls / 1: Exchange streams}
BENCHMARK(BM_PipelineWrite)
    ->ArgsProduct({{4 << 10, 64 << 10, 1 << 20}, {1, 16}, {0, 1}})
    ->UseRealTime();
BENCHMARK(BM_PipelineRead)
    ->ArgsProduct({{4 << 10, 64 << 10, 1 << 20}, {1, 16}, {0, 1}})
    ->UseRealTime();

}  // namespace
}  // namespace rbfs
