#include "server/fs/call_log.h"

#include <limits>
#include <memory>
#include <vector>

namespace rbfs {

absl::StatusOr<std::optional<meta::CallRecord>> CallLog::Begin(
    const CallRef& call) {
  const std::pair<uint64_t, uint64_t> key{call.session, call.seq};
  {
    absl::MutexLock lock(&mu_);
    auto idle = [this, &key]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return !running_.contains(key);
    };
    mu_.Await(absl::Condition(&idle));
    running_.insert(key);
  }
  absl::StatusOr<meta::CallRecord> record =
      meta_->GetCall(call.session, call.seq);
  if (absl::IsNotFound(record.status())) return std::nullopt;
  End(call);
  if (!record.ok()) return record.status();
  return *std::move(record);
}

void CallLog::End(const CallRef& call) {
  absl::MutexLock lock(&mu_);
  running_.erase({call.session, call.seq});
}

void CallLog::Record(MetaBatch* batch, const CallRef& call, uint64_t ino,
                     const meta::InodeRecord& inode) {
  if (!call.numbered()) return;
  meta::CallRecord record;
  record.set_ino(ino);
  *record.mutable_inode() = inode;
  batch->PutCall(call.session, call.seq, record);
}

absl::Status CallLog::DeleteRange(uint64_t session, uint64_t below) {
  std::unique_ptr<MetaBatch> batch = meta_->NewBatch();
  bool any = false;
  absl::Status scan = meta_->ForEachCallOf(session, [&](uint64_t seq) {
    if (seq >= below) return false;
    batch->DeleteCall(session, seq);
    any = true;
    return true;
  });
  if (!scan.ok()) return scan;
  if (!any) return absl::OkStatus();
  return meta_->Commit(batch.get());
}

absl::Status CallLog::ForgetBelow(uint64_t session, uint64_t seq) {
  return DeleteRange(session, seq);
}

absl::Status CallLog::ForgetSession(uint64_t session) {
  return DeleteRange(session, std::numeric_limits<uint64_t>::max());
}

absl::Status CallLog::ForgetSessionsExcept(
    const std::function<bool(uint64_t session)>& live) {
  std::vector<uint64_t> dead;
  absl::Status scan = meta_->ForEachCall([&](uint64_t session, uint64_t) {
    if (!live(session) && (dead.empty() || dead.back() != session)) {
      dead.push_back(session);
    }
    return true;
  });
  if (!scan.ok()) return scan;
  for (uint64_t session : dead) {
    if (absl::Status s = ForgetSession(session); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace rbfs
