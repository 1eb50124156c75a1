#include "server/rpc/change_hub.h"

#include <algorithm>
#include <utility>

namespace rbfs {

ChangeHub::ChangeHub(Options options) : options_(options) {
  absl::MutexLock lock(&mu_);
  ring_.resize(std::max<size_t>(options_.ring_size, 1));
}

ChangeHub::~ChangeHub() { Shutdown(); }

ChangeHub::Watcher* ChangeHub::Find(WatcherId id) {
  auto it = watchers_.find(id);
  return it == watchers_.end() ? nullptr : &it->second;
}

void ChangeHub::WakeLocked(Watcher* w, std::vector<Watcher*>* notify) {
  if (!w->wants_notify) return;
  w->wants_notify = false;
  ++w->notifying;
  notify->push_back(w);
}

bool ChangeHub::QueueLocked(Watcher* w, const Change& change,
                            std::vector<Watcher*>* notify) {
  if (w->pending.size() >= options_.queue_limit) return false;
  w->pending.push_back(change);
  queued_.fetch_add(1, std::memory_order_relaxed);
  WakeLocked(w, notify);
  return true;
}

void ChangeHub::RemoveHolderLocked(uint64_t ino, Watcher* w) {
  auto it = holders_.find(ino);
  if (it == holders_.end()) return;
  std::vector<Watcher*>& list = it->second;
  auto pos = std::find(list.begin(), list.end(), w);
  if (pos != list.end()) {
    *pos = list.back();
    list.pop_back();
  }
  if (list.empty()) holders_.erase(it);
}

void ChangeHub::EndLocked(Watcher* w, WatcherEnd why,
                          std::vector<Watcher*>* notify) {
  if (w->end != WatcherEnd::kOpen) return;
  w->end = why;
  RemoveHolderLocked(kRootIno, w);
  for (uint64_t ino : w->holds) RemoveHolderLocked(ino, w);
  w->holds.clear();
  w->pending.clear();
  auto it = by_session_.find(w->session);
  if (it != by_session_.end() && it->second == w) by_session_.erase(it);
  WakeLocked(w, notify);
}

void ChangeHub::NotifyAll(const std::vector<Watcher*>& watchers) {
  if (watchers.empty()) return;
  // Detach waits for notifying to drop to 0, so w and its notify stay valid.
  for (Watcher* w : watchers) w->notify();
  absl::MutexLock lock(&mu_);
  for (Watcher* w : watchers) --w->notifying;
}

void ChangeHub::Publish(uint64_t origin_session,
                        absl::Span<const Change> changes) {
  std::vector<Watcher*> notify;
  absl::flat_hash_set<Watcher*> overflowed;
  {
    absl::MutexLock lock(&mu_);
    uint64_t seq = sequence_.load(std::memory_order_relaxed);
    for (const Change& change : changes) {
      ring_[ring_next_].origin_session = origin_session;
      ring_[ring_next_].change = change;
      ring_next_ = (ring_next_ + 1) % ring_.size();
      ring_count_ = std::min(ring_count_ + 1, ring_.size());
      ++seq;
      auto it = holders_.find(change.ino);
      if (it == holders_.end()) continue;
      for (Watcher* w : it->second) {
        if (w->session != origin_session && !overflowed.contains(w) &&
            !QueueLocked(w, change, &notify)) {
          overflowed.insert(w);
        }
      }
    }
    // Ending a watcher edits holders_, hence after the walk.
    for (Watcher* w : overflowed) {
      EndLocked(w, WatcherEnd::kOverflowed, &notify);
    }
    sequence_.store(seq, std::memory_order_release);
  }
  NotifyAll(notify);
}

bool ChangeHub::HeldByOthers(uint64_t origin_session, uint64_t ino) const {
  absl::MutexLock lock(&mu_);
  auto it = holders_.find(ino);
  if (it == holders_.end()) return false;
  return std::any_of(it->second.begin(), it->second.end(),
                     [&](Watcher* w) { return w->session != origin_session; });
}

WatcherId ChangeHub::Attach(uint64_t session, std::function<void()> notify) {
  std::vector<Watcher*> to_notify;
  WatcherId id;
  {
    absl::MutexLock lock(&mu_);
    id = next_id_++;
    Watcher& w = watchers_[id];
    w.session = session;
    w.notify = std::move(notify);
    w.last_taken = absl::Now();
    if (shut_down_) {
      w.end = WatcherEnd::kShutDown;
      return id;
    }
    auto older = by_session_.find(session);
    if (older != by_session_.end()) {
      EndLocked(older->second, WatcherEnd::kReplaced, &to_notify);
    }
    by_session_[session] = &w;
    holders_[kRootIno].push_back(&w);
    if (!heartbeat_started_ && options_.heartbeat > absl::ZeroDuration()) {
      heartbeat_started_ = true;
      heartbeat_thread_ = std::thread([this] { HeartbeatLoop(); });
    }
  }
  NotifyAll(to_notify);
  return id;
}

void ChangeHub::Hold(WatcherId watcher, uint64_t ino, uint64_t as_of) {
  std::vector<Watcher*> notify;
  {
    absl::MutexLock lock(&mu_);
    Watcher* w = Find(watcher);
    if (w == nullptr || w->end != WatcherEnd::kOpen) return;
    if (ino != kRootIno && w->holds.insert(ino).second) {
      holders_[ino].push_back(w);
    }
    const uint64_t seq = sequence_.load(std::memory_order_relaxed);
    if (as_of == 0 || as_of == seq) return;
    const uint64_t oldest = seq - ring_count_ + 1;
    if (as_of > seq || as_of + 1 < oldest) {
      if (!QueueLocked(w, Change::All(ino), &notify)) {
        EndLocked(w, WatcherEnd::kOverflowed, &notify);
      }
    } else {
      // Changes as_of+1 .. seq sit at the ring's last seq-as_of slots.
      const size_t n = seq - as_of;
      size_t index = (ring_next_ + ring_.size() - n) % ring_.size();
      for (size_t i = 0; i < n; ++i, index = (index + 1) % ring_.size()) {
        const Recent& recent = ring_[index];
        if (recent.change.ino == ino && recent.origin_session != w->session &&
            !QueueLocked(w, recent.change, &notify)) {
          EndLocked(w, WatcherEnd::kOverflowed, &notify);
          break;
        }
      }
    }
  }
  NotifyAll(notify);
}

void ChangeHub::Drop(WatcherId watcher, uint64_t ino) {
  absl::MutexLock lock(&mu_);
  Watcher* w = Find(watcher);
  if (w == nullptr || ino == kRootIno || w->holds.erase(ino) == 0) return;
  RemoveHolderLocked(ino, w);
}

void ChangeHub::Detach(WatcherId watcher) {
  absl::MutexLock lock(&mu_);
  Watcher* w = Find(watcher);
  if (w == nullptr) return;
  // Nobody is notified of an end they asked for: no notify is collected.
  w->wants_notify = false;
  std::vector<Watcher*> none;
  EndLocked(w, WatcherEnd::kShutDown, &none);
  mu_.Await(absl::Condition(
      +[](Watcher* w) { return w->notifying == 0; }, w));
  watchers_.erase(watcher);
}

void ChangeHub::TakePending(WatcherId watcher, WatchBatch* batch) {
  batch->changes.clear();
  batch->heartbeat_due = false;
  absl::MutexLock lock(&mu_);
  Watcher* w = Find(watcher);
  if (w == nullptr) {
    batch->end = WatcherEnd::kShutDown;
    return;
  }
  batch->end = w->end;
  batch->commit_err = commit_err_;
  w->wants_notify = true;
  if (w->end != WatcherEnd::kOpen) return;
  batch->changes.swap(w->pending);
  batch->heartbeat_due = w->heartbeat_due;
  w->heartbeat_due = false;
  if (!batch->changes.empty() || batch->heartbeat_due) {
    w->last_taken = absl::Now();
  }
}

void ChangeHub::SetCommitError(int err) {
  std::vector<Watcher*> notify;
  {
    absl::MutexLock lock(&mu_);
    if (commit_err_ != 0) return;
    commit_err_ = err;
    for (auto& [id, w] : watchers_) {
      if (w.end != WatcherEnd::kOpen) continue;
      w.heartbeat_due = true;
      WakeLocked(&w, &notify);
    }
  }
  NotifyAll(notify);
}

int ChangeHub::commit_err() const {
  absl::MutexLock lock(&mu_);
  return commit_err_;
}

void ChangeHub::Shutdown() {
  std::vector<Watcher*> notify;
  std::thread heartbeat;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    for (auto& [id, w] : watchers_) {
      EndLocked(&w, WatcherEnd::kShutDown, &notify);
    }
    heartbeat = std::move(heartbeat_thread_);
  }
  NotifyAll(notify);
  if (heartbeat.joinable()) heartbeat.join();
}

bool ChangeHub::ShutDownOrWatched() const {
  return shut_down_ || !watchers_.empty();
}

size_t ChangeHub::WatcherCount() const {
  absl::MutexLock lock(&mu_);
  return by_session_.size();
}

void ChangeHub::HeartbeatLoop() {
  // Ticks four times a heartbeat and asks for one from a watcher idle for
  // three quarters of it, so no stream stays silent for longer than
  // heartbeat (plus the time to send).
  const absl::Duration tick = options_.heartbeat / 4;
  const absl::Duration idle = options_.heartbeat - tick;
  mu_.Lock();
  for (;;) {
    // Without watchers the thread sleeps until one comes (no idle ticks).
    mu_.Await(absl::Condition(this, &ChangeHub::ShutDownOrWatched));
    if (mu_.AwaitWithTimeout(absl::Condition(&shut_down_), tick)) break;
    const absl::Time now = absl::Now();
    std::vector<Watcher*> notify;
    for (auto& [id, w] : watchers_) {
      if (w.end != WatcherEnd::kOpen || w.heartbeat_due ||
          now - w.last_taken < idle) {
        continue;
      }
      w.heartbeat_due = true;
      WakeLocked(&w, &notify);
    }
    mu_.Unlock();
    NotifyAll(notify);
    mu_.Lock();
  }
  mu_.Unlock();
}

}  // namespace rbfs
