// Single-client throughput of Read and Write through the RPC layer: an
// in-process rbfs server (real Filesystem on a temporary volume) behind a
// real loopback gRPC port, called by one synchronous client.
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "common/malloc_tuning.h"
#include "grpcpp/grpcpp.h"
#include "protos/rbfs.grpc.pb.h"
#include "server/filesystem.h"
#include "server/rbfs_service.h"

namespace rbfs {
namespace {

class LoopbackServer {
 public:
  LoopbackServer() {
    const char* tmp = std::getenv("TMPDIR");
    dir_ = std::string(tmp ? tmp : "/tmp") + "/rbfs_rpc_bench";
    std::filesystem::remove_all(dir_);
    Filesystem::Options options;
    options.data_dir = dir_;
    options.volume_size = 4ull << 30;
    fs_ = std::move(*Filesystem::Open(options));
    service_ = std::make_unique<RbfsService>(fs_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(service_.get());
    builder.SetMaxReceiveMessageSize(RbfsService::kMaxMessageBytes);
    builder.SetMaxSendMessageSize(RbfsService::kMaxMessageBytes);
    server_ = builder.BuildAndStart();
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(RbfsService::kMaxMessageBytes);
    args.SetMaxSendMessageSize(RbfsService::kMaxMessageBytes);
    stub_ = Rbfs::NewStub(
        grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_),
                                  grpc::InsecureChannelCredentials(), args));
  }
  ~LoopbackServer() {
    server_->Shutdown();
    fs_.reset();
    std::filesystem::remove_all(dir_);
  }
  Rbfs::Stub* stub() { return stub_.get(); }

  InodeId CreateFile(const std::string& name) {
    grpc::ClientContext ctx;
    MkNodRequest req;
    req.mutable_parent()->set_ino(1);
    req.mutable_parent()->set_generation(1);
    req.set_name(name);
    req.set_mode(0100644);
    EntryReply reply;
    stub_->MkNod(&ctx, req, &reply);
    return reply.attr().id();
  }

 private:
  std::string dir_;
  std::unique_ptr<Filesystem> fs_;
  std::unique_ptr<RbfsService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Rbfs::Stub> stub_;
  int port_ = 0;
};

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
  WriteRequest fill;
  *fill.mutable_id() = id;
  fill.set_data(std::string(1 << 20, 'r'));
  for (uint64_t off = 0; off < kFileSpan; off += 1 << 20) {
    grpc::ClientContext ctx;
    fill.set_offset(off);
    WriteReply reply;
    server.stub()->Write(&ctx, fill, &reply);
  }
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

BENCHMARK(BM_Write)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();
BENCHMARK(BM_Read)->Arg(64 << 10)->Arg(1 << 20)->UseRealTime();

}  // namespace
}  // namespace rbfs

int main(int argc, char** argv) {
  rbfs::TuneMallocForLargeBuffers();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
