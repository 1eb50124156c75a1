#include "server/store/committer.h"

#include "common/log.h"

namespace rbfs {

Committer::Committer(BlockDevice* blocks, MetaStore* meta,
                     BlockAllocator* allocator, absl::Duration interval)
    : blocks_(blocks),
      meta_(meta),
      allocator_(allocator),
      interval_(interval),
      thread_([this] { Loop(); }) {}

Committer::~Committer() {
  {
    absl::MutexLock lock(&state_mu_);
    stopping_ = true;
  }
  thread_.join();
  if (absl::Status s = Sync(); !s.ok()) {
    LogError("final commit failed: %s", s.ToString());
  }
}

void Committer::MarkDirty() {
  absl::MutexLock lock(&state_mu_);
  dirty_ = true;
}

absl::Status Committer::CommitOnce() {
  allocator_->BeginCommit();
  if (absl::Status s = blocks_->Sync(); !s.ok()) return s;
  if (absl::Status s = meta_->Sync(); !s.ok()) return s;
  allocator_->ReleaseFreed();
  return absl::OkStatus();
}

absl::Status Committer::Sync() {
  uint64_t ticket;
  {
    absl::MutexLock lock(&state_mu_);
    ticket = ++requested_;
  }
  absl::MutexLock commit(&commit_mu_);
  uint64_t covers;
  {
    absl::MutexLock lock(&state_mu_);
    if (!failure_.ok()) return failure_;
    if (completed_ >= ticket) return absl::OkStatus();
    covers = requested_;
    dirty_ = false;
  }
  const absl::Time began = absl::Now();
  absl::Status status = CommitOnce();
  commit_latency_.ObserveDuration(absl::Now() - began);
  std::function<void(const absl::Status&)> listener;
  {
    absl::MutexLock lock(&state_mu_);
    if (status.ok()) {
      if (covers > completed_) completed_ = covers;
      return absl::OkStatus();
    }
    failure_ = status;
    failed_.store(true);
    listener = failure_listener_;
  }
  // Still under commit_mu_, which SetFailureListener waits for.
  if (listener) listener(status);
  return status;
}

void Committer::SetFailureListener(
    std::function<void(const absl::Status&)> listener) {
  // As Sync orders them: a listener being called (under commit_mu_) has
  // returned before it is replaced, so its owner may go once this returns.
  absl::MutexLock commit(&commit_mu_);
  absl::MutexLock lock(&state_mu_);
  failure_listener_ = std::move(listener);
}

absl::Status Committer::failure() {
  if (!failed_.load(std::memory_order_relaxed)) return absl::OkStatus();
  absl::MutexLock lock(&state_mu_);
  return failure_;
}

void Committer::Loop() {
  absl::MutexLock lock(&state_mu_);
  while (!stopping_) {
    state_mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_);
    if (stopping_ || !dirty_) continue;
    state_mu_.Unlock();
    if (absl::Status s = Sync(); !s.ok()) {
      LogError("background commit failed: %s", s.ToString());
    }
    state_mu_.Lock();
  }
}

}  // namespace rbfs
