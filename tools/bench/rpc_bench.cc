// Single-client throughput of Read and Write through the RPC layer: an
// in-process rbfs server (real Filesystem on a temporary volume) behind a
// real loopback gRPC port, called by one synchronous client.
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "grpcpp/grpcpp.h"
#include "protos/rbfs.grpc.pb.h"
#include "tools/bench/loopback_server.h"

namespace rbfs {
namespace {

constexpr uint64_t kFileSpan = 256ull << 20;  // cycle over 256 MiB

void BM_Write(benchmark::State& state) {
  LoopbackServer server;
  const size_t size = state.range(0);
  InodeId id = server.CreateFile("w");
  WriteRequest req;
  *req.mutable_id() = id;
  req.set_data(std::string(size, 'w'));
  uint64_t offset = 0;
  for (auto _ : state) {
    grpc::ClientContext ctx;
    req.set_offset(offset);
    WriteReply reply;
    grpc::Status s = server.stub()->Write(&ctx, req, &reply);
    if (!s.ok() || reply.err() != 0) state.SkipWithError("write failed");
    offset = (offset + size) % kFileSpan;
  }
  state.SetBytesProcessed(state.iterations() * size);
}

void BM_Read(benchmark::State& state) {
  LoopbackServer server;
  const size_t size = state.range(0);
  InodeId id = server.CreateFile("r");
  server.Fill(id, kFileSpan);
  ReadRequest req;
  *req.mutable_id() = id;
  req.set_length(size);
  uint64_t offset = 0;
  for (auto _ : state) {
    grpc::ClientContext ctx;
    req.set_offset(offset);
    ReadReply reply;
    grpc::Status s = server.stub()->Read(&ctx, req, &reply);
    if (!s.ok() || reply.data().size() != size) {
      state.SkipWithError("read failed");
    }
    offset = (offset + size) % kFileSpan;
  }
  state.SetBytesProcessed(state.iterations() * size);
}

// One small metadata call, round trip: the floor under every FUSE metadata
// operation that goes to the server; with the argument 1 the server keeps
// its metrics (what --metrics-listen costs a call).
void BM_GetAttr(benchmark::State& state) {
  LoopbackServer server(4ull << 30, /*metrics=*/state.range(0) != 0);
  GetAttrRequest req;
  req.mutable_id()->set_ino(Filesystem::kRootIno);
  req.mutable_id()->set_generation(Filesystem::kRootGeneration);
  for (auto _ : state) {
    grpc::ClientContext ctx;
    AttrReply reply;
    grpc::Status s = server.stub()->GetAttr(&ctx, req, &reply);
    if (!s.ok() || reply.err() != 0) state.SkipWithError("getattr failed");
  }
}

// Create and unlink of one file: two metadata writes per iteration.
void BM_CreateUnlink(benchmark::State& state) {
  LoopbackServer server;
  MkNodRequest create;
  create.mutable_parent()->set_ino(Filesystem::kRootIno);
  create.mutable_parent()->set_generation(Filesystem::kRootGeneration);
  create.set_mode(0100644);
  create.set_exclusive(true);
  UnlinkRequest unlink;
  *unlink.mutable_parent() = create.parent();
  int i = 0;
  for (auto _ : state) {
    const std::string name = "f" + std::to_string(i++);
    create.set_name(name);
    unlink.set_name(name);
    grpc::ClientContext c1, c2;
    EntryReply entry;
    ErrReply err;
    if (!server.stub()->MkNod(&c1, create, &entry).ok() || entry.err() != 0 ||
        !server.stub()->Unlink(&c2, unlink, &err).ok() || err.err() != 0) {
      state.SkipWithError("create/unlink failed");
    }
  }
}

BENCHMARK(BM_GetAttr)->ArgName("metrics")->Arg(0)->Arg(1)->UseRealTime();
BENCHMARK(BM_CreateUnlink)->UseRealTime();
BENCHMARK(BM_Write)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();
BENCHMARK(BM_Read)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();

}  // namespace
}  // namespace rbfs
