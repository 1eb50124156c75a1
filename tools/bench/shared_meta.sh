#!/usr/bin/env bash
# tools/bench/shared_meta.sh: rbfs metadata ops/s with the metadata in
# RocksDB, in etcd behind one server, and in etcd shared by two servers.
#
#   tools/bench/shared_meta.sh [--files N] [--rounds R] [--out FILE]
#
# N files per metabench run (2000), R rounds (2); --out FILE also appends
# both tables (markdown) to FILE.
# Setups, each fresh in every round; every round runs all three (odd rounds
# in this order, even ones reversed), so passing noise hits all alike:
#   rocksdb  rbfs-server with its default local RocksDB metadata, one mount
#   etcd-1   one rbfs-server with --etcd-endpoints, one mount
#   etcd-2   two rbfs-servers with --etcd-shared on one prefix and one volume
#            file (the second: its own empty --data, --volume=<the first's
#            data>/volume), one mount on each; metabench runs on both mounts
#            at once, each in its own directory with N files. Rows etcd-2/a
#            and etcd-2/b are the two mounts, etcd-2 their sum per phase.
# One private etcd (deploy/etcd-dev.sh) serves the run, a fresh prefix per
# round (/bench/one-R/, /bench/two-R/). The job is tools/bench/metabench.c, as
# in run.sh: create+1 KiB write, stat, readdir, unlink over N files. Prints a
# markdown table (setup, round, phase, ops/s) and the medians over the rounds.
#
# Run as root, with bazel-bin/{server/rbfs-server,client/rbfs-mount} built
# (copied at the start; nothing is built here). Loopback only, every wait
# bounded, all torn down on exit, error or Ctrl-C. Environment: BENCH_DIR
# (parent of the temporary directory, /tmp), BENCH_META_PAUSE_MS (metabench's
# pause before stat and readdir, 1100 as in run.sh).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
readonly SCRIPT_DIR REPO_ROOT
# shellcheck source=tools/lib/proc.sh
source "$REPO_ROOT/tools/lib/proc.sh"

readonly SETUPS=(rocksdb etcd-1 etcd-2)
readonly ROWS=(rocksdb etcd-1 etcd-2/a etcd-2/b etcd-2)
readonly PHASES=(create stat readdir unlink)
readonly STARTUP_TIMEOUT_S=30
FILES=2000 ROUNDS=2 OUT=""
PAUSE_MS=${BENCH_META_PAUSE_MS:-1100}
BASE="" BIN="" RESULTS="" ETCD_DIR="" ENDPOINT="" ADDR=""
PIDS=() MOUNTS=() JOBS=()   # servers and mounts, mount points, metabench runs

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

parse_args() {
  while (($#)); do
    case "$1" in
      --files | --rounds | --out)   # sets FILES, ROUNDS or OUT
        [[ $# -gt 1 && -n ${2:-} ]] || die "$1 needs a value"
        local name=${1#--}; printf -v "${name^^}" '%s' "$2"; shift ;;
      --files=* | --rounds=* | --out=*) set -- "${1%%=*}" "${1#*=}" "${@:2}"; continue ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
  done
  [[ $FILES =~ ^[1-9][0-9]*$ ]] || die "--files needs a positive number"
  [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds needs a positive number"
  if [[ -n $OUT && $OUT != /* ]]; then OUT=$PWD/$OUT; fi
}

# Stops the metabench runs, unmounts (newest first, while the servers can
# still answer), then stops the servers and mount daemons, newest first.
stop_all() {
  local i
  for i in ${JOBS[@]+"${JOBS[@]}"}; do kill -TERM "$i" 2>/dev/null; wait "$i" 2>/dev/null; done || true
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    unmount_one "${MOUNTS[i]}" || log "could not unmount ${MOUNTS[i]}"
  done
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; wait "${PIDS[i]}" 2>/dev/null || true; done
  JOBS=() MOUNTS=() PIDS=()
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  ((rc == 0)) || log "exiting with status $rc; cleaning up"
  stop_all
  [[ -z $ETCD_DIR ]] || "$REPO_ROOT/deploy/etcd-dev.sh" down "$ETCD_DIR" || log "etcd-dev.sh down failed"
  # Never delete through a mount that is still there.
  if [[ -n $BASE ]] && awk -v b="$BASE/" 'index($5, b) == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo; then
    log "mounts under $BASE remain; leaving it in place"
  elif [[ -n $BASE ]]; then rm -rf --one-file-system "$BASE"; fi
  exit "$rc"
}

# start_server LOG DATA [FLAG...]: rbfs-server on a port of its choosing;
# sets ADDR to the address its "ready on" line names.
start_server() {
  local slog=$1 data=$2
  shift 2
  mkdir -p "$data"
  "$BIN/rbfs-server" --listen 127.0.0.1:0 --data "$data" "$@" >"$slog" 2>&1 &
  PIDS+=("$!")
  wait_for "$STARTUP_TIMEOUT_S" "${PIDS[-1]}" grep -q "ready on" "$slog" \
    || { tail -5 "$slog" >&2; die "rbfs-server did not log 'ready on' ($slog)"; }
  ADDR=$(grep -o 'ready on [0-9.]*:[0-9]*' "$slog" | head -1 | awk '{ print $3 }')
  [[ $ADDR == 127.0.0.1:* ]] || die "cannot read the server's address from $slog"
}

# start_mount ADDR MOUNTPOINT LOG: rbfs-mount with its defaults, as run.sh.
start_mount() {
  mkdir -p "$2"
  "$BIN/rbfs-mount" -f "$1" "$2" >"$3" 2>&1 &
  PIDS+=("$!") MOUNTS+=("$2")
  # is_fuse_mount reads mountinfo: mountpoint(1) could hang on a stuck daemon.
  wait_for "$STARTUP_TIMEOUT_S" "${PIDS[-1]}" is_fuse_mount "$2" \
    || { tail -5 "$3" >&2; die "rbfs-mount did not mount $2"; }
}

# metabench_all OUT DIR [OUT DIR]...: metabench in each new DIR at once,
# its lines ("PHASE OPS SECONDS OPS_PER_S") to OUT. Fails if any run failed.
metabench_all() {
  local i rc=0 outs=()
  # Every run starts cold, as in jobs.sh (when this kernel lets us).
  sync
  if [[ -w /proc/sys/vm/drop_caches ]]; then echo 3 >/proc/sys/vm/drop_caches; fi
  while (($#)); do
    mkdir "$2"
    "$BIN/metabench" "$2" "$FILES" "$PAUSE_MS" >"$1" 2>"$1.err" &
    JOBS+=("$!") outs+=("$1")
    shift 2
  done
  for i in "${!JOBS[@]}"; do
    wait "${JOBS[i]}" || { rc=1; log "metabench failed: $(tr '\n' ' ' <"${outs[i]}.err")"; }
  done
  JOBS=()
  return "$rc"
}

# record SETUP ROUND OUT...: one result line per phase, the sum over the OUTs
# (a phase missing from any of them, a failed run, records "fail").
record() {
  local s=$1 r=$2
  shift 2
  awk -v s="$s" -v r="$r" -v n=$# -v phases="${PHASES[*]}" '{ v[$1] += $4; c[$1]++ }
    END { for (i = 1; i <= split(phases, p, " "); i++)
            printf "%s %s %s %s\n", s, r, p[i], c[p[i]] == n ? sprintf("%.0f", v[p[i]]) : "fail" }' "$@" >>"$RESULTS"
}

run_setup() {
  local s=$1 r=$2 d="$BASE/r$2/$1" a flags=()
  mkdir -p "$d"
  log "round $r: $s ($FILES files)"
  case $s in
    rocksdb | etcd-1)
      [[ $s == rocksdb ]] || flags=(--etcd-endpoints "$ENDPOINT" --etcd-prefix "/bench/one-$r/")
      start_server "$d/server.log" "$d/data" "${flags[@]}"
      start_mount "$ADDR" "$d/mnt" "$d/mount.log"
      metabench_all "$d/meta.out" "$d/mnt/meta" || true
      record "$s" "$r" "$d/meta.out" ;;
    etcd-2)
      flags=(--etcd-shared --etcd-endpoints "$ENDPOINT" --etcd-prefix "/bench/two-$r/")
      start_server "$d/server-a.log" "$d/data-a" "${flags[@]}"
      a=$ADDR
      [[ -f $d/data-a/volume ]] || die "the first server made no $d/data-a/volume"
      start_server "$d/server-b.log" "$d/data-b" "${flags[@]}" --volume="$d/data-a/volume"
      grep -q "together with the servers" "$d/server-b.log" \
        || die "the second server does not serve in shared mode ($d/server-b.log)"
      start_mount "$a" "$d/mnt-a" "$d/mount-a.log"
      start_mount "$ADDR" "$d/mnt-b" "$d/mount-b.log"
      metabench_all "$d/meta-a.out" "$d/mnt-a/meta-a" "$d/meta-b.out" "$d/mnt-b/meta-b" || true
      record etcd-2/a "$r" "$d/meta-a.out"
      record etcd-2/b "$r" "$d/meta-b.out"
      record etcd-2 "$r" "$d/meta-a.out" "$d/meta-b.out" ;;
  esac
  stop_all
}

tables() {
  local s p
  echo "| setup | round | phase | ops/s |"
  echo "|---|---:|---|---:|"
  awk '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$RESULTS"
  echo
  echo "| setup | phase | median ops/s ($ROUNDS rounds) |"
  echo "|---|---|---:|"
  for s in "${ROWS[@]}"; do
    for p in "${PHASES[@]}"; do
      awk -v s="$s" -v p="$p" '$1 == s && $3 == p && $4 != "fail" { print $4 }' "$RESULTS" | sort -n \
        | awk -v s="$s" -v p="$p" '{ v[NR] = $1 }
            END { m = !NR ? "fail" : NR % 2 ? v[(NR + 1) / 2] : sprintf("%.0f", (v[NR / 2] + v[NR / 2 + 1]) / 2)
                  printf "| %s | %s | %s |\n", s, p, m }'
    done
  done
}

main() {
  local argv=("$@") r i
  parse_args "$@"
  [[ $(id -u) -eq 0 && -e /dev/fuse ]] || die "run as root, with /dev/fuse (FUSE mounts)"
  for i in gcc fusermount3 etcd etcdctl; do command -v "$i" >/dev/null || die "missing: $i"; done
  trap on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  mkdir -p "${BENCH_DIR:-/tmp}"
  BASE=$(mktemp -d "${BENCH_DIR:-/tmp}/rbfs-shared-meta.XXXXXX")
  BIN="$BASE/bin" RESULTS="$BASE/results" ETCD_DIR="$BASE/etcd"
  mkdir -p "$BIN" && : >"$RESULTS"
  log "working in $BASE ($FILES files, $ROUNDS rounds)"
  # Copies, so that a bazel build during the run cannot swap the binaries.
  cp "$REPO_ROOT/bazel-bin/server/rbfs-server" "$REPO_ROOT/bazel-bin/client/rbfs-mount" "$BIN/" \
    || die "no rbfs binaries in bazel-bin/ (bazel build //server:rbfs-server //client:rbfs-mount)"
  gcc -O2 -Wall -Wextra -o "$BIN/metabench" "$SCRIPT_DIR/metabench.c"
  ENDPOINT=$("$REPO_ROOT/deploy/etcd-dev.sh" up "$ETCD_DIR" | sed -n 's/^ETCD_ENDPOINTS=//p')
  [[ -n $ENDPOINT ]] || die "deploy/etcd-dev.sh up printed no ETCD_ENDPOINTS"

  for ((r = 1; r <= ROUNDS; r++)); do
    local order=(0 1 2)
    ((r % 2)) || order=(2 1 0)
    for i in "${order[@]}"; do run_setup "${SETUPS[i]}" "$r"; done
  done

  echo
  tables
  if [[ -n $OUT ]]; then
    { printf '## tools/bench/shared_meta.sh%s (%s, commit %s, %s vCPUs)\n\n' "${argv[*]:+ ${argv[*]}}" \
        "$(date -u '+%F %H:%M UTC')" "$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" "$(nproc)"
      tables; echo; } >>"$OUT"
    log "tables appended to $OUT"
  fi
}

main "$@"
