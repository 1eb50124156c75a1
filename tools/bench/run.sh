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
# Jobs: fio (direct=1, libaio) 1 MiB sequential and 4 KiB random I/O, and
# tools/bench/metabench.c (create+1 KiB write, stat, readdir, unlink). All
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
#   BENCH_NO_BUILD=1     use the existing bazel-bin binaries without building
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
readonly SCRIPT_DIR REPO_ROOT
readonly SECTION_HEADING="## Peer comparison (tools/bench/run.sh)"
readonly FUSE_EXAMPLES=/usr/share/doc/libfuse3-dev/examples
readonly ALL_TARGETS=(raw passthrough sshfs rbfs)
# How long any daemon may take to come up before its target counts as failed.
readonly STARTUP_TIMEOUT_S=30

# fio jobs, run in this order on one file per target:
#   key | fio rw | bs | iodepth | unit | label
# "append16" lays the file out (a new file, so every write extends it; the
# kernel makes size-extending direct writes on FUSE synchronous, see
# /work/shared/design.md); the jobs after it overwrite or read that file.
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
    read -r -a TARGETS <<<"${BENCH_TARGETS:-${ALL_TARGETS[*]}}"
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

# ---------------------------------------------------------------- cleanup

# Reads /proc/self/mountinfo rather than calling mountpoint/stat, which would
# block on a FUSE mount whose daemon is stuck.
is_mounted() {
  awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# The FUSE connection of a mount, to abort it if unmounting does not work.
fuse_conn_of() {
  awk -v m="$1" '$5 == m { split($3, d, ":"); print d[2]; exit }' /proc/self/mountinfo
}

unmount_one() {
  local mnt=$1 conn
  is_mounted "$mnt" || return 0
  timeout 10 fusermount3 -u "$mnt" 2>/dev/null && ! is_mounted "$mnt" && return 0
  log "fusermount3 -u $mnt failed; lazy unmount"
  conn=$(fuse_conn_of "$mnt")
  timeout 10 umount -l "$mnt" 2>/dev/null || true
  # A daemon that no longer answers keeps its readers in the kernel: abort
  # the connection so they get ENOTCONN instead of waiting.
  if [[ -n $conn && -w /sys/fs/fuse/connections/$conn/abort ]]; then
    echo 1 >"/sys/fs/fuse/connections/$conn/abort" 2>/dev/null || true
  fi
  ! is_mounted "$mnt"
}

stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "pid $pid ignored SIGTERM for 5 s; SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

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

# Pids below $1, each after its own descendants, not descending into the
# pids listed in $2 (the daemons, which teardown stops after unmounting).
descendants() {
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    [[ " $2 " == *" $c "* ]] && continue
    descendants "$c" "$2"
    echo "$c"
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

# ---------------------------------------------------------------- helpers

# Polls until "$@" succeeds, at most $1 seconds; fails if pid $2 dies first.
wait_for() {
  local secs=$1 pid=$2 i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    "$@" && return 0
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

is_fuse_mount() {
  awk -v m="$1" '$5 == m { for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) ~ /^fuse/) found = 1; break } } END { exit !found }' /proc/self/mountinfo
}

free_port() {
  local port i
  for ((i = 0; i < 100; i++)); do
    port=$((20000 + RANDOM % 40000))
    if ! ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

# Peak resident memory (VmHWM) of a live process, in MiB.
peak_rss_mib() {
  awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"
}

record() { echo "$3" >"$RESULTS/$1.$2"; }
note() { echo "$2" >>"$RESULTS/$1.notes"; }

# fio's JSON for one job → the figure in its unit (MiB/s or IOPS).
fio_figure() {
  local json=$1 dir=$2 unit=$3
  # fio sometimes puts warnings in front of the JSON document.
  sed -n '/^{/,$p' "$json" | jq -r --arg d "$dir" --arg u "$unit" '
    .jobs[0] as $j
    | if ($j.error // 0) != 0 then "fail"
      elif $u == "IOPS" then ($j[$d].iops | floor | tostring)
      else ($j[$d].bw_bytes / 1048576 | . * 10 | floor | . / 10 | tostring) end'
}

# ---------------------------------------------------------------- jobs
# All targets are mounted at once and every job runs on each of them in
# turn, so the figures of one row are measured within a minute of each
# other: on this shared machine, noise that comes and goes then hits all
# targets alike instead of whichever one happened to be running.

# One fio job on one target. Fails (and the target is given up) only when
# its mount is gone, or when the append job, which lays out the file the
# other jobs use, fails.
fio_step() {
  local target=$1 spec=$2 dir key rw bs qd unit label json dirn
  local -a timing
  dir=$(cat "$STATE/dir.$target")
  IFS='|' read -r key rw bs qd unit label <<<"$spec"
  json="$WORK/fio.$target.$key.json"
  check_mounted "$target" "$dir"
  if [[ $key == append16 ]]; then
    timing=()     # laying out the file: its whole size, however long it takes
  else
    timing=(--time_based "--runtime=$RUNTIME" "--ramp_time=$RAMP")
  fi
  if [[ $rw == *write* ]]; then dirn="write"; else dirn="read"; fi
  log "$target: fio $key ($label)"
  # --thread keeps fio one process, so timeout's SIGTERM/SIGKILL reaches
  # every job; --foreground lets Ctrl-C reach fio directly. fallocate=none:
  # preallocation would turn the append job into an overwrite on some
  # targets and not on others.
  if timeout --foreground -k 10 $((RUNTIME + RAMP + 600)) \
      fio --thread --name="$key" --filename="$dir/bench.dat" --size="$SIZE" \
        --direct=1 --ioengine=libaio --rw="$rw" --bs="$bs" --iodepth="$qd" \
        --fallocate=none --randrepeat=0 --norandommap "${timing[@]}" \
        --output-format=json --output="$json" 2>"$json.err" \
      && [[ $(fio_figure "$json" "$dirn" "$unit") != fail ]]; then
    record "$target" "$key" "$(fio_figure "$json" "$dirn" "$unit")"
  else
    record "$target" "$key" fail
    note "$target" "fio $key failed: $(tr '\n' ' ' <"$json.err" | cut -c1-300)"
    log "$target: fio $key failed (see $json.err)"
    # Without a complete file the remaining jobs measure nothing useful.
    if [[ $key == append16 ]]; then die "$target: the append job failed"; fi
  fi
}

meta_step() {
  local target=$1 dir phase v
  dir=$(cat "$STATE/dir.$target")
  local out="$WORK/meta.$target.out"
  check_mounted "$target" "$dir"
  rm -f "$dir/bench.dat"
  # Every target starts its metadata job from the same state, not paying
  # for the GiBs of dirty and cached pages the fio jobs of all targets left.
  # (It does not explain why metadata figures drift by up to 40% between
  # runs; the machine does, see docs/benchmarks.md.)
  sync
  echo 3 >/proc/sys/vm/drop_caches
  mkdir "$dir/meta"
  log "$target: metabench, $NFILES files"
  if ! timeout --foreground -k 10 600 "$WORK/bin/metabench" "$dir/meta" "$NFILES" "$META_PAUSE_MS" \
      >"$out" 2>"$out.err"; then
    note "$target" "metabench failed: $(tr '\n' ' ' <"$out.err" | cut -c1-300)"
  fi
  for phase in "${META_PHASES[@]}"; do
    v=$(awk -v p="$phase" '$1 == p { printf "%.0f", $4 }' "$out")
    record "$target" "meta_$phase" "${v:-fail}"
  done
  rm -rf "$dir/meta"
}

# A FUSE target whose mount has gone must not be measured: the jobs would
# run on the empty directory beneath it and report the disk's figures.
# Also stops the job loop once on_exit has begun tearing down.
# A dead daemon leaves its mount behind ("Transport endpoint is not
# connected"), so its liveness is checked too.
check_mounted() {
  [[ ! -e $STATE/stop ]] || exit 1
  [[ $1 == raw ]] && return 0
  is_fuse_mount "$2" || die "$1: $2 is no longer mounted"
  local name pid logf
  if [[ -f $STATE/watch.$1 ]]; then
    while read -r name pid logf; do
      kill -0 "$pid" 2>/dev/null || die "$1: $name (pid $pid) has died; its log ends: $(tail -2 "$logf" | tr '\n' ' ')"
    done <"$STATE/watch.$1"
  fi
}

# ---------------------------------------------------------------- targets
# setup_<target> runs in a subshell with set -e active (see step), records
# what it starts, writes the directory to measure to $STATE/dir.<target>
# and the daemons whose peak RSS is reported to $STATE/watch.<target>.

setup_raw() {
  local dir="$BASE/backing/raw"
  mkdir -p "$dir"
  echo "$dir" >"$STATE/dir.raw"
  note raw "the backing directory itself, $(df -T "$dir" | awk 'NR == 2 { print $2 " on " $1 }')"
}

setup_passthrough() {
  local src="$BASE/backing/passthrough" mnt="$BASE/mnt/passthrough" pid
  mkdir -p "$src" "$mnt"
  # cache=never: FOPEN_DIRECT_IO like rbfs's default; timeout=1: the same 1 s
  # attribute/entry caching as rbfs-mount's defaults. The malloc tunables are
  # rbfs's own (common/malloc_tuning.cc): libfuse mallocs a fresh 1 MiB buffer
  # per read, and with glibc's defaults each is a new mmap whose pages fault
  # in at ~20 µs apiece, which caps passthrough reads near 300 MiB/s here
  # (about 5 GiB/s with them) - a limit of the example, not of FUSE.
  GLIBC_TUNABLES=glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=268435456:glibc.malloc.top_pad=16777216:glibc.malloc.arena_max=2 \
  "$WORK/bin/passthrough_ll" -f -o "source=$src,cache=never,timeout=1" "$mnt" \
    >"$WORK/passthrough.log" 2>&1 &
  pid=$!
  track_pid passthrough passthrough_ll "$pid"
  track_mount passthrough "$mnt"
  wait_for "$STARTUP_TIMEOUT_S" "$pid" is_fuse_mount "$mnt" \
    || { tail -5 "$WORK/passthrough.log" >&2; die "passthrough_ll did not mount"; }
  echo "$mnt" >"$STATE/dir.passthrough"
  echo "passthrough_ll $pid $WORK/passthrough.log" >"$STATE/watch.passthrough"
  note passthrough "libfuse's passthrough_ll -o cache=never,timeout=1 (multithreaded), O_DIRECT dropped on its backing files, rbfs's malloc tuning via GLIBC_TUNABLES (see run.sh)"
}

start_sshd() {
  local ssh="$WORK/ssh" port pid
  mkdir -p "$ssh"
  chmod 700 "$ssh"
  ssh-keygen -q -t ed25519 -N '' -C rbfs-bench-host -f "$ssh/host_key"
  ssh-keygen -q -t ed25519 -N '' -C rbfs-bench-user -f "$ssh/user_key"
  cp "$ssh/user_key.pub" "$ssh/authorized_keys"
  port=$(free_port) || die "no free port for sshd"
  # Only this config is read (-f), so /etc/ssh is never used or changed.
  cat >"$ssh/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $ssh/host_key
PidFile $ssh/sshd.pid
AuthorizedKeysFile $ssh/authorized_keys
AllowUsers root
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
  # sshd's privilege separation needs /run/sshd; the package normally makes
  # it at boot. Created empty if missing, as the openssh-server unit does.
  [[ -d /run/sshd ]] || mkdir -m 0755 /run/sshd
  /usr/sbin/sshd -t -f "$ssh/sshd_config" || die "sshd rejects its config"
  /usr/sbin/sshd -D -e -f "$ssh/sshd_config" >"$WORK/sshd.log" 2>&1 &
  pid=$!
  track_pid sshfs sshd "$pid"
  wait_for "$STARTUP_TIMEOUT_S" "$pid" port_listening "$port" \
    || { tail -5 "$WORK/sshd.log" >&2; die "sshd did not start"; }
  SSHD_PORT=$port
}

port_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

setup_sshfs() {
  local src="$BASE/backing/sshfs" mnt="$BASE/mnt/sshfs" pid
  mkdir -p "$src" "$mnt"
  start_sshd
  # -F /dev/null and the known-hosts options keep ~/.ssh out of it; BatchMode
  # makes a key problem fail at once instead of prompting. dcache_timeout=1
  # gives sshfs's own attribute cache the 1 s of the other FUSE targets.
  sshfs -f "root@127.0.0.1:$src" "$mnt" -p "$SSHD_PORT" -F /dev/null \
    -o "IdentityFile=$WORK/ssh/user_key" -o IdentitiesOnly=yes \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o GlobalKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR \
    -o dcache_timeout=1 >"$WORK/sshfs.log" 2>&1 &
  pid=$!
  track_pid sshfs sshfs "$pid"
  track_mount sshfs "$mnt"
  wait_for "$STARTUP_TIMEOUT_S" "$pid" is_fuse_mount "$mnt" \
    || { tail -5 "$WORK/sshfs.log" >&2; die "sshfs did not mount"; }
  echo "$mnt" >"$STATE/dir.sshfs"
  note sshfs "sshfs $(sshfs --version 2>&1 | awk '/SSHFS version/ { print $3 }') -o dcache_timeout=1 over loopback ssh ($(ssh -V 2>&1 | cut -d, -f1)), one connection"
}

setup_rbfs() {
  local data="$BASE/backing/rbfs-data" mnt="$BASE/mnt/rbfs" spid mpid addr
  [[ -z $RBFS_BUILD_ERROR ]] || die "$RBFS_BUILD_ERROR"
  mkdir -p "$data" "$mnt"
  # Port 0: the server picks a free port and logs it in its "ready on" line.
  "$WORK/bin/rbfs-server" --listen 127.0.0.1:0 --data "$data" >"$WORK/rbfs-server.log" 2>&1 &
  spid=$!
  track_pid rbfs rbfs-server "$spid"
  wait_for "$STARTUP_TIMEOUT_S" "$spid" grep -q "ready on" "$WORK/rbfs-server.log" \
    || { tail -5 "$WORK/rbfs-server.log" >&2; die "rbfs-server did not log 'ready on'"; }
  addr=$(grep -o 'ready on [0-9.]*:[0-9]*' "$WORK/rbfs-server.log" | head -1 | awk '{ print $3 }')
  [[ $addr == 127.0.0.1:* ]] || die "cannot read the server's address from its log"
  "$WORK/bin/rbfs-mount" -f "$addr" "$mnt" >"$WORK/rbfs-mount.log" 2>&1 &
  mpid=$!
  track_pid rbfs rbfs-mount "$mpid"
  track_mount rbfs "$mnt"
  wait_for "$STARTUP_TIMEOUT_S" "$mpid" is_fuse_mount "$mnt" \
    || { tail -5 "$WORK/rbfs-mount.log" >&2; die "rbfs-mount did not mount"; }
  echo "$mnt" >"$STATE/dir.rbfs"
  printf '%s\n' "rbfs-mount $mpid $WORK/rbfs-mount.log" \
    "rbfs-server $spid $WORK/rbfs-server.log" >"$STATE/watch.rbfs"
  note rbfs "rbfs-mount defaults (cache=none, chunk_size 1 MiB, max_inflight 64, 4 channels); rbfs-server defaults (64 KiB blocks, sparse 16 GiB volume in the backing dir)"
}

# Runs "$@" in a subshell with errexit really on (a function called as
# `f || x` would run with set -e silently disabled). The subshell runs in the
# background and is waited for: bash defers a trap until a foreground child
# ends (and drops a Ctrl-C the child handled itself, as fio does), while
# `wait` returns at once, so Ctrl-C and SIGTERM take effect immediately and
# on_exit stops the subshell and what it runs.
step() {
  local rc=0
  rm -f "$WORK/last_error"
  (
    set -e
    "$@"
  ) &
  STEP_PID=$!
  wait "$STEP_PID" || rc=$?
  STEP_PID=""
  return "$rc"
}

# Gives a target up: its remaining figures are "fail", the reason and its
# daemons' logs are kept, and its mounts and daemons are torn down.
fail_target() {
  local t=$1 rc=$2 k f
  local -a logs
  log "$t: FAILED (exit $rc); continuing with the other targets"
  note "$t" "target failed: $(cat "$WORK/last_error" 2>/dev/null || echo "exit $rc, see the log")"
  for k in $(all_keys); do
    [[ -f $RESULTS/$t.$k ]] || record "$t" "$k" fail
  done
  watch_notes "$t"
  case $t in
    passthrough) logs=("$WORK/passthrough.log") ;;
    sshfs) logs=("$WORK/sshd.log" "$WORK/sshfs.log") ;;
    rbfs) logs=("$WORK/rbfs-server.log" "$WORK/rbfs-mount.log") ;;
    *) logs=() ;;
  esac
  for f in ${logs[@]+"${logs[@]}"}; do
    [[ -s $f ]] && { log "--- tail of $f"; tail -n 20 "$f" >&2; }
  done
  dmesg 2>/dev/null | tail -n 20 | grep -i -E 'fuse|hung|blocked' >&2 || true
  teardown "$t"
  local -a keep=()
  for k in ${ALIVE[@]+"${ALIVE[@]}"}; do [[ $k == "$t" ]] || keep+=("$k"); done
  ALIVE=(${keep[@]+"${keep[@]}"})
}

# Peak RSS of a target's daemons, or the news that one has died.
watch_notes() {
  local t=$1 name pid logf line=""
  [[ -f $STATE/watch.$t ]] || return 0
  while read -r name pid logf; do
    if kill -0 "$pid" 2>/dev/null; then
      line+="${line:+, }$name $(peak_rss_mib "$pid") MiB"
    else
      note "$t" "$name exited during the run: $(tail -3 "$logf" | tr '\n' ' ')"
    fi
  done <"$STATE/watch.$t"
  [[ -z $line ]] || note "$t" "peak RSS (VmHWM) at the end: $line"
  rm -f "$STATE/watch.$t"
}

all_keys() {
  local spec p
  for spec in "${FIO_JOBS[@]}"; do echo "${spec%%|*}"; done
  for p in "${META_PHASES[@]}"; do echo "meta_$p"; done
}

# Sets every target up, then runs each job on every target still standing.
run_all() {
  local t spec rc started load
  ALIVE=()
  for t in "${TARGETS[@]}"; do
    log "=== setting up $t"
    rc=0
    step "setup_$t" || rc=$?
    if ((rc == 0)); then ALIVE+=("$t"); else fail_target "$t" "$rc"; fi
  done
  started=$(date +%s)
  for spec in "${FIO_JOBS[@]}"; do
    for t in ${ALIVE[@]+"${ALIVE[@]}"}; do
      rc=0
      step fio_step "$t" "$spec" || rc=$?
      ((rc == 0)) || fail_target "$t" "$rc"
    done
  done
  for t in ${ALIVE[@]+"${ALIVE[@]}"}; do
    rc=0
    step meta_step "$t" || rc=$?
    ((rc == 0)) || fail_target "$t" "$rc"
  done
  load=$(load_between "$started" "$(date +%s)")
  [[ -z $load ]] || note all "$load"
  for t in ${ALIVE[@]+"${ALIVE[@]}"}; do watch_notes "$t"; done
  teardown
}

# ---------------------------------------------------------------- setup

build_tools() {
  mkdir -p "$WORK/bin"
  log "compiling passthrough_ll and metabench"
  # passthrough_ll hands the application's O_DIRECT on to the backing file
  # but writes from libfuse's request buffer, which is not block-aligned, so
  # every direct write fails with EINVAL. Drop O_DIRECT from its two backing
  # opens: it then writes through the backing page cache, as rbfs-server's
  # volume file and sshfs's sftp-server do.
  sed -e 's/(fi->flags | O_CREAT) & ~O_NOFOLLOW/(fi->flags | O_CREAT) \& ~(O_NOFOLLOW | O_DIRECT)/' \
      -e 's/open(buf, fi->flags & ~O_NOFOLLOW)/open(buf, fi->flags \& ~(O_NOFOLLOW | O_DIRECT))/' \
      "$FUSE_EXAMPLES/passthrough_ll.c" >"$WORK/passthrough_ll.c"
  [[ $(grep -c 'O_NOFOLLOW | O_DIRECT' "$WORK/passthrough_ll.c") -eq 2 ]] \
    || die "passthrough_ll.c changed upstream; the O_DIRECT edit no longer applies"
  # shellcheck disable=SC2046  # pkg-config's flags must split into words
  gcc -O2 -Wall -I"$FUSE_EXAMPLES" -o "$WORK/bin/passthrough_ll" \
    "$WORK/passthrough_ll.c" $(pkg-config fuse3 --cflags --libs)
  gcc -O2 -Wall -Wextra -o "$WORK/bin/metabench" "$SCRIPT_DIR/metabench.c"
  if [[ " ${TARGETS[*]} " == *" rbfs "* ]]; then
    # A broken build only fails the rbfs target: the peers are still worth
    # measuring, and setup_rbfs reports why.
    if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
      log "bazel build //server:rbfs-server //client:rbfs-mount"
      if ! (cd "$REPO_ROOT" && bazel build //server:rbfs-server //client:rbfs-mount); then
        RBFS_BUILD_ERROR="bazel build //server:rbfs-server //client:rbfs-mount failed"
        return 0
      fi
    fi
    # Copies, so that another bazel build during the run cannot swap the
    # binaries under the benchmark.
    cp "$REPO_ROOT/bazel-bin/server/rbfs-server" "$REPO_ROOT/bazel-bin/client/rbfs-mount" "$WORK/bin/" \
      || RBFS_BUILD_ERROR="no rbfs binaries in bazel-bin/"
  fi
}

# ---------------------------------------------------------------- noise

# The machine is shared. Every 2 s, count the processes on a CPU (state R)
# that are not part of this run (not below this script's pid), with their
# names, so that each target's notes say what competed with it. The load
# average would not do: the benchmark's own threads waiting on FUSE count
# in it.
start_load_sampler() {
  local me=$$
  (
    while [[ ! -e $STATE/stop ]]; do
      # A process is ours when it or an ancestor is below this script or has
      # the temp dir in its arguments: the daemons outlive the subshell that
      # started them and hang below init, as does the ssh that sshfs
      # double-forks, and sshd's session children have neither mark.
      ps -e -o pid=,ppid=,stat=,comm=,args= | awk -v me="$me" -v base="$BASE/" -v now="$(date +%s)" '
        { pp[$1] = $2; st[$1] = $3; cm[$1] = $4; mine[$1] = index($0, base) > 0 }
        END {
          n = 0; names = ""
          for (p in pp) {
            # Kernel threads (kworkers) mostly do the writeback of this run.
            if (st[p] !~ /^R/ || p == 2 || pp[p] == 2) continue
            q = p; ours = mine[p]
            for (d = 0; d < 64 && q > 1; d++) { if (q == me || mine[q]) { ours = 1; break } q = pp[q] }
            if (ours) continue
            n++; names = names " " cm[p]
          }
          print now, n, names }'
      sleep 2
    done
  ) >"$WORK/load.log" 2>/dev/null &
  SAMPLER_PID=$!
}

stop_load_sampler() {
  [[ -n $SAMPLER_PID ]] || return 0
  local p
  for p in $(descendants "$SAMPLER_PID" "") "$SAMPLER_PID"; do
    kill "$p" 2>/dev/null || true
  done
  SAMPLER_PID=""
}

# "other processes on a CPU: 1.2 mean (cc1plus, java)" between two epoch
# seconds, flagged when others kept at least one of the vCPUs busy on average.
load_between() {
  awk -v a="$1" -v b="$2" -v n="$(nproc)" '
    $1 >= a && $1 <= b {
      c++; s += $2
      for (i = 3; i <= NF; i++) seen[$i]++
    }
    END {
      if (!c) exit
      top = ""
      for (k = 0; k < 3; k++) {
        best = ""; bc = 0
        for (x in seen) if (seen[x] > bc) { best = x; bc = seen[x] }
        if (best == "") break
        top = top (top == "" ? "" : ", ") best; delete seen[best]
      }
      printf "other processes on a CPU during the jobs: %.1f mean of %d vCPUs", s / c, n
      if (top != "") printf " (mostly %s)", top
      if (s / c >= 0.5) printf "; NOISY"
      printf "\n" }' "$WORK/load.log" 2>/dev/null
}

# ---------------------------------------------------------------- output

fmt_num() {
  awk -v v="$1" 'BEGIN {
    if (v == "" || v == "fail") { print "fail"; exit }
    if (v + 0 >= 100) printf "%.0f\n", v; else printf "%.1f\n", v }'
}

ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "" || b == "" || a == "fail" || b == "fail" || b + 0 == 0) { print "–"; exit }
    printf "%.2f\n", a / b }'
}

value_of() { cat "$RESULTS/$1.$2" 2>/dev/null || echo ""; }

# Rows: key|unit|label, fio jobs then metadata phases.
table_rows() {
  local spec key rw bs qd unit label p
  for spec in "${FIO_JOBS[@]}"; do
    IFS='|' read -r key rw bs qd unit label <<<"$spec"
    echo "$key|$unit|$label"
  done
  for p in "${META_PHASES[@]}"; do
    echo "meta_$p|ops/s|metadata: $p"
  done
}

make_table() {
  local key unit label t line
  line="| job | unit |"
  for t in "${TARGETS[@]}"; do line+=" $t |"; done
  line+=" rbfs/passthrough | rbfs/sshfs |"
  echo "$line"
  line="|---|---|"
  for t in "${TARGETS[@]}"; do line+="---:|"; done
  echo "$line---:|---:|"
  while IFS='|' read -r key unit label; do
    line="| $label | $unit |"
    for t in "${TARGETS[@]}"; do
      line+=" $(fmt_num "$(value_of "$t" "$key")") |"
    done
    line+=" $(ratio "$(value_of rbfs "$key")" "$(value_of passthrough "$key")") |"
    line+=" $(ratio "$(value_of rbfs "$key")" "$(value_of sshfs "$key")") |"
    echo "$line"
  done < <(table_rows)
}

make_notes() {
  local t n
  for t in all "${TARGETS[@]}"; do
    [[ -f $RESULTS/$t.notes ]] || continue
    while IFS= read -r n; do
      if [[ $t == all ]]; then echo "- $n"; else echo "- $t: $n"; fi
    done <"$RESULTS/$t.notes"
  done
}

# Short x-axis labels: "seq write qd16", "meta stat".
chart_label() {
  case $1 in
    append16) echo "append 1M qd16" ;;
    seqwrite*) echo "seq write 1M qd${1#seqwrite}" ;;
    seqread*) echo "seq read 1M qd${1#seqread}" ;;
    randread*) echo "rand read 4k qd${1#randread}" ;;
    randwrite*) echo "rand write 4k qd${1#randwrite}" ;;
    meta_*) echo "meta ${1#meta_}" ;;
    *) echo "$1" ;;
  esac
}

# Chart: every figure divided by passthrough's for the same job, log scale,
# so MiB/s, IOPS and ops/s share one axis and 1.0 is the FUSE ceiling.
make_chart() {
  local png=$1 dat="$WORK/chart.dat" key unit label t v p
  {
    printf '"job"'
    for t in "${TARGETS[@]}"; do printf ' "%s"' "$t"; done
    echo
    while IFS='|' read -r key unit label; do
      p=$(value_of passthrough "$key")
      printf '"%s"' "$(chart_label "$key")"
      for t in "${TARGETS[@]}"; do
        v=$(value_of "$t" "$key")
        awk -v v="$v" -v p="$p" 'BEGIN {
          if (v == "" || v == "fail" || p == "" || p == "fail" || p + 0 == 0 || v + 0 <= 0) printf " NaN"
          else printf " %.4f", v / p }'
      done
      echo
    done < <(table_rows)
  } >"$dat"
  # The axis starts at the power of ten below the smallest ratio, so no bar
  # is cut off (the ratios are the last n fields; labels hold spaces).
  local ymin
  ymin=$(awk -v n="${#TARGETS[@]}" 'NR > 1 { for (i = NF - n + 1; i <= NF; i++) if ($i != "NaN" && (m == "" || $i + 0 < m)) m = $i + 0 }
    END { if (m == "" || m >= 0.1) { print 0.01; exit }
          x = log(m / 2) / log(10); f = int(x); if (f > x) f--; printf "%g\n", 10 ^ f }' "$dat")
  local ncols=$(( ${#TARGETS[@]} + 1 )) plot="" i
  for ((i = 2; i <= ncols; i++)); do
    plot+="${plot:+, }'$dat' using $i:xtic(1) title columnheader($i)"
  done
  gnuplot <<EOF
set terminal pngcairo size 1400,700 font "DejaVu Sans,11"
set output '$png'
set title "rbfs and peers, $(date -u +%Y-%m-%d), figure / passthrough's figure (log scale; 1 = FUSE passthrough)"
set datafile missing "NaN"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set logscale y
set yrange [$ymin:*]
set grid ytics mytics
set ylabel "relative to passthrough"
set xtics rotate by -30 left
set key top right
set bmargin 6
set rmargin 8
plot $plot, 1 with lines dt 2 lc rgb "black" notitle
EOF
}

# Replaces (or appends) the peer comparison section, leaving the rest alone.
write_docs() {
  local doc="$REPO_ROOT/docs/benchmarks.md" section="$WORK/section.md" cmd=$1
  local mem kernel
  mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  kernel=$(uname -r)
  {
    echo "$SECTION_HEADING"
    echo
    echo "    $cmd"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC'), rbfs built at $BUILT_FROM."
    echo "Machine: $(nproc) vCPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)),"
    echo "$mem RAM, kernel $kernel, $(fio --version), $(sshfs --version 2>&1 | awk '/FUSE library/ { print "libfuse " $4 }')."
    echo "Load average before / after the run: $START_LOADAVG / $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "(other work on the machine shows here)."
    echo
    echo "fio: \`direct=1\`, \`ioengine=libaio\`, one job, ${SIZE} file, ${RUNTIME} s per job after ${RAMP} s ramp"
    echo "(the append row is untimed: it writes the whole new file, which the other jobs then use)."
    echo "Metadata: \`tools/bench/metabench.c\`, $NFILES files of 1 KiB in one directory, one"
    echo "thread; a ${META_PAUSE_MS} ms pause before stat and readdir lets the 1 s FUSE caches expire."
    echo "MiB/s for 1 MiB jobs, IOPS for 4 KiB jobs, ops/s (readdir: entries/s) for metadata."
    # shellcheck disable=SC2016  # markdown backticks, not expansions
    echo '`raw` is O_DIRECT on the backing disk; passthrough, sshfs and rbfs all store into'
    echo 'files of that disk through its page cache (none of them syncs here), so a FUSE'
    # shellcheck disable=SC2016
    echo 'target can beat `raw`. The ratio columns are the ones to read: the machine is'
    echo 'shared, and absolute figures move from run to run.'
    echo
    make_table
    echo
    echo "![rbfs and peers, relative to passthrough](benchmarks.png)"
    echo
    echo "Notes:"
    echo
    make_notes
    if [[ -n ${BENCH_NOISE_NOTE:-} ]]; then echo "- $BENCH_NOISE_NOTE"; fi
    echo
  } >"$section"
  local tmp="$doc.run-sh.tmp"
  if [[ -f $doc ]] && grep -qxF "$SECTION_HEADING" "$doc"; then
    # Drop the old section: from its heading up to the next "## " heading.
    awk -v h="$SECTION_HEADING" -v s="$section" '
      $0 == h { while ((getline l < s) > 0) print l; skip = 1; next }
      skip && /^## / { skip = 0 }
      !skip { print }' "$doc" >"$tmp"
  else
    { [[ -f $doc ]] && cat "$doc" && echo; cat "$section"; } >"$tmp"
  fi
  # Keep exactly one trailing newline.
  sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$tmp" >"$doc"
  rm -f "$tmp"
  log "wrote $doc"
}

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
