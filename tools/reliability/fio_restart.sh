#!/bin/sh
# fio with crc32c verification on an rbfs mount while rbfs-server is killed
# (SIGKILL) and restarted, RESTARTS times, during the run: there must be no
# verify error and fio must exit 0.
#
#   bazel build //server:rbfs-server //client:rbfs-mount
#   sudo tools/reliability/fio_restart.sh [SIZE [RESTARTS [MOUNT_OPTIONS]]]
#
# SIZE is fio's --size (default 1G). With --verify_backlog fio verifies
# what it wrote every 256 blocks while it keeps writing, so every restart
# lands among both writes and verifying reads. RESTARTS (default 2) come
# FIRST seconds after fio has laid out its file (default 3), then EVERY
# seconds apart (default 5). Needs root (FUSE), fio, numfmt and fusermount3.
# Everything lives under a fresh temporary directory.
set -eu
SIZE=${1:-1G}
RESTARTS=${2:-2}
MOUNT_OPTIONS=${3:-deadline=30}
FIRST=${FIRST:-3}
EVERY=${EVERY:-5}
BIN=$(cd "$(dirname "$0")/../.." && pwd)/bazel-bin
SERVER=$BIN/server/rbfs-server
MOUNT=$BIN/client/rbfs-mount
[ -x "$SERVER" ] && [ -x "$MOUNT" ] || {
  echo "build first: bazel build //server:rbfs-server //client:rbfs-mount" >&2
  exit 2
}
WORK=$(mktemp -d /tmp/rbfs-fio.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/data" "$WORK/mnt"
SERVER_PID=

start_server() {
  "$SERVER" --data "$WORK/data" --listen "127.0.0.1:$PORT" \
    --volume-size=8589934592 2>>"$WORK/server.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    grep -q "ready on" "$WORK/server.log" 2>/dev/null && [ "$(grep -c 'ready on' "$WORK/server.log")" -ge "$1" ] && return 0
    sleep 0.1
  done
  echo "server did not start" >&2
  exit 1
}

cleanup() {
  fusermount3 -u "$WORK/mnt" 2>/dev/null || fusermount3 -u -z "$WORK/mnt" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  echo "logs kept in $WORK"
}
trap cleanup EXIT

start_server 1
"$MOUNT" -o "$MOUNT_OPTIONS" "127.0.0.1:$PORT" "$WORK/mnt" 2>>"$WORK/mount.log"

fio --name=rbfs-verify --filename="$WORK/mnt/fio.dat" --size="$SIZE" \
  --bs=64k --rw=randwrite --verify=crc32c --verify_fatal=1 --do_verify=1 \
  --verify_backlog=256 \
  --direct=1 --ioengine=libaio --iodepth=32 --output="$WORK/fio.out" &
FIO_PID=$!

# Past the layout phase: the file has its full size.
BYTES=$(numfmt --from=iec "$SIZE")
for _ in $(seq 600); do
  [ "$(stat -c %s "$WORK/mnt/fio.dat" 2>/dev/null || echo 0)" -ge "$BYTES" ] && break
  sleep 0.1
done
sleep "$FIRST"
n=1
while [ "$n" -le "$RESTARTS" ]; do
  if ! kill -0 "$FIO_PID" 2>/dev/null; then
    echo "fio ended before restart $n; use a larger SIZE" >&2
    break
  fi
  echo "$(date +%T) restart $n: SIGKILL rbfs-server during fio"
  kill -9 "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  start_server $((n + 1))
  echo "$(date +%T) restart $n: rbfs-server is back"
  n=$((n + 1))
  [ "$n" -le "$RESTARTS" ] && sleep "$EVERY"
done

set +e
wait "$FIO_PID"
FIO_RC=$?
set -e
cat "$WORK/fio.out"
sort "$WORK/server.log" "$WORK/mount.log"
echo "fio exit status: $FIO_RC; restarts done: $((n - 1))"
grep -E "verify|error" "$WORK/fio.out" | grep -v "^ *$" || true
[ "$FIO_RC" -eq 0 ] && [ "$((n - 1))" -eq "$RESTARTS" ]
