// WatchReactor: one mount session's Watch stream (protos/rbfs.proto,
// "Coherence") over gRPC's callback API, so an open stream costs no server
// thread.
//
// The first message names the session: the reactor attaches it to the
// ChangeHub, applies its holds and answers seq 1 with the heartbeat
// promise. After that it applies every message's holds and drops, and
// sends, one write at a time, all that the hub queued for it in one
// message, or an empty one when the hub's heartbeat thread says it has been
// quiet too long. Messages are numbered 1, 2, 3, ... with no gaps.
//
// It ends (Finish) exactly once: INVALID_ARGUMENT for a first message
// without a session, RESOURCE_EXHAUSTED when its queue overflowed, ABORTED
// when the session opened a newer stream, UNAVAILABLE when the hub shut
// down (the server is stopping), CANCELLED when the call broke, OK when the
// mount closed its side. A Finish wanted while a write is in flight waits
// for that write. It deletes itself in OnDone, after detaching from the hub
// (which waits out a notify in progress, so the hub never calls a deleted
// reactor).
//
// Threads: gRPC's callbacks, and the hub's notify (a publishing handler or
// the heartbeat thread). mu_ guards the write state; request_ is used only
// by the read callbacks, of which gRPC runs one at a time. No lock is held
// across a gRPC call: a write or Finish is decided under mu_ and started
// after it is released.
#ifndef RBFS_SERVER_RPC_WATCH_REACTOR_H_
#define RBFS_SERVER_RPC_WATCH_REACTOR_H_

#include <cstdint>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "protos/rbfs.grpc.pb.h"
#include "server/rpc/change_hub.h"

namespace rbfs {

class WatchReactor final
    : public grpc::ServerBidiReactor<WatchRequest, WatchReply> {
 public:
  // Starts serving one stream over `hub`, which must outlive it.
  explicit WatchReactor(ChangeHub* hub);
  // A stream refused before it starts: finishes with `refusal` at once.
  explicit WatchReactor(grpc::Status refusal);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // Sends what is due (seq 1, queued changes, a heartbeat) unless a write is
  // in flight, or finishes the stream when the hub ended its watcher.
  void Pump() ABSL_LOCKS_EXCLUDED(mu_);
  // Finishes with `status` now, or after the write in flight; the first
  // call decides the status.
  void End(grpc::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  // The hub's watcher of this stream (attached).
  WatcherId watcher() ABSL_LOCKS_EXCLUDED(mu_);

  ChangeHub* const hub_;
  WatchRequest request_;
  // Used by the read callbacks only: the first message was read.
  bool started_ = false;

  absl::Mutex mu_;
  // Set by the first message; Pump writes nothing before.
  bool attached_ ABSL_GUARDED_BY(mu_) = false;
  WatcherId watcher_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // The Finish wanted, and whether it was called.
  std::optional<grpc::Status> end_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;  // of the last message sent
  WatchBatch batch_ ABSL_GUARDED_BY(mu_);
  // Left alone by everyone while writing_ (gRPC reads it until
  // OnWriteDone).
  WatchReply reply_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_RPC_WATCH_REACTOR_H_
