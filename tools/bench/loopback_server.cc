#include "tools/bench/loopback_server.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "common/wire_limits.h"
#include "server/store/local_stores.h"

namespace rbfs {

LoopbackServer::LoopbackServer(uint64_t volume_size, bool metrics) {
  const char* tmp = std::getenv("TMPDIR");
  dir_ = std::string(tmp ? tmp : "/tmp") + "/rbfs_bench_" +
         std::to_string(getpid());
  std::filesystem::remove_all(dir_);
  LocalStoreOptions local;
  local.data_dir = dir_;
  local.volume_size = volume_size;
  Filesystem::Options options;
  options.stores = *MakeLocalStores(local);
  fs_ = std::move(*Filesystem::Open(options));
  service_ = std::make_unique<RbfsService>(fs_.get());
  if (metrics) service_->ExportMetrics(&metrics_);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port_);
  builder.RegisterService(service_.get());
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  server_ = builder.BuildAndStart();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  stub_ = Rbfs::NewStub(grpc::CreateCustomChannel(
      address(), grpc::InsecureChannelCredentials(), args));
}

LoopbackServer::~LoopbackServer() {
  service_->ShutdownWatches();
  server_->Shutdown();
  service_->DetachFromCommits();
  fs_.reset();
  std::filesystem::remove_all(dir_);
}

std::string LoopbackServer::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

InodeId LoopbackServer::CreateFile(const std::string& name) {
  grpc::ClientContext ctx;
  MkNodRequest req;
  req.mutable_parent()->set_ino(Filesystem::kRootIno);
  req.mutable_parent()->set_generation(Filesystem::kRootGeneration);
  req.set_name(name);
  req.set_mode(0100644);
  EntryReply reply;
  stub_->MkNod(&ctx, req, &reply);
  return reply.attr().id();
}

void LoopbackServer::Fill(const InodeId& id, uint64_t size) {
  WriteRequest fill;
  *fill.mutable_id() = id;
  fill.set_data(std::string(1 << 20, 'r'));
  for (uint64_t off = 0; off < size; off += 1 << 20) {
    grpc::ClientContext ctx;
    fill.set_offset(off);
    WriteReply reply;
    grpc::Status status = stub_->Write(&ctx, fill, &reply);
    if (!status.ok() || reply.err() != 0) {
      std::fprintf(stderr, "fill failed at %llu: %s errno %d\n",
                   static_cast<unsigned long long>(off),
                   status.error_message().c_str(), reply.err());
      return;
    }
  }
}

}  // namespace rbfs
