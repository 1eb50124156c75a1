// A scratch Filesystem served by an RbfsService on a loopback gRPC port in
// this process, with a stub to call it: for tests of the service's streams
// (Watch, Exchange) over real gRPC. Test-only.
#ifndef RBFS_SERVER_TESTING_SERVED_FILESYSTEM_H_
#define RBFS_SERVER_TESTING_SERVED_FILESYSTEM_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "protos/rbfs.grpc.pb.h"
#include "server/fs/filesystem.h"
#include "server/rpc/rbfs_service.h"

namespace rbfs::testing {

class ServedFilesystem {
 public:
  // A fresh scratch filesystem named `name` (see scratch_filesystem.h)
  // served under `access`, whose authenticator, if any, must outlive it.
  static absl::StatusOr<std::unique_ptr<ServedFilesystem>> Start(
      const std::string& name, AccessOptions access = {});
  // Stop(), if it was not called.
  ~ServedFilesystem();

  // Ends the Watch streams, then shuts the server down, cancelling calls
  // still running at `deadline`.
  void Stop(absl::Time deadline = absl::InfiniteFuture());

  Filesystem* fs() const { return fs_.get(); }
  RbfsService* service() const { return service_.get(); }
  grpc::Server* server() const { return server_.get(); }
  Rbfs::Stub* stub() const { return stub_.get(); }

 private:
  ServedFilesystem() = default;

  std::unique_ptr<Filesystem> fs_;
  std::unique_ptr<RbfsService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Rbfs::Stub> stub_;
  bool stopped_ = false;
};

}  // namespace rbfs::testing

#endif  // RBFS_SERVER_TESTING_SERVED_FILESYSTEM_H_
