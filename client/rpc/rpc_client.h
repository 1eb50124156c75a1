// RpcClient: the mount's connection to rbfs-server.
//
// It owns a small pool of channels used round-robin, because one HTTP/2
// connection caps its concurrent streams and chunks past the cap would queue
// silently. Every call carries a deadline (the mount's `deadline` option)
// and waits for the channel to become ready within it, so a call made while
// the server restarts succeeds once it is back. Calls that may be repeated
// (idempotent by nature, or numbered so the server answers a repeat from its
// call log) are retried with exponential backoff when the connection breaks
// under them (client/rpc/retry_policy.h). A soft mount (the default) gives
// up at the deadline with EIO; a hard mount retries them forever, each
// attempt bounded by the deadline, as an NFS hard mount does. Results are
// absl::Status values carrying the server's exact errno (or the transport's
// mapping of a gRPC failure).
#ifndef RBFS_CLIENT_RPC_RPC_CLIENT_H_
#define RBFS_CLIENT_RPC_RPC_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/rpc/exchange_streams.h"
#include "client/rpc/retry_policy.h"
#include "common/errno_status.h"
#include "protos/rbfs.grpc.pb.h"

namespace rbfs {

struct RpcOptions {
  std::string target;  // HOST:PORT
  int channels = 4;
  absl::Duration deadline = absl::Seconds(30);
  // Plaintext when null (see client/rpc/channel_security.h).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // Name the server's TLS certificate must carry, if not the target host.
  std::string tls_server_name;
  // Sent as "authorization: Bearer <token>" with every call when set.
  std::string token;
  // Retry repeatable calls forever instead of failing at the deadline.
  bool hard = false;
  // Carry reads, writes and the calls StreamCall names on Exchange
  // streams, one per channel (client/rpc/exchange_streams.h), instead of a
  // unary call each.
  bool exchange_streams = false;
  // The session every call and stream names ("rbfs-session" metadata: the
  // server keeps a session's own changes off its Watch stream); 0 picks a
  // random one.
  uint64_t session = 0;
};

// The errno a failed gRPC call stands for at the FUSE edge.
absl::Status FromGrpcStatus(const grpc::Status& status);

class RpcClient {
 public:
  // Connects `options.channels` channels to `options.target`.
  explicit RpcClient(const RpcOptions& options);
  // Uses `stubs` (at least one) instead of channels of its own: the seam for
  // unit tests, which pass fakes. `options.target` and the channel settings
  // are then unused.
  RpcClient(const RpcOptions& options,
            std::vector<std::unique_ptr<Rbfs::StubInterface>> stubs);

  RpcClient(const RpcClient&) = delete;
  RpcClient& operator=(const RpcClient&) = delete;

  // The next stub in round-robin order.
  Rbfs::StubInterface& NextStub();

  // The streams calls go on; null when every call is a unary one.
  ExchangeStreams* exchange_streams() { return exchange_streams_.get(); }
  const ExchangeStreams* exchange_streams() const {
    return exchange_streams_.get();
  }

  // The mount's deadline and hard/soft rule, for calls made elsewhere.
  const RetryPolicy& retry_policy() const { return retry_policy_; }
  // The repeats made by the calls of that rule, here and elsewhere.
  const Counter& repeats() const { return repeats_; }

  // The mount is going away (the kernel has unmounted it, so nobody waits
  // for what is still in flight): from now on no attempt of a blocking call
  // runs past `by` and none is repeated after it, on a hard mount too. Calls
  // still end sooner at their own deadlines. Only ever brought forward.
  void GiveUpBy(absl::Time by);

  // Prepares a ClientContext for one attempt of a call ending at `deadline`
  // (or at GiveUpBy's time, if sooner).
  void PrepareContext(grpc::ClientContext& context, absl::Time deadline) const;
  // Prepares the context of a long-lived stream: credentials and session,
  // no deadline.
  void PrepareStreamContext(grpc::ClientContext& context) const;

  // The session every call names, fixed at construction so that no call
  // or stream goes without it.
  uint64_t session() const { return session_; }

  // Checks that the server answers and accepts this client's credentials,
  // failing fast on refusals and reporting the transport's own words (a TLS
  // handshake failure, say) when it cannot be reached within the deadline;
  // with Exchange streams, also that the server serves them (else
  // EPROTONOSUPPORT, naming -o transport=unary).
  absl::Status Handshake(StatFsReply* reply);

  // A blocking unary call; the reply's own `err` becomes the status.
  template <typename Request, typename Reply>
  absl::Status Call(grpc::Status (Rbfs::StubInterface::*method)(
                        grpc::ClientContext*, const Request&, Reply*),
                    const Request& request, Reply* reply,
                    Idempotency idempotency) {
    if constexpr (StreamCall<Request>::kCarried) {
      if (exchange_streams_ != nullptr) {
        return CallOnStream(request, reply, idempotency);
      }
    }
    return Attempt(idempotency, reply, [&](absl::Time deadline) {
      grpc::ClientContext context;
      PrepareContext(context, deadline);
      return (NextStub().*method)(&context, request, reply);
    });
  }

 private:
  // Runs `attempt(deadline)` (a grpc::Status; `reply` filled when OK) by
  // the retry rule until it succeeds or the rule gives up; the reply's own
  // `err` becomes the status.
  template <typename Reply, typename AttemptFn>
  absl::Status Attempt(Idempotency idempotency, Reply* reply,
                       AttemptFn attempt) {
    RetryPolicy::Attempts attempts =
        retry_policy_.Begin(idempotency, absl::Now());
    for (;;) {
      const grpc::Status status =
          attempt(std::min(attempts.deadline(), give_up_by()));
      if (status.ok()) {
        return reply->err() == 0 ? absl::OkStatus() : ErrnoError(reply->err());
      }
      std::optional<RetryPolicy::Retry> retry =
          attempts.OnFailure(status, absl::Now());
      if (!retry || retry->at >= give_up_by()) return FromGrpcStatus(status);
      if (retry->hard_wait_began) NoteHardRetry(status);
      absl::SleepFor(retry->at - absl::Now());
    }
  }

  // Call, on the Exchange streams: the same attempts, deadlines and
  // retries.
  template <typename Request, typename Reply>
  absl::Status CallOnStream(const Request& request, Reply* reply,
                            Idempotency idempotency) {
    using Carried = StreamCall<Request>;
    static_assert(std::is_same_v<typename Carried::Reply, Reply>);
    StreamRequest envelope;
    *Carried::Mutable(&envelope) = request;
    return Attempt(idempotency, reply, [&](absl::Time deadline) {
      grpc::Status status;
      absl::Notification answered;
      exchange_streams_->Submit(
          &envelope, deadline,
          [&](const grpc::Status& result, StreamReply* got) {
            status = result;
            if (status.ok() && Carried::Has(*got)) {
              reply->Swap(Carried::Get(got));
            } else if (status.ok()) {
              status = grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                    "the server does not serve this call on "
                                    "its Exchange stream");
            }
            answered.Notify();
          });
      answered.WaitForNotification();
      return status;
    });
  }

  // Waits until the channel the next attempt goes on is connected, or
  // until `until`. Not a plain sleep: gRPC's synchronous API sees a
  // connection attempt's outcome only while some thread is inside gRPC, so
  // between fail-fast attempts nothing would notice the server come up
  // (measured: 3.3 s from the server's start to the mount's connection with
  // retries 1 s apart; 40 ms for a process started after the server).
  void AwaitNextChannelUntil(absl::Time until);

  // Handshake's check that the server answers on an Exchange stream.
  absl::Status ProbeStreams(absl::Time deadline);

  // Logs, rate-limited, that a hard mount keeps retrying.
  void NoteHardRetry(const grpc::Status& status);

  // GiveUpBy's time; the infinite future until it is called.
  absl::Time give_up_by() const;

  const RpcOptions options_;
  // Before retry_policy_, which counts into it.
  Counter repeats_;
  const RetryPolicy retry_policy_;
  // "Bearer <token>", built once: it goes with every chunk of every call.
  const std::string authorization_;
  // The real channels (none with stubs given by a test), stubs_' order.
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<Rbfs::StubInterface>> stubs_;
  std::atomic<size_t> next_{0};
  // Over stubs_, so it goes first.
  std::unique_ptr<ExchangeStreams> exchange_streams_;
  const uint64_t session_;
  // Its metadata value, formatted once since every call carries it.
  const std::string session_value_;
  std::atomic<int64_t> last_hard_note_ns_{0};
  // GiveUpBy's time in Unix nanoseconds; kNever until it is called.
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
  std::atomic<int64_t> give_up_by_ns_{kNever};
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_RPC_RPC_CLIENT_H_
