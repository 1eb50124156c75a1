#include "server/rpc/watch_reactor.h"

#include <utility>

#include "absl/time/time.h"
#include "common/coherence.h"

namespace rbfs {
namespace {

grpc::Status StatusOf(WatcherEnd end) {
  switch (end) {
    case WatcherEnd::kReplaced:
      return grpc::Status(grpc::StatusCode::ABORTED,
                          "a newer Watch stream of this session replaced it");
    case WatcherEnd::kOverflowed:
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "too many invalidations queued for this stream");
    case WatcherEnd::kShutDown:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the server is shutting down");
    case WatcherEnd::kOpen:
      break;
  }
  return grpc::Status::OK;
}

Invalidation::Kind KindOf(Change::Kind kind) {
  switch (kind) {
    case Change::Kind::kEntry:
      return Invalidation::ENTRY;
    case Change::Kind::kAttr:
      return Invalidation::ATTR;
    case Change::Kind::kData:
      return Invalidation::DATA;
    case Change::Kind::kAll:
      return Invalidation::ALL;
  }
  return Invalidation::ALL;
}

}  // namespace

WatchReactor::WatchReactor(ChangeHub* hub) : hub_(hub) { StartRead(&request_); }

WatchReactor::WatchReactor(grpc::Status refusal) : hub_(nullptr) {
  {
    absl::MutexLock lock(&mu_);
    end_ = refusal;
    finished_ = true;
  }
  Finish(std::move(refusal));
}

WatcherId WatchReactor::watcher() {
  absl::MutexLock lock(&mu_);
  return watcher_;
}

void WatchReactor::OnReadDone(bool ok) {
  if (!ok) {
    // The mount closed its side (or the call broke, which OnCancel says).
    End(grpc::Status::OK);
    return;
  }
  if (!started_) {
    started_ = true;
    if (request_.session() == 0) {
      End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       "the first Watch message must name its session"));
      return;
    }
    const WatcherId id = hub_->Attach(request_.session(), [this] { Pump(); });
    absl::MutexLock lock(&mu_);
    watcher_ = id;
    attached_ = true;
  }
  const WatcherId id = watcher();
  for (const Hold& hold : request_.holds()) {
    hub_->Hold(id, hold.ino(), hold.as_of());
  }
  for (uint64_t ino : request_.drops()) hub_->Drop(id, ino);
  Pump();
  {
    absl::MutexLock lock(&mu_);
    if (end_.has_value()) return;
  }
  StartRead(&request_);
}

void WatchReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
  }
  if (!ok) End(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
  Pump();
}

void WatchReactor::OnCancel() {
  End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
}

void WatchReactor::OnDone() {
  bool attached;
  WatcherId id;
  {
    absl::MutexLock lock(&mu_);
    attached = attached_;
    id = watcher_;
  }
  if (attached) hub_->Detach(id);
  delete this;
}

void WatchReactor::End(grpc::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    if (!end_.has_value()) end_ = std::move(status);
    // OnWriteDone comes back here through Pump.
    if (writing_) return;
    finished_ = true;
    status = *end_;
  }
  Finish(std::move(status));
}

void WatchReactor::Pump() {
  std::optional<grpc::Status> finish;
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || writing_) return;
    if (end_.has_value()) {
      finish = *end_;
    } else if (!attached_) {
      return;
    } else if (seq_ == 0) {
      reply_.Clear();
      reply_.set_heartbeat_ms(absl::ToInt64Milliseconds(kWatchHeartbeat));
      reply_.set_commit_err(hub_->commit_err());
    } else {
      hub_->TakePending(watcher_, &batch_);
      if (batch_.end != WatcherEnd::kOpen) {
        end_ = StatusOf(batch_.end);
        finish = *end_;
      } else if (batch_.changes.empty() && !batch_.heartbeat_due) {
        return;
      } else {
        reply_.Clear();
        reply_.set_commit_err(batch_.commit_err);
        for (Change& change : batch_.changes) {
          Invalidation* inval = reply_.add_invalidations();
          inval->set_kind(KindOf(change.kind));
          inval->set_ino(change.ino);
          if (change.kind == Change::Kind::kEntry) {
            inval->set_name(std::move(change.name));
          }
        }
      }
    }
    if (finish.has_value()) {
      finished_ = true;
    } else {
      reply_.set_seq(++seq_);
      writing_ = true;
    }
  }
  if (finish.has_value()) {
    Finish(std::move(*finish));
  } else {
    StartWrite(&reply_);
  }
}

}  // namespace rbfs
