#include "server/fs/call_log.h"

#include <vector>

#include "common/errno_status.h"

namespace rbfs {
namespace {

constexpr char kPrefix[] = "R";

void AppendU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

std::string SessionPrefix(uint64_t session) {
  std::string key = kPrefix;
  AppendU64(&key, session);
  return key;
}

}  // namespace

std::string CallLog::Key(uint64_t session, uint64_t seq) {
  std::string key = SessionPrefix(session);
  AppendU64(&key, seq);
  return key;
}

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
  std::optional<meta::CallRecord> found;
  absl::Status corrupt;
  const std::string record_key = Key(call.session, call.seq);
  absl::Status scan = meta_->Scan(
      record_key, record_key, [&](absl::string_view, absl::string_view value) {
        meta::CallRecord record;
        if (!record.ParseFromArray(value.data(), value.size())) {
          corrupt = ErrnoError(EIO, "corrupt call record");
        } else {
          found = std::move(record);
        }
        return false;
      });
  if (scan.ok()) scan = corrupt;
  if (!scan.ok() || found) End(call);
  if (!scan.ok()) return scan;
  return found;
}

void CallLog::End(const CallRef& call) {
  absl::MutexLock lock(&mu_);
  running_.erase({call.session, call.seq});
}

void CallLog::Record(rocksdb::WriteBatch* batch, const CallRef& call,
                     uint64_t ino, const meta::InodeRecord& inode) {
  if (!call.numbered()) return;
  meta::CallRecord record;
  record.set_ino(ino);
  *record.mutable_inode() = inode;
  batch->Put(Key(call.session, call.seq), record.SerializeAsString())
      .PermitUncheckedError();
}

absl::Status CallLog::DeleteRange(
    const std::string& prefix, const std::string& from,
    const std::function<bool(absl::string_view)>& keep) {
  rocksdb::WriteBatch batch;
  std::string key;
  absl::Status scan = meta_->Scan(
      prefix, from, [&](absl::string_view suffix, absl::string_view) {
        key.assign(prefix);
        key.append(suffix.data(), suffix.size());
        if (keep(key)) return false;
        batch.Delete(key).PermitUncheckedError();
        return true;
      });
  if (!scan.ok()) return scan;
  if (batch.Count() == 0) return absl::OkStatus();
  return meta_->Commit(&batch);
}

absl::Status CallLog::ForgetBelow(uint64_t session, uint64_t seq) {
  const std::string end = Key(session, seq);
  return DeleteRange(SessionPrefix(session), SessionPrefix(session),
                     [&end](absl::string_view key) { return key >= end; });
}

absl::Status CallLog::ForgetSession(uint64_t session) {
  return DeleteRange(SessionPrefix(session), SessionPrefix(session),
                     [](absl::string_view) { return false; });
}

absl::Status CallLog::ForgetSessionsExcept(
    const std::function<bool(uint64_t session)>& live) {
  std::vector<uint64_t> dead;
  absl::Status scan = meta_->Scan(
      kPrefix, kPrefix, [&](absl::string_view suffix, absl::string_view) {
        const uint64_t session = MetaStore::DecodeU64(suffix.substr(0, 8));
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
