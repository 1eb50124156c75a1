# shellcheck shell=bash
# tools/lib/proc.sh: processes, ports, mounts and bounded waits, for the bash
# scripts that start daemons and FUSE mounts and must tear them down again
# (tools/bench/run.sh, deploy/test-container.sh, deploy/etcd-dev.sh).
#
#   source "$ROOT/tools/lib/proc.sh"
#
# Every wait is bounded. Nothing here exits: each function returns non-zero and
# the caller decides. What goes wrong on the way is reported through log(),
# which the sourcing script defines (a plain one to stderr is defined here when
# it has not).

declare -F log >/dev/null || log() { printf '%s\n' "$*" >&2; }

# --- processes

# Stops pid $1: SIGTERM, then SIGKILL when it is still there after 5 s.
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

# Pids below $1, each after its own descendants, not descending into the
# pids listed in $2 (space-separated).
descendants() {
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    [[ " $2 " == *" $c "* ]] && continue
    descendants "$c" "$2"
    echo "$c"
  done
}

# Peak resident memory (VmHWM) of a live process, in MiB ("?" when gone).
peak_rss_mib() {
  awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"
}

# --- ports

# Whether something listens on TCP port $1.
port_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# Prints a TCP port in 20000-59999 that nothing listens on.
free_port() {
  local port i
  for ((i = 0; i < 100; i++)); do
    port=$((20000 + RANDOM % 40000))
    if ! port_listening "$port"; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

# --- waits

# wait_for SECONDS PID COMMAND...: runs COMMAND (its output discarded) every
# 0.1 s until it succeeds; fails when SECONDS have passed, or as soon as PID
# has died (PID may be "" when there is no process to watch).
wait_for() {
  local secs=$1 pid=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# --- mounts
# These read /proc/self/mountinfo rather than calling mountpoint or stat,
# which would block on a FUSE mount whose daemon is stuck.

# Whether $1 is a mount point.
is_mounted() {
  awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# Whether $1 is a FUSE mount point.
is_fuse_mount() {
  awk -v m="$1" '$5 == m { for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) ~ /^fuse/) found = 1; break } } END { exit !found }' /proc/self/mountinfo
}

# The FUSE connection number of mount $1 (its /sys/fs/fuse/connections entry).
fuse_conn_of() {
  awk -v m="$1" '$5 == m { split($3, d, ":"); print d[2]; exit }' /proc/self/mountinfo
}

# Unmounts $1 if it is mounted: fusermount3 -u, else a lazy unmount, and then
# aborts the FUSE connection of a daemon that no longer answers, so that its
# waiting readers get ENOTCONN instead of hanging. Fails if still mounted.
unmount_one() {
  local mnt=$1 conn
  is_mounted "$mnt" || return 0
  timeout 10 fusermount3 -u "$mnt" 2>/dev/null && ! is_mounted "$mnt" && return 0
  log "fusermount3 -u $mnt failed; lazy unmount"
  conn=$(fuse_conn_of "$mnt")
  timeout 10 umount -l "$mnt" 2>/dev/null || true
  if [[ -n $conn && -w /sys/fs/fuse/connections/$conn/abort ]]; then
    echo 1 >"/sys/fs/fuse/connections/$conn/abort" 2>/dev/null || true
  fi
  ! is_mounted "$mnt"
}
