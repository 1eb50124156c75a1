#include "server/fs/session_table.h"

#include <algorithm>
#include <string>

namespace rbfs {

SessionTable::Renewed SessionTable::Renew(uint64_t session, absl::Time now,
                                          absl::string_view peer) {
  absl::MutexLock lock(&mu_);
  auto [it, created] = sessions_.try_emplace(session);
  const Renewed renewed = created                ? Renewed::kNew
                          : it->second.confirmed ? Renewed::kKnown
                                                 : Renewed::kUnconfirmed;
  it->second.renewed = now;
  it->second.confirmed = true;
  if (!peer.empty()) it->second.peer = std::string(peer);
  return renewed;
}

bool SessionTable::AddHandle(uint64_t session, uint64_t handle, uint64_t ino,
                             absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto [it, created] = sessions_.try_emplace(session);
  // A call counts as a sign of life, as NFSv4 renews leases implicitly.
  it->second.renewed = now;
  return it->second.handles.try_emplace(handle, ino).second;
}

bool SessionTable::HasHandle(uint64_t session, uint64_t handle) const {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session);
  return it != sessions_.end() && it->second.handles.contains(handle);
}

std::optional<uint64_t> SessionTable::RemoveHandle(uint64_t session,
                                                   uint64_t handle) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return std::nullopt;
  auto h = it->second.handles.find(handle);
  if (h == it->second.handles.end()) return std::nullopt;
  const uint64_t ino = h->second;
  it->second.handles.erase(h);
  return ino;
}

SessionTable::Expired SessionTable::Expire(absl::Time now) {
  Expired expired;
  absl::MutexLock lock(&mu_);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (now - it->second.renewed < lease_) {
      ++it;
      continue;
    }
    expired.sessions.push_back(InfoOf(it->first, it->second));
    for (const auto& [handle, ino] : it->second.handles) {
      expired.inodes.push_back(ino);
    }
    sessions_.erase(it++);
  }
  return expired;
}

bool SessionTable::Live(uint64_t session) const {
  absl::MutexLock lock(&mu_);
  return sessions_.contains(session);
}

SessionTable::Counts SessionTable::Count() const {
  absl::MutexLock lock(&mu_);
  Counts counts;
  counts.sessions = sessions_.size();
  for (const auto& [id, session] : sessions_) {
    counts.handles += session.handles.size();
  }
  return counts;
}

SessionTable::Info SessionTable::InfoOf(uint64_t id, const Session& session) {
  return Info{id, session.peer, session.handles.size(), session.renewed,
              session.confirmed};
}

std::vector<SessionTable::Info> SessionTable::List() const {
  std::vector<Info> list;
  {
    absl::MutexLock lock(&mu_);
    list.reserve(sessions_.size());
    for (const auto& [id, session] : sessions_) {
      list.push_back(InfoOf(id, session));
    }
  }
  std::sort(list.begin(), list.end(),
            [](const Info& a, const Info& b) { return a.session < b.session; });
  return list;
}

}  // namespace rbfs
