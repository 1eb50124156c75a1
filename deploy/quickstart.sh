#!/usr/bin/env bash
# Sets everything up, builds rbfs, starts a server on a local data directory
# (.rbfs/data, a 16 GiB sparse volume) and mounts it at .rbfs/mnt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=$ROOT/.rbfs
LISTEN=${RBFS_LISTEN:-127.0.0.1:7420}

bash deploy/setup.sh
bazel build //server:rbfs-server //client:rbfs-mount
mkdir -p "$STATE/data" "$STATE/mnt"

if [[ -f $STATE/server.pid ]] && kill -0 "$(cat "$STATE/server.pid")" 2>/dev/null; then
  echo "quickstart: server already running (pid $(cat "$STATE/server.pid"))"
else
  "$ROOT/bazel-bin/server/rbfs-server" --listen "$LISTEN" --data "$STATE/data" \
    >"$STATE/server.log" 2>&1 &
  echo $! >"$STATE/server.pid"
  for _ in $(seq 1 100); do
    grep -q "ready on" "$STATE/server.log" && break
    kill -0 "$(cat "$STATE/server.pid")" 2>/dev/null || {
      cat "$STATE/server.log"
      exit 1
    }
    sleep 0.1
  done
  grep -q "ready on" "$STATE/server.log" || { cat "$STATE/server.log"; exit 1; }
fi
echo "quickstart: server ready on $LISTEN (log: $STATE/server.log)"

if ! mountpoint -q "$STATE/mnt"; then
  "$ROOT/bazel-bin/client/rbfs-mount" "$LISTEN" "$STATE/mnt"
fi
echo "quickstart: mounted at $STATE/mnt"
echo "  unmount:     fusermount3 -u $STATE/mnt"
echo "  stop server: kill \$(cat $STATE/server.pid)"
