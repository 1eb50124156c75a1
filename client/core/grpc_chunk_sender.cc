#include "client/core/grpc_chunk_sender.h"

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "client/rpc/retry_policy.h"
#include "common/errno_status.h"

namespace rbfs {
namespace {

// One chunk's RPC across its attempts. It owns itself from Send() until the
// final completion, which hands the outcome to the IoContext.
class ChunkCall {
 public:
  ChunkCall(RpcClient* rpc, InflightLimiter* limiter, const InodeId& id,
            std::shared_ptr<IoContext> context, size_t index,
            std::shared_ptr<ReplyAttrs> attrs, bool kill_suidgid)
      : rpc_(rpc),
        limiter_(limiter),
        context_(std::move(context)),
        attrs_(std::move(attrs)),
        index_(index),
        attempts_(
            rpc->retry_policy().Begin(Idempotency::kIdempotent, absl::Now())) {
    IoContext::Chunk& chunk = context_->chunk(index_);
    if (context_->direction() == IoContext::Direction::kWrite) {
      WriteRequest* write = request_.mutable_write();
      *write->mutable_id() = id;
      write->set_offset(chunk.offset);
      write->set_kill_suidgid(kill_suidgid);
      write->mutable_data()->swap(chunk.buffer);
    } else {
      ReadRequest* read = request_.mutable_read();
      *read->mutable_id() = id;
      read->set_offset(chunk.offset);
      read->set_length(chunk.length);
      // Parsing reuses the string's capacity, so the pooled buffer receives
      // the data.
      read_reply_.mutable_data()->swap(chunk.buffer);
    }
  }

  void Issue() {
    if (ExchangeStreams* streams = rpc_->exchange_streams()) {
      // `this` may be gone when Submit returns (it can fail at once).
      streams->Submit(&request_, attempts_.deadline(),
                      [this](const grpc::Status& status, StreamReply* reply) {
                        OnDone(status.ok() ? TakeReply(reply) : status);
                      });
      return;
    }
    grpc_context_ = std::make_unique<grpc::ClientContext>();
    rpc_->PrepareContext(*grpc_context_, attempts_.deadline());
    auto done = [this](grpc::Status status) { OnDone(std::move(status)); };
    if (context_->direction() == IoContext::Direction::kWrite) {
      rpc_->NextStub().async()->Write(grpc_context_.get(), &request_.write(),
                                      &write_reply_, std::move(done));
    } else {
      rpc_->NextStub().async()->Read(grpc_context_.get(), &request_.read(),
                                     &read_reply_, std::move(done));
    }
  }

 private:
  // Moves the stream's answer into the reply the unary call would have
  // filled; a server that does not know the request answers without one.
  grpc::Status TakeReply(StreamReply* reply) {
    if (context_->direction() == IoContext::Direction::kWrite &&
        reply->has_write()) {
      write_reply_.Swap(reply->mutable_write());
      return grpc::Status::OK;
    }
    if (context_->direction() == IoContext::Direction::kRead &&
        reply->has_read()) {
      read_reply_.Swap(reply->mutable_read());
      return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        "the server does not serve this request on its "
                        "Exchange stream");
  }

  void OnDone(grpc::Status status) {
    // A positional read or write may be repeated.
    if (!status.ok()) {
      std::optional<RetryPolicy::Retry> retry =
          attempts_.OnFailure(status, absl::Now());
      if (retry) {
        alarms_.push_back(std::make_unique<grpc::Alarm>());
        alarms_.back()->Set(absl::ToChronoTime(retry->at),
                            [this](bool) { Issue(); });
        return;
      }
    }
    IoContext::Chunk& chunk = context_->chunk(index_);
    absl::Status result = FromGrpcStatus(status);
    size_t transferred = 0;
    if (context_->direction() == IoContext::Direction::kWrite) {
      chunk.buffer.swap(*request_.mutable_write()->mutable_data());
      if (result.ok() && write_reply_.err() != 0) {
        result = ErrnoError(write_reply_.err());
      }
      transferred = write_reply_.written();
      if (result.ok() && attrs_ != nullptr && write_reply_.has_attr()) {
        attrs_->Offer(write_reply_.attr());
      }
    } else {
      chunk.buffer.swap(*read_reply_.mutable_data());
      if (result.ok() && read_reply_.err() != 0) {
        result = ErrnoError(read_reply_.err());
      }
      transferred = result.ok() ? chunk.buffer.size() : 0;
      if (result.ok() && attrs_ != nullptr && read_reply_.has_attr()) {
        attrs_->Offer(read_reply_.attr());
      }
    }
    limiter_->Release();
    context_->CompleteChunk(index_, result, transferred);
    delete this;
  }

  RpcClient* const rpc_;
  InflightLimiter* const limiter_;
  const std::shared_ptr<IoContext> context_;
  const std::shared_ptr<ReplyAttrs> attrs_;
  const size_t index_;
  RetryPolicy::Attempts attempts_;
  std::unique_ptr<grpc::ClientContext> grpc_context_;
  // Alarms live until the call ends: one may still be returning from its
  // callback when the retried RPC completes.
  std::vector<std::unique_ptr<grpc::Alarm>> alarms_;
  // The read or the write, in the envelope an Exchange stream carries (the
  // unary call sends its inner message).
  StreamRequest request_;
  ReadReply read_reply_;
  WriteReply write_reply_;
};

}  // namespace

void ReplyAttrs::Offer(const Attr& attr) {
  absl::MutexLock lock(&mu_);
  if (latest_.has_value() &&
      std::make_tuple(attr.ctime().sec(), attr.ctime().nsec(),
                      attr.atime().sec(), attr.atime().nsec()) <
          std::make_tuple(latest_->ctime().sec(), latest_->ctime().nsec(),
                          latest_->atime().sec(), latest_->atime().nsec())) {
    return;
  }
  latest_ = attr;
}

std::optional<Attr> ReplyAttrs::Latest() const {
  absl::MutexLock lock(&mu_);
  return latest_;
}

void GrpcChunkSender::Send(std::shared_ptr<IoContext> context, size_t index) {
  ChunkCall* call = new ChunkCall(rpc_, limiter_, id_, std::move(context),
                                  index, attrs_, kill_suidgid_);
  limiter_->Submit([call] { call->Issue(); });
}

}  // namespace rbfs
