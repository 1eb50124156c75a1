#include "client/rpc/client_session.h"

#include <fcntl.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "common/errno_status.h"
#include "common/log.h"

namespace rbfs {
namespace {

// Session calls are single attempts bounded even on a hard mount: the
// renewal thread must stay responsive, and it tries again itself.
constexpr absl::Duration kSessionCallDeadline = absl::Seconds(5);

}  // namespace

ClientSession::ClientSession(RpcClient* rpc) : rpc_(rpc), id_(rpc->session()) {}

ClientSession::~ClientSession() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ClientSession::BeginCall(CallId* call) {
  absl::MutexLock lock(&mu_);
  call->set_session(id_);
  call->set_seq(next_seq_++);
  running_calls_.insert(call->seq());
}

void ClientSession::EndCall(const CallId& call) {
  absl::MutexLock lock(&mu_);
  running_calls_.erase(call.seq());
}

uint64_t ClientSession::NewHandle() {
  absl::MutexLock lock(&mu_);
  return next_handle_++;
}

void ClientSession::Opened(uint64_t handle, const InodeId& id, uint32_t flags) {
  absl::MutexLock lock(&mu_);
  handles_[handle] = Handle{id, flags};
}

void ClientSession::Released(uint64_t handle) {
  absl::MutexLock lock(&mu_);
  handles_.erase(handle);
}

bool ClientSession::Holds(uint64_t handle) const {
  absl::MutexLock lock(&mu_);
  return handles_.contains(handle);
}

void ClientSession::Start() {
  thread_ = std::thread([this] { Loop(); });
}

template <typename Request, typename Reply>
grpc::Status ClientSession::CallOnce(
    grpc::Status (Rbfs::StubInterface::*method)(grpc::ClientContext*,
                                                const Request&, Reply*),
    const Request& request, Reply* reply) {
  grpc::ClientContext context;
  rpc_->PrepareContext(context,
                       absl::Now() + std::min(rpc_->retry_policy().deadline(),
                                              kSessionCallDeadline));
  return (rpc_->NextStub().*method)(&context, request, reply);
}

bool ClientSession::Renew() {
  KeepAliveRequest request;
  request.set_session(id_);
  {
    absl::MutexLock lock(&mu_);
    request.set_answered_below(
        running_calls_.empty() ? next_seq_ : *running_calls_.begin());
  }
  KeepAliveReply reply;
  grpc::Status status =
      CallOnce(&Rbfs::StubInterface::KeepAlive, request, &reply);
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    LogWarning(
        "the server has no sessions; open files are not re-registered "
        "after its restarts");
    absl::MutexLock lock(&mu_);
    period_ = absl::InfiniteDuration();
    return true;
  }
  if (!status.ok()) return false;
  if (reply.err() != 0) {
    LogWarning("keep-alive refused: %s", ErrnoError(reply.err()).ToString());
    return false;
  }
  if (reply.lease_ms() > 0) {
    absl::MutexLock lock(&mu_);
    period_ = absl::Milliseconds(reply.lease_ms()) / 3;
  }
  if (!reply.known()) rejoins_.fetch_add(1, std::memory_order_relaxed);
  // The thread alone touches reclaim_pending_.
  if (!reply.known() || reclaim_pending_) {
    reclaim_pending_ = !Reclaim() || !ReclaimLocks();
  }
  return true;
}

bool ClientSession::Reclaim() {
  std::vector<std::pair<uint64_t, Handle>> held;
  {
    absl::MutexLock lock(&mu_);
    held.assign(handles_.begin(), handles_.end());
  }
  if (held.empty()) return true;
  int lost = 0;
  for (const auto& [handle, h] : held) {
    OpenRequest request;
    *request.mutable_id() = h.id;
    request.set_flags(h.flags & ~(O_TRUNC | O_CREAT | O_EXCL));
    request.set_session(id_);
    request.set_handle(handle);
    request.set_reclaim(true);
    AttrReply reply;
    grpc::Status status = CallOnce(&Rbfs::StubInterface::Open, request, &reply);
    if (!status.ok()) {
      // The server went away again: the next renewal starts over.
      LogWarning("re-registering open files: %s", status.error_message());
      return false;
    }
    if (reply.err() != 0) {
      // ESTALE: the file was freed meanwhile (the mount was cut off for
      // longer than the lease); its reads and writes will say so.
      ++lost;
      continue;
    }
    // Released while the reclaim was on its way: undo it.
    if (!Holds(handle)) ReleaseOnServer(handle, h.id);
  }
  LogInfo("re-registered %d of %d open files with the server",
          held.size() - lost, held.size());
  return true;
}

void ClientSession::LockGranted(const LockRequest& granted) {
  absl::MutexLock lock(&mu_);
  const std::pair<uint64_t, bool> key{granted.id().ino(), granted.flock()};
  Locked& locked = locks_[key];
  locked.id = granted.id();
  // The server granted only types it knows.
  locked.set.Apply(LockOwner{id_, granted.owner()},
                   LockTypeOfFcntl(granted.type()).value_or(LockType::kUnlock),
                   granted.start(), granted.end(), granted.pid());
  if (locked.set.empty()) locks_.erase(key);
}

bool ClientSession::HoldsLocks(uint64_t ino, bool flock, uint64_t owner) const {
  absl::MutexLock lock(&mu_);
  auto it = locks_.find(std::make_pair(ino, flock));
  if (it == locks_.end()) return false;
  const std::vector<HeldLock>& held = it->second.set.locks();
  return std::any_of(held.begin(), held.end(), [owner](const HeldLock& h) {
    return h.owner.owner == owner;
  });
}

bool ClientSession::ReclaimLocks() {
  std::vector<LockRequest> held;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, locked] : locks_) {
      for (const HeldLock& h : locked.set.locks()) {
        LockRequest request;
        *request.mutable_id() = locked.id;
        request.set_session(id_);
        request.set_owner(h.owner.owner);
        request.set_flock(key.second);
        request.set_type(FcntlTypeOf(h.type));
        request.set_start(h.start);
        request.set_end(h.end);
        request.set_pid(h.pid);
        request.set_reclaim(true);
        held.push_back(std::move(request));
      }
    }
  }
  if (held.empty()) return true;
  int lost = 0;
  for (const LockRequest& request : held) {
    LockReply reply;
    grpc::Status status = CallOnce(&Rbfs::StubInterface::Lock, request, &reply);
    if (!status.ok()) {
      LogWarning("re-asserting locks: %s", status.error_message());
      return false;
    }
    if (reply.err() != 0) {
      // Another mount took it after the grace period (this mount was cut
      // off for longer) or the file is gone: its owner no longer holds it.
      ++lost;
      LockRequest gone = request;
      gone.set_type(F_UNLCK);
      LockGranted(gone);
    }
  }
  if (lost > 0) {
    LogWarning("%d of %d locks could not be re-asserted: lost", lost,
               held.size());
  } else {
    LogInfo("re-asserted %d locks with the server", held.size());
  }
  return true;
}

bool ClientSession::ReleaseOnServer(uint64_t handle, const InodeId& id) {
  ReleaseRequest request;
  *request.mutable_id() = id;
  request.set_session(id_);
  request.set_handle(handle);
  ErrReply reply;
  grpc::Status status =
      CallOnce(&Rbfs::StubInterface::Release, request, &reply);
  if (!status.ok()) {
    // The server releases it when the session's lease runs out.
    LogWarning("release of inode %d failed: %s", id.ino(),
               status.error_message());
  }
  return status.ok();
}

void ClientSession::ReleaseAll() {
  std::vector<std::pair<uint64_t, Handle>> held;
  {
    absl::MutexLock lock(&mu_);
    held.assign(handles_.begin(), handles_.end());
    handles_.clear();
  }
  // Give up at the first failure: the server is away, and the lease will
  // release the rest.
  for (const auto& [handle, h] : held) {
    if (!ReleaseOnServer(handle, h.id)) return;
  }
}

void ClientSession::Loop() {
  absl::MutexLock lock(&mu_);
  auto stopping = [this]()
                      ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
  while (!stopping_) {
    mu_.Unlock();
    const bool reached = Renew();
    mu_.Lock();
    // Unreachable: try again soon, to reclaim as early as possible once the
    // server is back (it frees unclaimed orphans one lease after its start).
    const absl::Duration wait =
        reached ? period_ : std::min(period_, absl::Milliseconds(200));
    mu_.AwaitWithTimeout(absl::Condition(&stopping), wait);
  }
}

}  // namespace rbfs
