# shellcheck shell=bash
# tools/bench/jobs.sh, sourced by tools/bench/run.sh: runs every job on every
# target still standing, each step in its own subshell, gives a failing target
# up without stopping the others, and samples the machine's other load.
#
# All targets are mounted at once and every job runs on each of them in
# turn, so the figures of one row are measured within a minute of each
# other: on this shared machine, noise that comes and goes then hits all
# targets alike instead of whichever one happened to be running.

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
  for t in ${ALIVE[@]+"${ALIVE[@]}"}; do
    rc=0
    step dev_step "$t" || rc=$?
    ((rc == 0)) || fail_target "$t" "$rc"
  done
  load=$(load_between "$started" "$(date +%s)")
  [[ -z $load ]] || note all "$load"
  for t in ${ALIVE[@]+"${ALIVE[@]}"}; do watch_notes "$t"; done
  teardown
}

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

# Writes back and drops the kernel's page, dentry and inode caches, so that
# the next job starts cold on every target alike.
drop_page_cache() {
  sync
  echo 3 >/proc/sys/vm/drop_caches
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
  drop_page_cache
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

# The developer workload: each step of DEV_STEPS on one clone of $DEV_REPO,
# timed alone; a step that fails records "fail" and the rest still run.
dev_step() {
  local target=$1 dir spec key t0 t1 rc
  dir=$(cat "$STATE/dir.$target")
  check_mounted "$target" "$dir"
  local repo="$dir/dev/repo" out="$WORK/dev.$target.out"
  drop_page_cache
  mkdir -p "$dir/dev"
  log "$target: developer workload on a clone of $DEV_REPO"
  for spec in "${DEV_STEPS[@]}"; do
    key=${spec%%|*}
    check_mounted "$target" "$dir"
    t0=$(date +%s%N)
    rc=0
    # tar to a pipe, not to /dev/null: GNU tar skips reading the files'
    # data when its archive is /dev/null.
    case $key in
      clone) git clone -q --no-hardlinks "$DEV_REPO" "$repo" ;;
      status1 | status2) git -C "$repo" status --porcelain >/dev/null ;;
      stat) find "$repo" -print0 | xargs -0 stat --format=%s >/dev/null ;;
      tar) tar -cf - -C "$dir/dev" repo | cat >/dev/null ;;
      grep) grep -r -c "rbfs" "$repo" >/dev/null ;;
      rm) rm -rf "$repo" ;;
    esac >>"$out" 2>&1 || rc=$?
    t1=$(date +%s%N)
    if ((rc == 0)); then
      record "$target" "dev_$key" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
    else
      record "$target" "dev_$key" fail
      note "$target" "developer workload: $key failed (status $rc, see $out)"
    fi
  done
  rm -rf "${dir:?}/dev"
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
    rbfs | rbfs-etcd) logs=("$WORK/$t-server.log" "$WORK/$t-mount.log") ;;
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
