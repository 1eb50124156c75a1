#include "server/testing/served_filesystem.h"

#include <utility>

#include "common/errno_status.h"
#include "server/testing/scratch_filesystem.h"

namespace rbfs::testing {

absl::StatusOr<std::unique_ptr<ServedFilesystem>> ServedFilesystem::Start(
    const std::string& name, AccessOptions access) {
  absl::StatusOr<std::unique_ptr<Filesystem>> fs = OpenScratchFilesystem(name);
  if (!fs.ok()) return fs.status();
  std::unique_ptr<ServedFilesystem> served(new ServedFilesystem());
  served->fs_ = std::move(*fs);
  served->service_ = std::make_unique<RbfsService>(served->fs_.get(), access);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(served->service_.get());
  served->server_ = builder.BuildAndStart();
  if (served->server_ == nullptr) {
    return ErrnoError(EADDRNOTAVAIL, "no gRPC server on loopback");
  }
  served->stub_ = Rbfs::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  return served;
}

ServedFilesystem::~ServedFilesystem() {
  if (!stopped_) Stop();
}

void ServedFilesystem::Stop(absl::Time deadline) {
  stopped_ = true;
  service_->ShutdownWatches();
  if (deadline == absl::InfiniteFuture()) {
    server_->Shutdown();
  } else {
    server_->Shutdown(absl::ToChronoTime(deadline));
  }
}

}  // namespace rbfs::testing
