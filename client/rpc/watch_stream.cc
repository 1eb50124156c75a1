#include "client/rpc/watch_stream.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "common/coherence.h"
#include "common/log.h"

namespace rbfs {
namespace {

// Holds per message at the opening: a kernel holding millions of inodes
// still fits gRPC's message limit.
constexpr int kHoldsPerMessage = 100000;

// Holds and drops wait this long for company before they are sent, so a
// burst of creates or forgets costs one message and one wake-up of the
// control thread, not one each; a late hold is caught up by the server
// from its as_of, a late drop costs at most a needless invalidation.
constexpr absl::Duration kQueueDelay = absl::Milliseconds(10);
// ... unless this many are queued.
constexpr size_t kQueueBatch = 4096;

}  // namespace

WatchStream::WatchStream(RpcClient* rpc, uint64_t session, Listener* listener,
                         const Options& options)
    : rpc_(rpc), session_(session), listener_(listener), options_(options) {}

WatchStream::~WatchStream() { Stop(); }

void WatchStream::Start() {
  control_ = std::thread([this] { ControlLoop(); });
}

void WatchStream::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  if (control_.joinable()) control_.join();
}

void WatchStream::Hold(uint64_t ino, uint64_t as_of) {
  absl::MutexLock lock(&mu_);
  if (open_) queued_.push_back(Queued{ino, true, as_of});
}

void WatchStream::Drop(uint64_t ino) {
  absl::MutexLock lock(&mu_);
  if (open_) queued_.push_back(Queued{ino, false, 0});
}

bool WatchStream::synced() const {
  absl::MutexLock lock(&mu_);
  return synced_;
}

std::vector<WatchRequest> WatchStream::TakeQueued() {
  std::vector<WatchRequest> messages;
  absl::flat_hash_set<uint64_t> named;
  for (const Queued& q : queued_) {
    if (messages.empty() || !named.insert(q.ino).second) {
      messages.emplace_back();
      named = {q.ino};
    }
    if (q.hold) {
      rbfs::Hold* hold = messages.back().add_holds();
      hold->set_ino(q.ino);
      hold->set_as_of(q.as_of);
    } else {
      messages.back().add_drops(q.ino);
    }
  }
  queued_.clear();
  return messages;
}

void WatchStream::ControlLoop() {
  absl::Duration backoff = options_.min_backoff;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    backoff = RunCall() ? options_.min_backoff
                        : std::min(backoff * 2, options_.max_backoff);
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
  }
}

uint64_t WatchStream::resyncs() const {
  absl::MutexLock lock(&mu_);
  return resyncs_;
}

bool WatchStream::RunCall() {
  grpc::ClientContext context;
  rpc_->PrepareStreamContext(context);
  std::unique_ptr<Stream> stream = rpc_->NextStub().Watch(&context);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      context.TryCancel();
      stream->Finish();
      return false;
    }
    open_ = true;
    synced_ = false;
    reader_done_ = false;
    queued_.clear();
    last_heard_ = absl::Now();
    heartbeat_ = kWatchHeartbeat;
    context_ = &context;
  }
  // Inodes the kernel gets from here on are queued as holds too; one held
  // twice is held once.
  std::vector<uint64_t> held = listener_->HeldInodes();
  bool writing = true;
  for (size_t first = 0; writing && (first == 0 || first < held.size());
       first += kHoldsPerMessage) {
    WatchRequest request;
    if (first == 0) request.set_session(session_);
    const size_t end = std::min(held.size(), first + kHoldsPerMessage);
    for (size_t i = first; i < end; ++i) request.add_holds()->set_ino(held[i]);
    writing = stream->Write(request);
  }
  std::thread reader([this, &stream] { ReadLoop(stream.get()); });
  bool silent = false;
  while (writing) {
    std::vector<WatchRequest> messages;
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stopping_ || reader_done_ || !queued_.empty();
      };
      mu_.AwaitWithDeadline(absl::Condition(&wake),
                            last_heard_ + heartbeat_ * kWatchSilentHeartbeats);
      if (!queued_.empty()) {
        auto batch = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return stopping_ || reader_done_ || queued_.size() >= kQueueBatch;
        };
        mu_.AwaitWithDeadline(
            absl::Condition(&batch),
            std::min(absl::Now() + kQueueDelay,
                     last_heard_ + heartbeat_ * kWatchSilentHeartbeats));
      }
      if (stopping_ || reader_done_) break;
      if (absl::Now() >= last_heard_ + heartbeat_ * kWatchSilentHeartbeats) {
        silent = true;
        break;
      }
      messages = TakeQueued();
    }
    for (const WatchRequest& message : messages) {
      if (!stream->Write(message)) {
        writing = false;
        break;
      }
    }
  }
  context.TryCancel();
  reader.join();
  const grpc::Status status = stream->Finish();
  bool was_synced;
  bool stopping;
  {
    absl::MutexLock lock(&mu_);
    was_synced = synced_;
    stopping = stopping_;
    open_ = false;
    synced_ = false;
    queued_.clear();
    context_ = nullptr;
  }
  // At Stop() the kernel is going away too: nothing to tell it.
  if (was_synced && !stopping) {
    if (silent) {
      LogWarning(
          "the server's change stream went silent; not trusting cached "
          "names and attributes until it is back");
    } else {
      LogWarning(
          "the server's change stream ended (%s); not trusting cached "
          "names and attributes until it is back",
          status.error_message());
    }
    listener_->OnLost();
  }
  return was_synced;
}

void WatchStream::ReadLoop(Stream* stream) {
  WatchReply reply;
  uint64_t expected = 1;
  while (stream->Read(&reply)) {
    if (reply.seq() != expected) {
      LogWarning("change stream skipped from %d to %d", expected, reply.seq());
      break;
    }
    ++expected;
    const bool opening = reply.seq() == 1;
    {
      absl::MutexLock lock(&mu_);
      last_heard_ = absl::Now();
      if (opening) {
        synced_ = true;
        if (ever_synced_) ++resyncs_;
        ever_synced_ = true;
        if (reply.heartbeat_ms() > 0) {
          heartbeat_ = absl::Milliseconds(reply.heartbeat_ms());
        }
      }
    }
    if (opening) listener_->OnSynced();
    if (reply.invalidations_size() > 0) listener_->OnInvalidations(reply);
    if (reply.commit_err() != 0) listener_->OnCommitError(reply.commit_err());
  }
  absl::MutexLock lock(&mu_);
  reader_done_ = true;
}

}  // namespace rbfs
