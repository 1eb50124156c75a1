// GrpcChunkSender: sends IoContext chunks as asynchronous Read/Write RPCs.
//
// Each chunk becomes one call on gRPC's callback API, admitted through the
// mount's InflightLimiter; the FUSE worker thread that starts a request
// returns at once and no thread blocks per chunk. A chunk whose connection
// breaks is retried after a backoff (a positional read or write is
// idempotent) until the mount's deadline, or forever on a hard mount. The
// chunk's buffer is lent to the RPC message by swapping, so neither the payload
// nor the reply data is copied between the IoContext and the protobuf, and the
// pool gets the capacity back.
#ifndef RBFS_CLIENT_CORE_GRPC_CHUNK_SENDER_H_
#define RBFS_CLIENT_CORE_GRPC_CHUNK_SENDER_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "client/core/inflight_limiter.h"
#include "client/core/io_context.h"
#include "client/rpc/rpc_client.h"
#include "protos/rbfs.pb.h"

namespace rbfs {

// The file's attributes the replies of one request carry (every write's;
// a read's when it moved the atime); the latest change (by ctime, then
// atime) wins, whatever order the chunks complete in.
class ReplyAttrs {
 public:
  void Offer(const Attr& attr);
  std::optional<Attr> Latest() const;

 private:
  mutable absl::Mutex mu_;
  // Guards latest_.
  std::optional<Attr> latest_ ABSL_GUARDED_BY(mu_);
};

class GrpcChunkSender : public ChunkSender {
 public:
  // `id` names the file every chunk of the request goes to; replies that
  // carry the file's attributes offer them to `attrs` if set, before the
  // chunk completes. Write chunks carry `kill_suidgid`
  // (WriteRequest.kill_suidgid).
  GrpcChunkSender(RpcClient* rpc, InflightLimiter* limiter, const InodeId& id,
                  std::shared_ptr<ReplyAttrs> attrs = nullptr,
                  bool kill_suidgid = false)
      : rpc_(rpc),
        limiter_(limiter),
        id_(id),
        attrs_(std::move(attrs)),
        kill_suidgid_(kill_suidgid) {}

  void Send(std::shared_ptr<IoContext> context, size_t index) override;

 private:
  RpcClient* const rpc_;
  InflightLimiter* const limiter_;
  const InodeId id_;
  const std::shared_ptr<ReplyAttrs> attrs_;
  const bool kill_suidgid_;
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_CORE_GRPC_CHUNK_SENDER_H_
