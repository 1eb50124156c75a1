// ExchangeStreams: the mount's calls multiplexed on a few long-lived
// Exchange streams (protos/rbfs.proto, "Transport") instead of one unary
// call each: the chunk sender's reads and writes, and RpcClient::Call's
// calls that StreamCall (below) names.
//
// Each stream is one bidirectional call on gRPC's callback API. A request
// gets an id unique on its stream; whatever was submitted while the
// stream's previous write was in flight goes out as one batch when it
// completes, so an idle stream sends a request at once and a busy one
// batches by itself, with no added delay. Replies are matched by id and may
// come in any order. Requests are spread round-robin over the streams, one
// per stub (each stub has its own connection, see RpcClient).
//
// Failure: a stream that breaks (server restart, connection loss) fails
// every request on it without a reply, with the call's status; the caller
// decides whether to repeat it (RetryPolicy), and the next submit opens a
// new stream. A request whose deadline passes cancels its stream (a server
// that does not answer one request within the deadline answers none on
// that connection), which fails it with DEADLINE_EXCEEDED and the others
// with CANCELLED. Deadlines are checked once a second, so a request fails
// at most a second after its deadline.
//
// Threads: Submit from any thread; `done` runs on a gRPC thread (or in
// Submit, when no stream could be opened), never under a lock of this
// class. Each stream's mu_ guards its state (see the .cc); streams_mu_
// guards the slots.
#ifndef RBFS_CLIENT_RPC_EXCHANGE_STREAMS_H_
#define RBFS_CLIENT_RPC_EXCHANGE_STREAMS_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "protos/rbfs.grpc.pb.h"

namespace rbfs {

class ExchangeCall;

class ExchangeStreams {
 public:
  // Runs once per request: the call's status (OK: `reply` is the server's
  // answer, valid only during the call).
  using Done = std::function<void(const grpc::Status&, StreamReply* reply)>;
  // Adds the credentials and session to a new stream's context.
  using PrepareContext = std::function<void(grpc::ClientContext&)>;

  // One stream per stub in `stubs`, which must outlive this object.
  ExchangeStreams(std::vector<Rbfs::StubInterface*> stubs,
                  PrepareContext prepare);
  // Ends the streams and waits until gRPC is done with them; requests still
  // outstanding fail with CANCELLED.
  ~ExchangeStreams();

  ExchangeStreams(const ExchangeStreams&) = delete;
  ExchangeStreams& operator=(const ExchangeStreams&) = delete;

  // Sends `request` (its id is set here) on the next stream. `request`
  // must stay valid and unchanged until `done` runs.
  void Submit(StreamRequest* request, absl::Time deadline, Done done);

  // Sends a request without a call, which a server that serves Exchange
  // answers with an empty reply: OK then, else the stream's failure
  // (UNIMPLEMENTED from a server without Exchange).
  grpc::Status Probe(absl::Time deadline);

  // What the streams have written so far: how well requests batch.
  struct Counters {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> batches{0};
    // Replies that arrived before the write carrying their request had
    // completed, and so waited for it.
    std::atomic<uint64_t> deferred{0};
  };
  const Counters& counters() const { return counters_; }

 private:
  // The live stream of `slot`, opened if it has none or it ended.
  std::shared_ptr<ExchangeCall> StreamOf(size_t slot)
      ABSL_LOCKS_EXCLUDED(streams_mu_);
  // Cancels every stream with a request past its deadline, once a second,
  // until stopping_.
  void WatchDeadlines() ABSL_LOCKS_EXCLUDED(streams_mu_);

  const std::vector<Rbfs::StubInterface*> stubs_;
  const PrepareContext prepare_;
  std::atomic<size_t> next_{0};
  Counters counters_;

  absl::Mutex streams_mu_;
  std::vector<std::shared_ptr<ExchangeCall>> streams_
      ABSL_GUARDED_BY(streams_mu_);
  bool stopping_ ABSL_GUARDED_BY(streams_mu_) = false;
  std::thread deadline_thread_;
};

// Where a unary call's request and reply go in the Exchange envelope. Only
// the calls named below ride the streams; the others (Fsync, which waits
// for the disk; StatFs and KeepAlive, which must not queue behind data) stay
// unary calls.
template <typename Request>
struct StreamCall {
  static constexpr bool kCarried = false;
};

#define RBFS_STREAM_CALL(RequestType, ReplyType, field, reply_field)        \
  template <>                                                               \
  struct StreamCall<RequestType> {                                          \
    static constexpr bool kCarried = true;                                  \
    using Reply = ReplyType;                                                \
    static RequestType* Mutable(StreamRequest* r) {                         \
      return r->mutable_##field();                                          \
    }                                                                       \
    static bool Has(const StreamReply& r) { return r.has_##reply_field(); } \
    static ReplyType* Get(StreamReply* r) {                                 \
      return r->mutable_##reply_field();                                    \
    }                                                                       \
  };
RBFS_STREAM_CALL(LookupRequest, EntryReply, lookup, entry)
RBFS_STREAM_CALL(GetAttrRequest, AttrReply, getattr, attr)
RBFS_STREAM_CALL(SetAttrRequest, AttrReply, setattr, attr)
RBFS_STREAM_CALL(MkNodRequest, EntryReply, mknod, entry)
RBFS_STREAM_CALL(MkDirRequest, EntryReply, mkdir, entry)
RBFS_STREAM_CALL(UnlinkRequest, ErrReply, unlink, err)
RBFS_STREAM_CALL(RmDirRequest, ErrReply, rmdir, err)
RBFS_STREAM_CALL(RenameRequest, ErrReply, rename, err)
RBFS_STREAM_CALL(LinkRequest, EntryReply, link, entry)
RBFS_STREAM_CALL(SymlinkRequest, EntryReply, symlink, entry)
RBFS_STREAM_CALL(ReadLinkRequest, ReadLinkReply, readlink, readlink)
RBFS_STREAM_CALL(ReadDirRequest, ReadDirReply, readdir, readdir)
RBFS_STREAM_CALL(OpenRequest, AttrReply, open, attr)
RBFS_STREAM_CALL(ReleaseRequest, ErrReply, release, err)
RBFS_STREAM_CALL(GetXattrRequest, XattrReply, getxattr, xattr)
RBFS_STREAM_CALL(ListXattrRequest, XattrReply, listxattr, xattr)
RBFS_STREAM_CALL(SetXattrRequest, AttrReply, setxattr, attr)
RBFS_STREAM_CALL(RemoveXattrRequest, AttrReply, removexattr, attr)
RBFS_STREAM_CALL(LockRequest, LockReply, lock, lock)
RBFS_STREAM_CALL(FallocateRequest, AttrReply, fallocate, attr)
RBFS_STREAM_CALL(SeekRequest, SeekReply, seek, seek)
RBFS_STREAM_CALL(CopyRangeRequest, WriteReply, copy_range, write)
#undef RBFS_STREAM_CALL

}  // namespace rbfs

#endif  // RBFS_CLIENT_RPC_EXCHANGE_STREAMS_H_
