// ExchangeReactor: one Exchange stream (protos/rbfs.proto, "Transport") over
// gRPC's callback API: a mount's calls multiplexed on one gRPC call.
//
// Each batch read is answered in the read callback itself, request by
// request in order, by the handler the service gave (so a request costs no
// thread hand-off in the server); the replies go out as one batch, or, when
// a write is still in flight, join the replies waiting for it and go out
// together in OnWriteDone. The next batch is read once the last one is
// answered, so one stream is served by one thread at a time; a mount that
// wants the server's cores busy opens several streams.
//
// It finishes exactly once: OK after the mount closed its side and the last
// reply was written, the refusal given at construction, or whatever gRPC
// reports when the call breaks. It deletes itself in OnDone.
//
// Threads: gRPC's callbacks; a read and a write callback may run at once.
// mu_ guards the write state; request_ belongs to the read callbacks (gRPC
// runs one at a time), writing_ to gRPC while a write is in flight. No lock
// is held across a gRPC call or the handler.
#ifndef RBFS_SERVER_RPC_EXCHANGE_REACTOR_H_
#define RBFS_SERVER_RPC_EXCHANGE_REACTOR_H_

#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "protos/rbfs.grpc.pb.h"

namespace rbfs {

class ExchangeReactor final
    : public grpc::ServerBidiReactor<RequestBatch, ReplyBatch> {
 public:
  // Fills `reply` (its id already set) with the answer to `request`.
  using Handler =
      std::function<void(const StreamRequest& request, StreamReply* reply)>;

  // Starts serving one stream with `handler`.
  explicit ExchangeReactor(Handler handler);
  // A stream refused before it starts: finishes with `refusal` at once.
  explicit ExchangeReactor(grpc::Status refusal);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;

 private:
  // Called with the replies to one batch: writes them now, or queues them
  // behind the write in flight.
  void Send(ReplyBatch* replies) ABSL_LOCKS_EXCLUDED(mu_);
  // Finishes with OK once reading ended and nothing is left to write.
  void MaybeFinish() ABSL_LOCKS_EXCLUDED(mu_);

  const Handler handler_;
  RequestBatch request_;

  absl::Mutex mu_;
  bool writing_now_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_ended_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // Answered while a write was in flight.
  ReplyBatch queued_ ABSL_GUARDED_BY(mu_);
  // Left alone by everyone while writing_now_ (gRPC reads it until
  // OnWriteDone).
  ReplyBatch writing_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_RPC_EXCHANGE_REACTOR_H_
