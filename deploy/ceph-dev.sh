#!/usr/bin/env bash
# deploy/ceph-dev.sh: a private, throwaway Ceph cluster on 127.0.0.1 for
# development and tests (issue 17). Debian's Ceph 16.2 (Pacific) packages
# ceph-mon, ceph-osd and ceph-common; no systemd, no ceph-mgr; run as root.
#
#   deploy/ceph-dev.sh up DIR [OSDS]   start 1 mon + OSDS OSDs (default 1)
#   deploy/ceph-dev.sh down DIR        stop what `up DIR` started
#
# `up` creates DIR (it must be absent or empty: `up` on a DIR that holds a
# cluster, running or stopped, fails and says so; it is not idempotent), writes
# DIR/ceph.conf (auth none, msgr2 only, every bind on 127.0.0.1, a mon port
# picked free at start so that clusters can run side by side, run/log/data
# paths inside DIR), starts the mon, one bluestore OSD per 20 GiB sparse file
# DIR/osd/N/block, waits until every OSD is up, and creates the replicated pool
# "rbfs" (size OSDS, 32 PGs, initialised for RBD). It then prints on stdout
# exactly
#   CEPH_CONF=DIR/ceph.conf
#   CEPH_POOL=rbfs
# (DIR made absolute); everything else goes to stderr. Use it with
# `rados -c DIR/ceph.conf -p rbfs ...`, `rbd -c DIR/ceph.conf ...`, or
# librados' rados_conf_read_file(DIR/ceph.conf). The client sections set
# rbd cache = false and 30 s mon/osd op timeouts, so a dead cluster gives
# errors (ETIMEDOUT) rather than hangs.
#
# Every wait is a short poll with a deadline: CEPH_DEV_TIMEOUT seconds (default
# 120) for the whole of `up`, 30 s for each daemon in `down`. When `up` fails
# it prints the tail of DIR's mon/OSD logs to stderr, stops what it started
# and exits non-zero; DIR is left for inspection.
#
# `down` stops the daemons by the pids that `up` recorded in DIR/pids (each
# checked against its recorded start time, so a reused pid is never hit; no
# name matching): SIGTERM to the OSDs, then the mon, SIGKILL for any still
# there after 30 s, and returns once they are gone. It succeeds when nothing
# runs (again, or after a failed `up`). The caller may then remove DIR.
#
# Timing (2 cores; Ceph 16.2.15): `up` 2.0 s with 1 OSD, 2.5 s with 3 (OSD
# mkfs run in parallel), ~4 s each for 4 clusters of 2 OSDs started at once;
# `down` 0.2-0.35 s. The defaults would take ~10 s: `bdev aio poll ms` and
# `paxos propose interval` below save most of it. Memory (RSS): mon 35 MiB,
# OSD 55 MiB idle, 200-550 MiB after a few GiB of benchmark writes (tcmalloc
# preloaded, see below). Idle CPU: ~1% of a core for a mon and 2 OSDs.
# DIR wants ~1 GiB free per OSD for light use (blocks are sparse; a 20 GiB
# file per OSD can fill as far as the data written). On tmpfs it works, but
# the data then lives in RAM. Where DIR's path is too long for unix sockets
# (over 70 chars: Bazel's TEST_TMPDIR), the admin sockets go to a
# /tmp/ceph-dev-run.* directory instead, which `down` removes.
set -euo pipefail
export LC_ALL=C

POOL=rbfs
PG_NUM=32
BLOCK_SIZE=$((20 << 30))
TIMEOUT=${CEPH_DEV_TIMEOUT:-120}
STOP_TIMEOUT=30

log() {
  local ms=$(($(now_ms) - START_MS))
  printf 'ceph-dev [%d.%02d s]: %s\n' $((ms / 1000)) $(((ms % 1000) / 10)) "$*" >&2
}
die() {
  log "error: $*"
  exit 1
}
usage() {
  sed -n 's/^#   \(deploy\/ceph-dev.sh .*\)/usage: \1/p' "$0" >&2
  exit 2
}

# --- time and polling

now_ms() {
  local t=${EPOCHREALTIME/./}
  echo $((t / 1000))
}
START_MS=$(now_ms)
DEADLINE=$((START_MS + TIMEOUT * 1000))
UP_OK=0
remaining_s() {
  local r=$(((DEADLINE - $(now_ms)) / 1000))
  ((r > 0)) || r=1
  echo "$r"
}
past_deadline() { (($(now_ms) > DEADLINE)); }

# --- processes

# Start time (clock ticks since boot) of pid $1, empty when it is gone.
proc_start() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  # Field 22 of stat is the 20th after "pid (comm)".
  awk '{ print $20 }' <<<"$stat"
}
# Whether pid $1 with start time $2 still runs (a zombie does not).
proc_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]] || return 1
  [[ $(awk '{ print $20 }' <<<"$stat") == "$2" ]]
}

# DIR/pids: one "NAME PID STARTTIME" line per daemon, in start order.
record_pid() {
  local start
  start=$(proc_start "$2")
  [[ -n $start ]] || start=gone
  echo "$1 $2 $start" >>"$DIR/pids"
}
unrecord_pid() {
  local tmp="$DIR/pids.tmp"
  awk -v n="$1" '$1 != n' "$DIR/pids" >"$tmp" || true
  mv "$tmp" "$DIR/pids"
}

# Runs "$@" in the background with stdin from /dev/null, stdout and stderr
# appended to file $1 and none of our other descriptors (a daemon holding a
# caller's pipe open, e.g. the stdout of $(ceph-dev.sh up ...), would make
# the caller wait for ever, and one holding DIR/.lock would block down).
# Sets SPAWNED to its pid.
spawn() {
  local out=$1 fd
  shift
  (
    for fd in /proc/"$BASHPID"/fd/*; do
      fd=${fd##*/}
      if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec "$@" </dev/null >>"$out" 2>&1
  ) &
  SPAWNED=$!
}

# Lines of DIR/pids whose process still runs.
running() {
  local name pid start
  [[ -f $DIR/pids ]] || return 0
  while read -r name pid start; do
    proc_alive "$pid" "$start" && echo "$name $pid $start"
  done <"$DIR/pids"
  return 0
}

# Sends SIGTERM to the running daemons whose names match glob $1 and waits
# up to STOP_TIMEOUT s for them, SIGKILL after that (and 10 s more).
stop_matching() {
  local glob=$1 name pid start p deadline sig=TERM
  local -a procs=() left=()
  while read -r name pid start; do
    # shellcheck disable=SC2053 # $glob is a glob on purpose.
    [[ $name == $glob ]] && procs+=("$pid:$start:$name")
  done < <(running)
  ((${#procs[@]})) || return 0
  for p in "${procs[@]}"; do
    kill -TERM "${p%%:*}" 2>/dev/null || true
  done
  deadline=$(($(now_ms) + STOP_TIMEOUT * 1000))
  while :; do
    left=()
    for p in "${procs[@]}"; do
      IFS=: read -r pid start name <<<"$p"
      proc_alive "$pid" "$start" && left+=("$p")
    done
    ((${#left[@]})) || return 0
    if (($(now_ms) > deadline)); then
      [[ $sig == KILL ]] && {
        log "still running after SIGKILL: ${left[*]}"
        return 1
      }
      log "still running after SIGTERM for ${STOP_TIMEOUT} s, SIGKILL: ${left[*]}"
      sig=KILL
      for p in "${left[@]}"; do
        IFS=: read -r pid start name <<<"$p"
        if proc_alive "$pid" "$start"; then kill -KILL "$pid" 2>/dev/null || true; fi
      done
      deadline=$(($(now_ms) + 10000))
    fi
    sleep 0.05
  done
}

stop_all() {
  local rc=0
  stop_matching 'osd.*' || rc=1
  stop_matching '*' || rc=1
  if ((rc == 0)); then
    rm -f "$DIR/pids"
    if [[ -f $DIR/rundir ]]; then
      local run
      run=$(cat "$DIR/rundir")
      [[ $run == /tmp/ceph-dev-run.* ]] && rm -rf -- "$run"
      rm -f "$DIR/rundir"
    fi
  fi
  return "$rc"
}

# --- ports

# Whether anything listens on TCP port $1 (IPv4 or IPv6).
port_listening() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v h=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
# Whether pid $1 has a listening socket on TCP port $2.
pid_listens_on() {
  local hex inode
  hex=$(printf '%04X' "$2")
  while read -r inode; do
    find "/proc/$1/fd" -maxdepth 1 -lname "socket:\[$inode\]" 2>/dev/null | grep -q . && return 0
  done < <(awk -v h=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { print $10 }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  return 1
}
# A free port below the ephemeral range and outside Ceph's OSD range (6800-7300).
pick_port() {
  local lo hi port i
  read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
  hi=$((lo - 1))
  ((hi > 11000)) || hi=32767
  for ((i = 0; i < 200; i++)); do
    port=$((10000 + SRANDOM % (hi - 10000)))
    port_listening "$port" || {
      echo "$port"
      return 0
    }
  done
  die "no free TCP port found in 10000-$hi"
}

# --- ceph

cephcli() { timeout -k 5 "$(remaining_s)" ceph -c "$CONF" "$@"; }

# The last lines of the daemons' logs (rocksdb's statistics left out) and of
# their stdout/stderr and mkfs output.
show_logs() {
  local f
  for f in "$DIR"/log/*.log "$DIR"/log/*.out; do
    [[ -s $f && $f != */client.log ]] || continue
    printf '===== tail of %s =====\n' "$f" >&2
    if [[ $f =~ /(mon\.a|osd\.[0-9]+)\.log$ ]]; then
      grep -a '^20' "$f" | grep -av ' rocksdb: ' | tail -n 30 >&2 || true
    else
      tail -n 30 "$f" >&2
    fi
  done
}

# A PG's read lease is a multiple of the heartbeat grace (0.8: 3.2 s here),
# short so that replicas hand over soon after an OSD dies. A lone OSD has no
# replica to hand over to, and one paused longer than its lease (SIGSTOP, a
# frozen VM) can come back with a PG "laggy" and its writes queued forever
# (ceph/ceph-container#1682); a lease of 120 s keeps such a pause harmless.
single_osd_lease() {
  if ((OSDS == 1)); then echo "osd pool default read lease ratio = 30"; fi
}

write_conf() {
  local port=$1
  cat >"$CONF" <<EOF
# Written by deploy/ceph-dev.sh up: a private development cluster.
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$port
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
ms bind msgr1 = false
ms bind msgr2 = true
auth cluster required = none
auth service required = none
auth client required = none
keyring = $DIR/keyring
run dir = $RUN
admin socket = $RUN/\$cluster-\$name.\$pid.asok
crash dir = $DIR/crash
osd pool default size = $OSDS
osd pool default pg num = $PG_NUM
osd pool default pgp num = $PG_NUM
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
# A full disk beside a development cluster should not stop its mon.
mon data avail warn = 5
mon data avail crit = 1
# Propose map changes (OSD boot, pool create) sooner than the default 1 s.
paxos propose interval = 0.1
client mount timeout = 30
rados mon op timeout = 30
rados osd op timeout = 30
# A killed OSD is marked down within seconds (defaults: 6 s heartbeats,
# 20 s grace, two reporters), so that I/O of the PGs it served moves to the
# other replicas well within a mount's deadline.
osd heartbeat interval = 1
osd heartbeat grace = 4
mon osd min down reporters = 1
$(single_osd_lease)

[mon]
mon data = $DIR/mon
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.log
pid file = $RUN/\$name.pid
# The port was free a moment ago; when another cluster took it meanwhile,
# fail at once so that up picks another one.
ms bind retry count = 1

[osd]
osd data = $DIR/osd/\$id
log file = $DIR/log/\$name.log
pid file = $RUN/\$name.pid
osd objectstore = bluestore
bluestore block create = true
bluestore block size = $BLOCK_SIZE
bluestore fsck on mkfs = false
# Closing a block device waits up to one aio poll (250 ms by default), and
# mkfs and start open and close it a dozen times.
bdev aio poll ms = 20
bluestore cache autotune = false
bluestore cache size = 134217728
osd memory target = 1073741824
# Memory under load: smaller rocksdb memtables (default 4 x 256 MiB) and PG
# logs (default up to 10000 entries per PG).
bluestore rocksdb options annex = write_buffer_size=67108864,max_write_buffer_number=2
osd min pg log entries = 100
osd max pg log entries = 1000
osd pg log dups tracked = 1000
osd op num shards = 2
osd op num threads per shard = 2

[client]
rbd cache = false
admin socket = $RUN/\$cluster-\$name.\$pid.\$cctid.asok
log file = $DIR/log/client.log
EOF
}

# Starts the mon on a free port; retries with another port when the mon
# could not bind it (a parallel cluster took it).
start_mon() {
  local attempt port pid start
  for ((attempt = 1; attempt <= 5; attempt++)); do
    port=$(pick_port)
    write_conf "$port"
    rm -rf "$DIR/mon" "$DIR/monmap"
    monmaptool --create --clobber --fsid "$FSID" --enable-all-features \
      --addv a "[v2:127.0.0.1:$port]" "$DIR/monmap" >/dev/null
    ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" --keyring "$DIR/keyring" \
      >>"$DIR/log/mon.a.mkfs.log" 2>&1 || die "ceph-mon --mkfs failed"
    spawn "$DIR/log/mon.a.out" ceph-mon -c "$CONF" -i a -f
    pid=$SPAWNED
    record_pid mon.a "$pid"
    start=$(proc_start "$pid")
    while :; do
      if pid_listens_on "$pid" "$port"; then
        log "mon.a (pid $pid) listening on 127.0.0.1:$port"
        return 0
      fi
      if ! proc_alive "$pid" "$start"; then
        if grep -q 'unable to bind' "$DIR/log/mon.a.log" 2>/dev/null; then
          log "mon.a could not bind port $port (taken meanwhile); another one"
          unrecord_pid mon.a
          mv "$DIR/log/mon.a.log" "$DIR/log/mon.a.port-$port.old"
          break
        fi
        die "ceph-mon exited during start"
      fi
      past_deadline && die "ceph-mon did not listen on port $port in time"
      sleep 0.05
    done
  done
  die "ceph-mon could not bind a port in 5 attempts"
}

on_up_exit() {
  ((UP_OK == 0)) || return 0
  log "up failed; logs:"
  show_logs
  log "stopping what was started"
  if stop_all; then log "stopped"; else log "could not stop everything: $(running)"; fi
}

up() {
  local i id uuid pid up_osds
  local -a uuids=() ids=() mkfs_pids=()
  if [[ -f $DIR/pids ]] && [[ -n $(running) ]]; then
    die "a cluster is already running in $DIR (pids: $(running | awk '{ printf "%s=%s ", $1, $2 }')); run: $0 down $DIR"
  fi
  [[ -z $(ls -A -I .lock "$DIR") ]] || die "$DIR is not empty (a stopped cluster?); remove it or give a new DIR"
  mkdir -p "$DIR/log" "$DIR/osd" "$DIR/crash"
  # unix socket paths are limited to 107 bytes.
  if ((${#DIR} > 70)); then
    RUN=$(mktemp -d /tmp/ceph-dev-run.XXXXXX)
    echo "$RUN" >"$DIR/rundir"
  else
    RUN=$DIR/run
    mkdir -p "$RUN"
  fi
  FSID=$(cat /proc/sys/kernel/random/uuid)

  trap on_up_exit EXIT

  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$DIR/keyring" --gen-key -n client.admin --cap mon 'allow *' \
    --cap osd 'allow *' --cap mgr 'allow *' >/dev/null

  start_mon

  for ((i = 0; i < OSDS; i++)); do
    uuid=$(cat /proc/sys/kernel/random/uuid)
    id=$(cephcli osd new "$uuid") || die "ceph osd new failed"
    [[ $id =~ ^[0-9]+$ ]] || die "ceph osd new printed '$id'"
    uuids+=("$uuid")
    ids+=("$id")
    mkdir -p "$DIR/osd/$id"
  done
  # mkfs in parallel: most of the time of a bluestore mkfs is waiting on I/O.
  for ((i = 0; i < OSDS; i++)); do
    spawn "$DIR/log/osd.${ids[i]}.mkfs.log" timeout -k 5 "$(remaining_s)" \
      ceph-osd -c "$CONF" -i "${ids[i]}" --mkfs --osd-uuid "${uuids[i]}"
    mkfs_pids+=("$SPAWNED")
  done
  for ((i = 0; i < OSDS; i++)); do
    wait "${mkfs_pids[i]}" || {
      kill "${mkfs_pids[@]}" 2>/dev/null || true
      die "ceph-osd --mkfs failed for osd.${ids[i]}"
    }
  done
  log "mkfs done for osd.${ids[*]}"
  # Debian builds ceph-osd with glibc's malloc, whose arenas keep an OSD at
  # ~850 MiB after a few GiB of writes (4 MiB buffers); upstream builds use
  # tcmalloc, which ceph-common's libgoogle-perftools4 brings: preload it
  # (~300 MiB after the same), else make glibc mmap large buffers.
  local tcmalloc
  local -a OSD_ENV=(MALLOC_MMAP_THRESHOLD_=131072)
  tcmalloc=$(ldconfig -p 2>/dev/null | awk '$1 == "libtcmalloc.so.4" { print $NF; exit }') || true
  [[ -n $tcmalloc && -e $tcmalloc ]] && OSD_ENV=("LD_PRELOAD=$tcmalloc")
  for id in "${ids[@]}"; do
    spawn "$DIR/log/osd.$id.out" env "${OSD_ENV[@]}" ceph-osd -c "$CONF" -i "$id" -f
    pid=$SPAWNED
    record_pid "osd.$id" "$pid"
  done

  while :; do
    local name start
    while read -r name pid start; do
      proc_alive "$pid" "$start" || die "$name (pid $pid) exited"
    done <"$DIR/pids"
    up_osds=$(cephcli osd stat -f json | grep -o '"num_up_osds":[0-9]*' | cut -d: -f2) || up_osds=0
    [[ ${up_osds:-0} -ge $OSDS ]] && break
    past_deadline && die "only ${up_osds:-0} of $OSDS OSDs up after ${TIMEOUT} s"
    sleep 0.2
  done
  log "$OSDS OSD(s) up"

  cephcli osd pool create "$POOL" "$PG_NUM" "$PG_NUM" replicated >&2 || die "pool create failed"
  # Writes rbd_info: returns once the pool's first PG serves I/O.
  timeout -k 5 "$(remaining_s)" rbd -c "$CONF" pool init "$POOL" || die "rbd pool init failed"
  UP_OK=1
  trap - EXIT
  local ms=$(($(now_ms) - START_MS))
  log "ready in $((ms / 1000)).$(((ms % 1000) / 100)) s: $OSDS OSD(s), pool $POOL size $OSDS, conf $CONF"
  printf 'CEPH_CONF=%s\nCEPH_POOL=%s\n' "$CONF" "$POOL" >&3
}

down() {
  [[ -d $DIR ]] || {
    log "$DIR does not exist: nothing to stop"
    return 0
  }
  if [[ -z $(running) ]]; then
    log "nothing running in $DIR"
    stop_all
    return 0
  fi
  stop_all || die "some daemons in $DIR did not stop"
  log "stopped"
}

(($# >= 2)) || usage
[[ $(id -u) == 0 ]] || die "must run as root"
CMD=$1
DIR=$2
OSDS=${3:-1}
[[ $OSDS =~ ^[1-9][0-9]?$ ]] || die "OSDS must be 1-99, not '$OSDS'"
for tool in ceph ceph-mon ceph-osd ceph-authtool monmaptool rbd timeout flock; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install ceph-mon ceph-osd ceph-common)"
done
# stdout carries the two result lines only.
exec 3>&1 1>&2

# One up or down at a time per DIR (DIR/.lock).
case $CMD in
  up)
    (($# <= 3)) || usage
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd -P)
    CONF=$DIR/ceph.conf
    exec 9>"$DIR/.lock"
    flock -w "$TIMEOUT" 9 || die "another up/down holds $DIR/.lock"
    up
    ;;
  down)
    (($# == 2)) || usage
    if [[ -d $DIR ]]; then
      DIR=$(cd "$DIR" && pwd -P)
      exec 9>"$DIR/.lock"
      flock -w $((STOP_TIMEOUT * 3)) 9 || die "another up/down holds $DIR/.lock"
    fi
    down
    ;;
  *) usage ;;
esac
