#include "server/rpc/exchange_reactor.h"

#include <utility>

namespace rbfs {

ExchangeReactor::ExchangeReactor(Handler handler)
    : handler_(std::move(handler)) {
  StartRead(&request_);
}

ExchangeReactor::ExchangeReactor(grpc::Status refusal) {
  {
    absl::MutexLock lock(&mu_);
    finished_ = true;
  }
  Finish(std::move(refusal));
}

void ExchangeReactor::OnReadDone(bool ok) {
  if (!ok) {
    {
      absl::MutexLock lock(&mu_);
      reads_ended_ = true;
    }
    MaybeFinish();
    return;
  }
  ReplyBatch replies;
  replies.mutable_replies()->Reserve(request_.requests_size());
  for (const StreamRequest& request : request_.requests()) {
    StreamReply* reply = replies.add_replies();
    reply->set_id(request.id());
    handler_(request, reply);
  }
  // Clear keeps the parsed messages and their buffers for the next batch.
  request_.Clear();
  Send(&replies);
  StartRead(&request_);
}

void ExchangeReactor::Send(ReplyBatch* replies) {
  {
    absl::MutexLock lock(&mu_);
    if (writing_now_) {
      for (StreamReply& reply : *replies->mutable_replies()) {
        *queued_.add_replies() = std::move(reply);
      }
      return;
    }
    writing_now_ = true;
  }
  writing_.Swap(replies);
  StartWrite(&writing_);
}

void ExchangeReactor::OnWriteDone(bool ok) {
  writing_.Clear();
  bool more = false;
  {
    absl::MutexLock lock(&mu_);
    // After a failed write the call is broken: the read side ends next.
    if (ok && queued_.replies_size() > 0) {
      writing_.Swap(&queued_);
      more = true;
    } else {
      writing_now_ = false;
    }
  }
  if (more) {
    StartWrite(&writing_);
    return;
  }
  MaybeFinish();
}

void ExchangeReactor::MaybeFinish() {
  {
    absl::MutexLock lock(&mu_);
    if (!reads_ended_ || writing_now_ || finished_) return;
    finished_ = true;
  }
  Finish(grpc::Status::OK);
}

void ExchangeReactor::OnDone() { delete this; }

}  // namespace rbfs
