#include "client/rpc/rpc_client.h"

#include <grpc/grpc.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "common/coherence.h"
#include "common/log.h"
#include "common/token_file.h"
#include "common/wire_limits.h"

namespace rbfs {

absl::Status FromGrpcStatus(const grpc::Status& status) {
  int err;
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return absl::OkStatus();
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      err = EAGAIN;
      break;
    case grpc::StatusCode::UNAUTHENTICATED:
      err = EACCES;
      break;
    case grpc::StatusCode::PERMISSION_DENIED:
      err = EPERM;
      break;
    default:
      err = EIO;
      break;
  }
  return ErrnoError(err, absl::StrCat("rpc failed: ", status.error_message()));
}

namespace {

// gRPC shuts its library down when its last object goes and starts it again
// with the next; in 1.51 a restart while the callback API's threads from the
// previous round are still exiting aborts the process. Holding one reference
// for the life of the process keeps it initialised.
void HoldGrpc() {
  static const bool kGrpcHeld = (grpc_init(), true);
  (void)kGrpcHeld;
}

uint64_t RandomSessionId() {
  absl::BitGen random;
  uint64_t id = 0;
  while (id == 0) id = absl::Uniform<uint64_t>(random);
  return id;
}

}  // namespace

RpcClient::RpcClient(const RpcOptions& options,
                     std::vector<std::unique_ptr<Rbfs::StubInterface>> stubs)
    : options_(options),
      retry_policy_(options.deadline, options.hard, &repeats_),
      authorization_(options.token.empty()
                         ? ""
                         : absl::StrCat(kBearerPrefix, options.token)),
      stubs_(std::move(stubs)),
      session_(options.session != 0 ? options.session : RandomSessionId()),
      session_value_(absl::StrCat(session_)) {
  HoldGrpc();
}

RpcClient::RpcClient(const RpcOptions& options) : RpcClient(options, {}) {
  const int channels = options.channels > 0 ? options.channels : 1;
  for (int i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxMessageBytes);
    args.SetMaxSendMessageSize(kMaxMessageBytes);
    // Without a private subchannel pool all channels share one connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    // Reconnect quickly after a server restart instead of gRPC's default
    // backoff of up to two minutes.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    if (!options.tls_server_name.empty()) {
      args.SetSslTargetNameOverride(options.tls_server_name);
    }
    channels_.push_back(grpc::CreateCustomChannel(
        options.target,
        options.credentials ? options.credentials
                            : grpc::InsecureChannelCredentials(),
        args));
    stubs_.push_back(Rbfs::NewStub(channels_.back()));
  }
  if (options.exchange_streams) {
    std::vector<Rbfs::StubInterface*> stubs;
    for (const auto& stub : stubs_) stubs.push_back(stub.get());
    exchange_streams_ = std::make_unique<ExchangeStreams>(
        std::move(stubs), [this](grpc::ClientContext& context) {
          PrepareStreamContext(context);
        });
  }
}

void RpcClient::GiveUpBy(absl::Time by) {
  const int64_t ns = absl::ToUnixNanos(by);
  int64_t current = give_up_by_ns_.load();
  while (ns < current && !give_up_by_ns_.compare_exchange_weak(current, ns)) {
  }
}

absl::Time RpcClient::give_up_by() const {
  const int64_t ns = give_up_by_ns_.load(std::memory_order_relaxed);
  return ns == kNever ? absl::InfiniteFuture() : absl::FromUnixNanos(ns);
}

void RpcClient::NoteHardRetry(const grpc::Status& status) {
  const int64_t now = absl::ToUnixNanos(absl::Now());
  int64_t last = last_hard_note_ns_.load();
  if (now - last < absl::ToInt64Nanoseconds(absl::Seconds(10)) ||
      !last_hard_note_ns_.compare_exchange_strong(last, now)) {
    return;
  }
  LogWarning("server %s not responding (%s), still trying (hard mount)",
             options_.target, status.error_message());
}

Rbfs::StubInterface& RpcClient::NextStub() {
  return *stubs_[next_.fetch_add(1, std::memory_order_relaxed) % stubs_.size()];
}

void RpcClient::PrepareContext(grpc::ClientContext& context,
                               absl::Time deadline) const {
  // The session's own calls (renewals, releases) come here without Attempt.
  context.set_deadline(absl::ToChronoTime(std::min(deadline, give_up_by())));
  // Wait out a server restart (bounded by the deadline) rather than failing
  // the moment the connection is down.
  context.set_wait_for_ready(true);
  PrepareStreamContext(context);
}

void RpcClient::PrepareStreamContext(grpc::ClientContext& context) const {
  if (!authorization_.empty()) {
    context.AddMetadata(std::string(kAuthorizationKey), authorization_);
  }
  context.AddMetadata(std::string(kSessionMetadataKey), session_value_);
}

absl::Status RpcClient::ProbeStreams(absl::Time deadline) {
  const grpc::Status status = exchange_streams_->Probe(deadline);
  if (status.ok()) return absl::OkStatus();
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    return ErrnoError(EPROTONOSUPPORT,
                      "the server does not serve Exchange streams (an "
                      "rbfs-server older than this mount?); mount it with "
                      "-o transport=unary");
  }
  return FromGrpcStatus(status);
}

void RpcClient::AwaitNextChannelUntil(absl::Time until) {
  if (channels_.empty()) {
    absl::SleepFor(until - absl::Now());
    return;
  }
  // The next attempt's channel, as NextStub() will pick it.
  channels_[next_.load() % channels_.size()]->WaitForConnected(
      absl::ToChronoTime(until));
}

absl::Status RpcClient::Handshake(StatFsReply* reply) {
  RetryPolicy::Attempts attempts = retry_policy_.BeginProbe(absl::Now());
  for (;;) {
    grpc::ClientContext context;
    PrepareContext(context, attempts.deadline());
    // Fail each attempt at once when the connection cannot be made, so the
    // transport's reason (refused, TLS handshake) is what gets reported.
    context.set_wait_for_ready(false);
    grpc::Status status = NextStub().StatFs(&context, StatFsRequest(), reply);
    if (status.ok()) {
      if (reply->err() != 0) return ErrnoError(reply->err());
      return exchange_streams_ == nullptr ? absl::OkStatus()
                                          : ProbeStreams(attempts.deadline());
    }
    if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
        status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
      return ErrnoError(
          status.error_code() == grpc::StatusCode::UNAUTHENTICATED ? EACCES
                                                                   : EPERM,
          absl::StrCat("the server refused this mount's credentials: ",
                       status.error_message()));
    }
    std::optional<RetryPolicy::Retry> retry =
        attempts.OnFailure(status, absl::Now());
    if (retry) {
      AwaitNextChannelUntil(retry->at);
      continue;
    }
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) {
      return FromGrpcStatus(status);
    }
    // gRPC 1.51 reports a failed TLS handshake only as a broken connection,
    // so name the likely causes.
    return ErrnoError(
        ETIMEDOUT,
        absl::StrCat("no connection within the deadline; check the address, "
                     "that rbfs-server runs, and that the TLS options match "
                     "the server's (tls_ca for a TLS server, "
                     "tls_cert/tls_key when it requires client "
                     "certificates). gRPC said: ",
                     status.error_message()));
  }
}

}  // namespace rbfs
