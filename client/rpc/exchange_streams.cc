#include "client/rpc/exchange_streams.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace rbfs {
namespace {

// How often requests' deadlines are checked (see the header).
constexpr absl::Duration kDeadlineCheck = absl::Seconds(1);

// A stream's end that repeating will not change: refused, or a server
// without Exchange.
bool Refuses(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         status.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
         status.error_code() == grpc::StatusCode::UNIMPLEMENTED;
}

// Gives back the requests a batch points at without owning them (see
// ExchangeCall: the batch must never delete or clear them).
void ReleaseAll(RequestBatch* batch) {
  while (batch->requests_size() > 0) {
    // Not ours to delete: the submitter keeps it.
    static_cast<void>(batch->mutable_requests()->ReleaseLast());
  }
}

}  // namespace

// One Exchange stream. Requests stay their submitters': a batch points at
// them (AddAllocated, given back with ReleaseAll before it is reused), so
// no payload is copied before gRPC serialises it. gRPC may read a request
// until the write that carries it completes, so a reply that overtakes that
// completion is held back (`deferred_`) until then; only then does its
// submitter get it back.
class ExchangeCall final
    : public grpc::ClientBidiReactor<RequestBatch, ReplyBatch> {
 public:
  static std::shared_ptr<ExchangeCall> Open(
      Rbfs::StubInterface* stub, const ExchangeStreams::PrepareContext& prepare,
      ExchangeStreams::Counters* counters) {
    auto call = std::shared_ptr<ExchangeCall>(new ExchangeCall(counters));
    // Like the unary calls: wait out a server restart, bounded by each
    // request's deadline.
    call->context_.set_wait_for_ready(true);
    prepare(call->context_);
    stub->async()->Exchange(&call->context_, call.get());
    {
      absl::MutexLock lock(&call->mu_);
      call->self_ = call;
    }
    call->StartRead(&call->reply_);
    call->StartCall();
    return call;
  }

  // Takes `request` (moving `done` from the caller) and writes it now or
  // with the next batch; false, leaving both, when the stream has ended.
  bool Submit(StreamRequest* request, absl::Time deadline,
              ExchangeStreams::Done& done) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (ended_) return false;
      const uint64_t id = next_id_++;
      request->set_id(id);
      pending_.emplace(id, Pending{request, deadline, std::move(done), true});
      if (writing_now_) {
        queued_.mutable_requests()->AddAllocated(request);
        return true;
      }
      writing_now_ = true;
      writing_.mutable_requests()->AddAllocated(request);
    }
    Write();
    return true;
  }

  bool ended() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return ended_;
  }

  // Cancels the stream when a request on it is past its deadline at `now`.
  void CancelIfLate(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (ended_) return;
      bool late = false;
      for (const auto& [id, pending] : pending_) {
        if (pending.deadline <= now) late = true;
      }
      if (!late) return;
      ended_ = true;
    }
    context_.TryCancel();
  }

  // Waits for the end of a stream that took no more requests (its OnDone
  // follows whatever ended it) and returns how it ended.
  grpc::Status AwaitEnd() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
    return end_;
  }

  // Ends the stream and waits until gRPC is done with it.
  void Close() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      ended_ = true;
    }
    context_.TryCancel();
    AwaitEnd();
  }

  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<Answered> ready;
    bool more = false;
    {
      absl::MutexLock lock(&mu_);
      for (const StreamRequest& request : writing_.requests()) {
        auto it = pending_.find(request.id());
        if (it != pending_.end()) it->second.in_batch = false;
      }
      ReleaseAll(&writing_);
      TakeDeferred(/*writes_finished=*/false, &ready);
      if (!ok) ended_ = true;  // the call broke; OnDone fails the rest
      if (!ended_ && queued_.requests_size() > 0) {
        writing_.Swap(&queued_);
        more = true;
      } else {
        writing_now_ = false;
      }
    }
    for (Answered& answered : ready) {
      answered.pending.done(grpc::Status::OK, &answered.reply);
    }
    if (more) Write();
  }

  void OnReadDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_) {
    if (!ok) {
      absl::MutexLock lock(&mu_);
      ended_ = true;
      return;  // OnDone follows
    }
    std::vector<std::pair<Pending, StreamReply*>> ready;
    {
      absl::MutexLock lock(&mu_);
      for (StreamReply& reply : *reply_.mutable_replies()) {
        auto it = pending_.find(reply.id());
        // No such request: it was failed already (its stream was cancelled
        // as this reply travelled).
        if (it == pending_.end()) continue;
        if (it->second.in_batch) {
          counters_->deferred.fetch_add(1, std::memory_order_relaxed);
          deferred_.push_back(std::move(reply));
          continue;
        }
        ready.emplace_back(std::move(it->second), &reply);
        pending_.erase(it);
      }
    }
    for (auto& [pending, reply] : ready) pending.done(grpc::Status::OK, reply);
    reply_.Clear();
    StartRead(&reply_);
  }

  void OnDone(const grpc::Status& status) override ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<Answered> answered;
    std::vector<Pending> failed;
    {
      absl::MutexLock lock(&mu_);
      ended_ = true;
      // gRPC has finished every write: nothing in a batch is read any more.
      ReleaseAll(&writing_);
      ReleaseAll(&queued_);
      TakeDeferred(/*writes_finished=*/true, &answered);
      for (auto& [id, pending] : pending_) failed.push_back(std::move(pending));
      pending_.clear();
    }
    for (Answered& a : answered) a.pending.done(grpc::Status::OK, &a.reply);
    const absl::Time now = absl::Now();
    const bool refused = Refuses(status);
    const grpc::Status broken(
        grpc::StatusCode::UNAVAILABLE,
        absl::StrCat("exchange stream ended: ", status.error_message()));
    for (Pending& pending : failed) {
      if (refused) {
        pending.done(status, nullptr);
      } else if (pending.deadline <= now) {
        pending.done(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                  "no reply within the deadline"),
                     nullptr);
      } else {
        pending.done(broken, nullptr);
      }
    }
    // The last touch of this object: whoever waits in Close may then drop
    // it, and `self` keeps it alive until this returns.
    std::shared_ptr<ExchangeCall> self;
    absl::MutexLock lock(&mu_);
    self = std::move(self_);
    end_ = status;
    done_ = true;
  }

 private:
  struct Pending {
    StreamRequest* request;
    absl::Time deadline;
    ExchangeStreams::Done done;
    // Still referenced by writing_ or queued_.
    bool in_batch;
  };
  struct Answered {
    Pending pending;
    StreamReply reply;
  };

  explicit ExchangeCall(ExchangeStreams::Counters* counters)
      : counters_(counters) {}

  // Moves the held-back replies whose request no write points at any more
  // (all of them once `writes_finished`) to `ready`, with their requests.
  void TakeDeferred(bool writes_finished, std::vector<Answered>* ready)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<StreamReply> still_deferred;
    for (StreamReply& reply : deferred_) {
      auto it = pending_.find(reply.id());
      if (it == pending_.end()) continue;
      if (it->second.in_batch && !writes_finished) {
        still_deferred.push_back(std::move(reply));
        continue;
      }
      ready->push_back(Answered{std::move(it->second), std::move(reply)});
      pending_.erase(it);
    }
    deferred_.swap(still_deferred);
  }

  // Counts the batch in writing_ and starts writing it.
  void Write() {
    counters_->batches.fetch_add(1, std::memory_order_relaxed);
    counters_->requests.fetch_add(writing_.requests_size(),
                                  std::memory_order_relaxed);
    StartWrite(&writing_);
  }

  ExchangeStreams::Counters* const counters_;

  grpc::ClientContext context_;
  // The read callbacks' (gRPC runs one at a time).
  ReplyBatch reply_;

  absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, Pending> pending_ ABSL_GUARDED_BY(mu_);
  // Submitted while a write was in flight; goes out with the next one.
  RequestBatch queued_ ABSL_GUARDED_BY(mu_);
  bool writing_now_ ABSL_GUARDED_BY(mu_) = false;
  // Takes no more requests: the call broke, was cancelled, or is closing.
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  // Replies whose request a write in flight still points at.
  std::vector<StreamReply> deferred_ ABSL_GUARDED_BY(mu_);
  // OnDone ran, and the status it got.
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status end_ ABSL_GUARDED_BY(mu_);
  // Owns the call until OnDone.
  std::shared_ptr<ExchangeCall> self_ ABSL_GUARDED_BY(mu_);
  // gRPC's while writing_now_; otherwise touched only under mu_.
  RequestBatch writing_;
};

ExchangeStreams::ExchangeStreams(std::vector<Rbfs::StubInterface*> stubs,
                                 PrepareContext prepare)
    : stubs_(std::move(stubs)),
      prepare_(std::move(prepare)),
      streams_(stubs_.size()) {
  deadline_thread_ = std::thread([this] { WatchDeadlines(); });
}

ExchangeStreams::~ExchangeStreams() {
  std::vector<std::shared_ptr<ExchangeCall>> streams;
  {
    absl::MutexLock lock(&streams_mu_);
    stopping_ = true;
    streams = streams_;
  }
  deadline_thread_.join();
  for (const std::shared_ptr<ExchangeCall>& call : streams) {
    if (call != nullptr) call->Close();
  }
}

std::shared_ptr<ExchangeCall> ExchangeStreams::StreamOf(size_t slot) {
  absl::MutexLock lock(&streams_mu_);
  if (stopping_) return nullptr;
  std::shared_ptr<ExchangeCall>& call = streams_[slot];
  if (call == nullptr || call->ended()) {
    call = ExchangeCall::Open(stubs_[slot], prepare_, &counters_);
  }
  return call;
}

void ExchangeStreams::Submit(StreamRequest* request, absl::Time deadline,
                             Done done) {
  const size_t slot =
      next_.fetch_add(1, std::memory_order_relaxed) % stubs_.size();
  // A stream can end between StreamOf and Submit; the second one is new.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::shared_ptr<ExchangeCall> call = StreamOf(slot);
    if (call == nullptr) {
      done(grpc::Status(grpc::StatusCode::CANCELLED, "the mount is closing"),
           nullptr);
      return;
    }
    if (call->Submit(request, deadline, done)) return;
    // It ended before taking the request; a refusal is the request's
    // answer too (a server refusing a token does so before any request).
    if (grpc::Status ended = call->AwaitEnd(); Refuses(ended)) {
      done(ended, nullptr);
      return;
    }
  }
  done(grpc::Status(grpc::StatusCode::UNAVAILABLE, "no exchange stream"),
       nullptr);
}

grpc::Status ExchangeStreams::Probe(absl::Time deadline) {
  StreamRequest empty;
  grpc::Status status;
  absl::Notification answered;
  Submit(&empty, deadline, [&](const grpc::Status& result, StreamReply*) {
    status = result;
    answered.Notify();
  });
  answered.WaitForNotification();
  return status;
}

void ExchangeStreams::WatchDeadlines() {
  for (;;) {
    std::vector<std::shared_ptr<ExchangeCall>> streams;
    {
      absl::MutexLock lock(&streams_mu_);
      if (streams_mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                                       kDeadlineCheck)) {
        return;
      }
      streams = streams_;
    }
    const absl::Time now = absl::Now();
    for (const std::shared_ptr<ExchangeCall>& call : streams) {
      if (call != nullptr) call->CancelIfLate(now);
    }
  }
}

}  // namespace rbfs
