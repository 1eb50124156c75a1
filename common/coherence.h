// The facts of the Watch protocol (protos/rbfs.proto, "Coherence") that
// rbfs-server and rbfs-mount share.
#ifndef RBFS_COMMON_COHERENCE_H_
#define RBFS_COMMON_COHERENCE_H_

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace rbfs {

// Call metadata naming the caller's session, so the server sends a session
// the invalidations of other sessions' changes only.
constexpr absl::string_view kSessionMetadataKey = "rbfs-session";

// How often the server sends a Watch message when it has nothing to say.
constexpr absl::Duration kWatchHeartbeat = absl::Milliseconds(250);

// A Watch stream silent for this many heartbeats is taken for broken: the
// mount may have missed invalidations, so this (plus the time to act on it)
// bounds how stale a mount can be when the server or the network goes away.
constexpr int kWatchSilentHeartbeats = 4;

}  // namespace rbfs

#endif  // RBFS_COMMON_COHERENCE_H_
