#!/usr/bin/env bash
# tools/bench/run.sh: rbfs against its peers on this machine, in one run.
#
#   tools/bench/run.sh [--quick] [--targets LIST] [--write-docs | --no-docs]
#
# Targets, each over a fresh subdirectory of one backing directory:
#   raw          the backing directory itself (the physical limit)
#   passthrough  libfuse's passthrough_ll example (the FUSE ceiling)
#   sshfs        Debian's sshfs against a private sshd on 127.0.0.1
#   rbfs         rbfs-server (data dir on the backing dir) + rbfs-mount
#   rbfs-etcd    the same with the metadata in a private etcd (not run unless
#                named: --targets rbfs,rbfs-etcd)
# Jobs: fio (direct=1, libaio) 1 MiB sequential and 4 KiB random I/O, and
# tools/bench/metabench.c (create+1 KiB write, stat, readdir, unlink), and a
# developer workload (git clone of a repository, git status twice, find +
# stat, tar to a pipe, grep -r, rm -rf; seconds per step). All
# targets are mounted at once and each job runs on every target in turn.
#
# Prints a markdown table; a full run (or --write-docs) also replaces the
# "## Peer comparison (tools/bench/run.sh)" section of docs/benchmarks.md and
# draws docs/benchmarks.png. Run as root. Only loopback is used, every wait is
# bounded, and everything started is torn down on exit, error or Ctrl-C.
#
# Environment (defaults for a full run / --quick):
#   BENCH_DIR            parent of the fresh temporary directory (/tmp)
#   BENCH_RUNTIME        seconds per fio job (10 / 1)
#   BENCH_RAMP           fio ramp_time seconds, not measured (2 / 0)
#   BENCH_SIZE           fio file size (1G / 64M)
#   BENCH_FILES          metabench files (5000 / 200)
#   BENCH_META_PAUSE_MS  pause before the stat and readdir phases (1100 / 1100)
#   BENCH_TARGETS        targets to run (raw passthrough sshfs rbfs)
#   BENCH_DEV_REPO       git repository the developer workload clones (this one)
#   BENCH_NO_BUILD=1     use the existing bazel-bin binaries without building
#   BENCH_CHART_OUT      the chart of a run that does not write the docs
#                        (/tmp/rbfs-bench-quick.png)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
readonly SCRIPT_DIR REPO_ROOT

# The pieces, each sourced into this one shell (they share its variables):
#   tools/lib/proc.sh      processes, ports, mounts, bounded waits (shared)
#   tools/bench/targets.sh builds the peers and sets each target up
#   tools/bench/jobs.sh    runs the jobs on every target, gives failed ones up
#   tools/bench/report.sh  the table, the notes, the chart, docs/benchmarks.md
# shellcheck source=tools/lib/proc.sh
source "$REPO_ROOT/tools/lib/proc.sh"
# shellcheck source=tools/bench/targets.sh
source "$SCRIPT_DIR/targets.sh"
# shellcheck source=tools/bench/jobs.sh
source "$SCRIPT_DIR/jobs.sh"
# shellcheck source=tools/bench/report.sh
source "$SCRIPT_DIR/report.sh"

readonly SECTION_HEADING="## Peer comparison (tools/bench/run.sh)"
readonly FUSE_EXAMPLES=/usr/share/doc/libfuse3-dev/examples
readonly ALL_TARGETS=(raw passthrough sshfs rbfs rbfs-etcd)
readonly DEFAULT_TARGETS=(raw passthrough sshfs rbfs)
# How long any daemon may take to come up before its target counts as failed.
readonly STARTUP_TIMEOUT_S=30

# fio jobs, run in this order on one file per target:
#   key | fio rw | bs | iodepth | unit | label
# "append16" lays the file out (a new file, so every write extends it; the
# kernel makes size-extending direct writes on FUSE synchronous: "We cannot
# asynchronously extend the size of a file" in fs/fuse/file.c); the jobs
# after it overwrite or read that file.
readonly FIO_JOBS=(
  "append16|write|1M|16|MiB/s|1 MiB append to a new file, qd16"
  "seqwrite1|write|1M|1|MiB/s|1 MiB seq write, qd1"
  "seqwrite16|write|1M|16|MiB/s|1 MiB seq write, qd16"
  "seqread1|read|1M|1|MiB/s|1 MiB seq read, qd1"
  "seqread16|read|1M|16|MiB/s|1 MiB seq read, qd16"
  "randread1|randread|4k|1|IOPS|4 KiB rand read, qd1"
  "randread16|randread|4k|16|IOPS|4 KiB rand read, qd16"
  "randwrite16|randwrite|4k|16|IOPS|4 KiB rand write, qd16"
)
readonly META_PHASES=(create stat readdir unlink)
# The developer workload, in this order on one clone of a git repository
# (BENCH_DEV_REPO): key|label. Seconds per step.
readonly DEV_STEPS=(
  "clone|git clone"
  "status1|git status (first)"
  "status2|git status (again)"
  "stat|find + stat every file"
  "tar|tar the tree to a pipe"
  "grep|grep -r"
  "rm|rm -rf"
)

QUICK=0
DOCS=auto
TARGETS=()
BASE=""        # the temporary directory holding everything below
WORK=""        # keys, binaries, logs, results (not on a benchmarked mount)
STATE=""       # pids/ and mounts/ files so cleanup finds what subshells started
RESULTS=""     # one file per target.job holding the figure or "fail"
START_LOADAVG=""
STEP_PID=""    # the subshell running the current setup or job
ALIVE=()       # targets set up and not given up
RBFS_BUILD_ERROR=""
SAMPLER_PID=""
BUILT_FROM="?"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
# The last reason is kept in a file so that a failed target's reason gets
# into the notes of the table even though it died in a subshell.
die() {
  log "error: $*"
  [[ -n $WORK && -d $WORK ]] && echo "$*" >"$WORK/last_error"
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

parse_args() {
  while (($#)); do
    case "$1" in
      --quick) QUICK=1 ;;
      --write-docs) DOCS=yes ;;
      --no-docs) DOCS=no ;;
      --targets) shift; (($#)) || die "--targets needs a list"; read -r -a TARGETS <<<"${1//,/ }" ;;
      --targets=*) local list="${1#--targets=}"; read -r -a TARGETS <<<"${list//,/ }" ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
  done
  if ((${#TARGETS[@]} == 0)); then
    read -r -a TARGETS <<<"${BENCH_TARGETS:-${DEFAULT_TARGETS[*]}}"
  fi
  local t
  for t in "${TARGETS[@]}"; do
    [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || die "unknown target: $t"
  done
  # A smoke run should not overwrite the published figures unless asked to.
  if [[ $DOCS == auto ]]; then
    if ((QUICK)); then DOCS=no; else DOCS=yes; fi
  fi
  if ((QUICK)); then
    RUNTIME=${BENCH_RUNTIME:-1}; RAMP=${BENCH_RAMP:-0}
    SIZE=${BENCH_SIZE:-64M}; NFILES=${BENCH_FILES:-200}
  else
    RUNTIME=${BENCH_RUNTIME:-10}; RAMP=${BENCH_RAMP:-2}
    SIZE=${BENCH_SIZE:-1G}; NFILES=${BENCH_FILES:-5000}
  fi
  META_PAUSE_MS=${BENCH_META_PAUSE_MS:-1100}
  DEV_REPO=${BENCH_DEV_REPO:-$REPO_ROOT}
}

check_prereqs() {
  [[ $(id -u) -eq 0 ]] || die "run as root (FUSE mounts, sshd)"
  local c missing=()
  for c in fio jq gcc pkg-config fusermount3 gnuplot sshfs ssh-keygen timeout awk; do
    command -v "$c" >/dev/null || missing+=("$c")
  done
  [[ -x /usr/sbin/sshd ]] || missing+=(/usr/sbin/sshd)
  [[ -f $FUSE_EXAMPLES/passthrough_ll.c ]] || missing+=("$FUSE_EXAMPLES/passthrough_ll.c (libfuse3-dev)")
  ((${#missing[@]} == 0)) || die "missing: ${missing[*]} (see deploy/setup.sh)"
  [[ -e /dev/fuse ]] || die "/dev/fuse is missing"
}

# ---------------------------------------------------------------- results
# One file per target and job under $RESULTS, so that subshells can record.

record() { echo "$3" >"$RESULTS/$1.$2"; }
note() { echo "$2" >>"$RESULTS/$1.notes"; }
value_of() { cat "$RESULTS/$1.$2" 2>/dev/null || echo ""; }

all_keys() {
  local spec p
  for spec in "${FIO_JOBS[@]}"; do echo "${spec%%|*}"; done
  for p in "${META_PHASES[@]}"; do echo "meta_$p"; done
  for p in "${DEV_STEPS[@]}"; do echo "dev_${p%%|*}"; done
}

# ---------------------------------------------------------------- cleanup

# Tears down what is recorded in $STATE for target $1 (everything when no
# target is given): mounts first (so their daemons can answer the unmount),
# then processes, newest first.
teardown() {
  [[ -n $STATE && -d $STATE ]] || return 0
  local i mnt m="*" p="*"
  local -a files
  if [[ -n ${1:-} ]]; then m="*.$1"; p="*.$1.*"; fi
  # Names start with a nanosecond timestamp, so the glob's order is the
  # order things were started in; walk it backwards.
  # shellcheck disable=SC2206  # the patterns are meant to glob
  files=("$STATE"/mounts/$m)
  for ((i = ${#files[@]} - 1; i >= 0; i--)); do
    [[ -f ${files[i]} ]] || continue
    mnt=$(cat "${files[i]}")
    unmount_one "$mnt" || log "could not unmount $mnt"
    rm -f "${files[i]}"
  done
  # shellcheck disable=SC2206
  files=("$STATE"/pids/$p)
  for ((i = ${#files[@]} - 1; i >= 0; i--)); do
    [[ -f ${files[i]} ]] || continue
    stop_pid "$(cat "${files[i]}")"
    rm -f "${files[i]}"
  done
}

# Stops a step subshell that is still running (we are exiting on a signal
# or an error) and its jobs (fio, metabench, timeout), but not its daemons:
# they must stay up to answer the unmount.
stop_target_jobs() {
  [[ -n $STEP_PID ]] || return 0
  # The job loops check this before starting anything new.
  touch "$STATE/stop"
  local daemons seen=" $STEP_PID " p q i alive
  daemons=$(cat "$STATE"/pids/* 2>/dev/null | tr '\n' ' ' || true)
  # Rescan every round: a process started between two scans, or orphaned by
  # its parent's death, is still below a pid already seen. TERM for 5 s,
  # then KILL.
  for ((i = 0; i < 60; i++)); do
    for p in $seen; do
      for q in $(descendants "$p" "$daemons"); do
        [[ $seen == *" $q "* ]] || seen+="$q "
      done
    done
    alive=0
    for p in $seen; do
      kill -0 "$p" 2>/dev/null || continue
      alive=1
      if ((i < 50)); then kill -TERM "$p" 2>/dev/null; else kill -KILL "$p" 2>/dev/null; fi || true
    done
    ((alive)) || return 0
    sleep 0.1
  done
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  ((rc == 0)) || log "exiting with status $rc; cleaning up"
  stop_load_sampler
  stop_target_jobs
  teardown
  if [[ -n $BASE && -d $BASE ]]; then
    # Never delete through a mount that is still there.
    if awk -v b="$BASE/" 'index($5, b) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
      log "mounts under $BASE remain; leaving it in place"
    else
      rm -rf --one-file-system "$BASE"
    fi
  fi
  exit "$rc"
}

# Records a pid (target, name, pid) / a mount point (target, path) for
# teardown; files, so that it works from subshells too.
track_pid() { echo "$3" >"$STATE/pids/$(date +%s%N).$1.$2"; }
track_mount() { echo "$2" >"$STATE/mounts/$(date +%s%N).$1"; }

# ---------------------------------------------------------------- main

main() {
  local argv=("$@")
  parse_args "$@"
  check_prereqs

  trap on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  mkdir -p "${BENCH_DIR:-/tmp}"
  BASE=$(mktemp -d "${BENCH_DIR:-/tmp}/rbfs-bench.XXXXXX")
  WORK="$BASE/work"; STATE="$WORK/state"; RESULTS="$WORK/results"
  mkdir -p "$STATE/pids" "$STATE/mounts" "$RESULTS" "$BASE/backing" "$BASE/mnt"
  log "working in $BASE (targets: ${TARGETS[*]}; ${SIZE} file, ${RUNTIME} s/job, $NFILES files)"

  # The tree is shared and moves during a run: note what rbfs was built from.
  BUILT_FROM="commit $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  if [[ -n $(git -C "$REPO_ROOT" status --porcelain -- server client common protos 2>/dev/null) ]]; then
    BUILT_FROM+=" plus uncommitted changes in server/, client/, common/ or protos/"
  fi
  build_tools
  START_LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
  start_load_sampler

  run_all

  # The exact command, with the environment overrides that shaped it.
  local cmd="" v
  for v in $(compgen -e | grep '^BENCH_' | grep -v '^BENCH_NOISE_NOTE$' || true); do
    cmd+="$v=${!v} "
  done
  cmd+="tools/bench/run.sh${argv[*]:+ ${argv[*]}}"

  echo
  make_table
  echo
  make_notes
  if [[ $DOCS == yes ]]; then
    make_chart "$REPO_ROOT/docs/benchmarks.png"
    write_docs "$cmd"
  else
    make_chart "$WORK/benchmarks.png"
    cp "$WORK/benchmarks.png" "${BENCH_CHART_OUT:-/tmp/rbfs-bench-quick.png}"
    log "chart (not published): ${BENCH_CHART_OUT:-/tmp/rbfs-bench-quick.png}"
  fi
}

main "$@"
