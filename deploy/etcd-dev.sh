#!/usr/bin/env bash
# deploy/etcd-dev.sh: a private, throwaway etcd on 127.0.0.1 for development
# and tests (issue 18). Debian's etcd-server 3.4 (package etcd-server; the
# etcdctl of etcd-client checks it).
#
#   deploy/etcd-dev.sh up DIR     start one etcd member with its data in DIR
#   deploy/etcd-dev.sh down DIR   stop what `up DIR` started
#
# `up` creates DIR (it must be absent or empty), picks a free client port and
# a free peer port on 127.0.0.1 (another pair when etcd could not bind them: a
# parallel instance took one meanwhile), starts etcd with its data in
# DIR/data and its log in DIR/etcd.log, waits until `etcdctl endpoint health`
# answers, and prints on stdout exactly
#   ETCD_ENDPOINTS=127.0.0.1:PORT
# Everything else goes to stderr. Every wait is a short poll with a deadline:
# ETCD_DEV_TIMEOUT seconds (default 60) for the whole of `up`. When `up`
# fails it prints the tail of DIR/etcd.log, stops what it started and exits
# non-zero.
#
# `down` stops the etcd recorded in DIR/pid (only if that pid still runs etcd
# on DIR/data: a reused pid is never hit): SIGTERM, SIGKILL after 5 s. It
# succeeds when nothing runs. The caller may then remove DIR.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Above etcd's defaults (128, 1.5 MiB): one rbfs metadata batch maps every
# block a write or fallocate touches in one transaction, and the tests use
# 4 KiB blocks (docs/operations.md: sizing these for a real cluster). Old
# revisions are compacted after an hour.
MAX_TXN_OPS=65536
MAX_REQUEST_BYTES=$((16 << 20))
log() { printf 'etcd-dev: %s\n' "$*" >&2; }
# shellcheck source=tools/lib/proc.sh
source "$HERE/../tools/lib/proc.sh"

die() {
  log "$*"
  exit 1
}

usage() {
  sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# The pid recorded in DIR/pid if it still runs etcd on DIR/data.
running_pid() {
  local pid
  [[ -f $DIR/pid ]] || return 1
  pid=$(<"$DIR/pid")
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--data-dir $DIR/data " || return 1
  echo "$pid"
}

healthy() {
  ETCDCTL_API=3 timeout 5 etcdctl --endpoints "127.0.0.1:$1" \
    --dial-timeout 2s endpoint health
}

up() {
  local deadline=$((SECONDS + ${ETCD_DEV_TIMEOUT:-60})) attempt client peer pid
  command -v etcd >/dev/null || die "etcd not found (apt-get install etcd-server)"
  command -v etcdctl >/dev/null || die "etcdctl not found (apt-get install etcd-client)"
  mkdir -p "$DIR"
  [[ -z $(ls -A "$DIR") ]] || die "$DIR is not empty; remove it or give a new DIR"
  for ((attempt = 1; attempt <= 5; attempt++)); do
    client=$(free_port) && peer=$(free_port) || die "no free TCP port"
    [[ $client != "$peer" ]] || continue
    rm -rf "$DIR/data"
    etcd --name default --data-dir "$DIR/data" \
      --listen-client-urls "http://127.0.0.1:$client" \
      --advertise-client-urls "http://127.0.0.1:$client" \
      --listen-peer-urls "http://127.0.0.1:$peer" \
      --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
      --initial-cluster "default=http://127.0.0.1:$peer" \
      --max-txn-ops "$MAX_TXN_OPS" --max-request-bytes "$MAX_REQUEST_BYTES" \
      --auto-compaction-retention 1h \
      </dev/null >>"$DIR/etcd.log" 2>&1 &
    pid=$!
    echo "$pid" >"$DIR/pid"
    local left=$((deadline - SECONDS))
    ((left > 0)) || break
    if wait_for "$left" "$pid" healthy "$client"; then
      log "ready: pid $pid, client port $client, data $DIR/data"
      echo "ETCD_ENDPOINTS=127.0.0.1:$client"
      return 0
    fi
    # Gone (a port taken meanwhile) or not healthy by the deadline.
    stop_pid "$pid"
    wait "$pid" 2>/dev/null || true
    ((SECONDS < deadline)) || break
    log "attempt $attempt failed; trying other ports"
  done
  tail -n 20 "$DIR/etcd.log" >&2 || true
  rm -f "$DIR/pid"
  die "etcd did not become healthy (log: $DIR/etcd.log)"
}

down() {
  local pid
  if pid=$(running_pid); then
    stop_pid "$pid"
    kill -0 "$pid" 2>/dev/null && die "etcd (pid $pid) still runs"
    log "stopped pid $pid"
  fi
  rm -f "$DIR/pid"
}

(($# == 2)) || usage
DIR=$2
[[ $DIR == /* ]] || DIR=$PWD/$DIR
case $1 in
  up) up ;;
  down) down ;;
  *) usage ;;
esac
