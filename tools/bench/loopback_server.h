// LoopbackServer: an in-process rbfs server for benchmarks.
//
// A real Filesystem on a temporary volume behind a real gRPC port on
// 127.0.0.1, so benchmarks measure the RPC path without process setup.
#ifndef RBFS_TOOLS_BENCH_LOOPBACK_SERVER_H_
#define RBFS_TOOLS_BENCH_LOOPBACK_SERVER_H_

#include <memory>
#include <string>

#include "common/metrics/metrics.h"
#include "grpcpp/grpcpp.h"
#include "protos/rbfs.grpc.pb.h"
#include "server/fs/filesystem.h"
#include "server/rpc/rbfs_service.h"

namespace rbfs {

class LoopbackServer {
 public:
  // With `metrics`, the service exports its metrics (as
  // --metrics-listen makes it), to measure what they cost.
  explicit LoopbackServer(uint64_t volume_size = 4ull << 30,
                          bool metrics = false);
  ~LoopbackServer();

  std::string address() const;
  // A stub on its own channel.
  Rbfs::Stub* stub() { return stub_.get(); }
  // Creates a regular file in the root directory.
  InodeId CreateFile(const std::string& name);
  // Fills [0, size) of the file with bytes, 1 MiB per call.
  void Fill(const InodeId& id, uint64_t size);

 private:
  std::string dir_;
  std::unique_ptr<Filesystem> fs_;
  // Outlives the service, which records into it.
  MetricsRegistry metrics_;
  std::unique_ptr<RbfsService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Rbfs::Stub> stub_;
  int port_ = 0;
};

}  // namespace rbfs

#endif  // RBFS_TOOLS_BENCH_LOOPBACK_SERVER_H_
