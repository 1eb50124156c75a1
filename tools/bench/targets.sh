# shellcheck shell=bash
# tools/bench/targets.sh, sourced by tools/bench/run.sh: builds what the
# targets run (the peers from source, rbfs with Bazel) and sets each target up.
#
# setup_<target> runs in a subshell with set -e active (see step), records
# what it starts, writes the directory to measure to $STATE/dir.<target>
# and the daemons whose peak RSS is reported to $STATE/watch.<target>.

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
  if [[ " ${TARGETS[*]} " == *" rbfs"* ]]; then
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

setup_raw() {
  local dir="$BASE/backing/raw"
  mkdir -p "$dir"
  echo "$dir" >"$STATE/dir.raw"
  note raw "the backing directory itself, $(df -T "$dir" | awk 'NR == 2 { print $2 " on " $1 }')"
}

setup_passthrough() {
  local src="$BASE/backing/passthrough" mnt="$BASE/mnt/passthrough" pid
  mkdir -p "$src" "$mnt"
  # cache=never: FOPEN_DIRECT_IO, the FUSE ceiling of the direct I/O jobs;
  # timeout=1: 1 s attribute/entry caching (no invalidations: a longer one
  # would not be coherent). The malloc tunables are
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

setup_sshfs() {
  local src="$BASE/backing/sshfs" mnt="$BASE/mnt/sshfs" pid
  mkdir -p "$src" "$mnt"
  start_sshd
  # -F /dev/null and the known-hosts options keep ~/.ssh out of it; BatchMode
  # makes a key problem fail at once instead of prompting. dcache_timeout=1
  # gives sshfs's own attribute cache the 1 s of passthrough (sshfs cannot
  # learn of other clients' changes, so a longer cache would be stale).
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

# start_rbfs TARGET [SERVER_FLAG...]: rbfs-server (its data dir in the
# backing dir) and an rbfs-mount over it, for target TARGET.
start_rbfs() {
  local t=$1 data="$BASE/backing/$1-data" mnt="$BASE/mnt/$1" spid mpid addr
  shift
  local slog="$WORK/$t-server.log" mlog="$WORK/$t-mount.log"
  [[ -z $RBFS_BUILD_ERROR ]] || die "$RBFS_BUILD_ERROR"
  mkdir -p "$data" "$mnt"
  # Port 0: the server picks a free port and logs it in its "ready on" line.
  "$WORK/bin/rbfs-server" --listen 127.0.0.1:0 --data "$data" "$@" >"$slog" 2>&1 &
  spid=$!
  track_pid "$t" rbfs-server "$spid"
  wait_for "$STARTUP_TIMEOUT_S" "$spid" grep -q "ready on" "$slog" \
    || { tail -5 "$slog" >&2; die "rbfs-server did not log 'ready on'"; }
  addr=$(grep -o 'ready on [0-9.]*:[0-9]*' "$slog" | head -1 | awk '{ print $3 }')
  [[ $addr == 127.0.0.1:* ]] || die "cannot read the server's address from its log"
  "$WORK/bin/rbfs-mount" -f "$addr" "$mnt" >"$mlog" 2>&1 &
  mpid=$!
  track_pid "$t" rbfs-mount "$mpid"
  track_mount "$t" "$mnt"
  wait_for "$STARTUP_TIMEOUT_S" "$mpid" is_fuse_mount "$mnt" \
    || { tail -5 "$mlog" >&2; die "rbfs-mount did not mount"; }
  echo "$mnt" >"$STATE/dir.$t"
  printf '%s\n' "rbfs-mount $mpid $mlog" "rbfs-server $spid $slog" >"$STATE/watch.$t"
}

setup_rbfs() {
  start_rbfs rbfs
  note rbfs "rbfs-mount defaults (cache=auto: page cache, 60 s kernel caches kept coherent by the server's invalidations; chunk_size 1 MiB, max_inflight 64, 4 channels); rbfs-server defaults (64 KiB blocks, sparse 16 GiB volume in the backing dir)"
}

# rbfs with its metadata in a private etcd (deploy/etcd-dev.sh, its data in
# the backing dir) instead of RocksDB; the volume as for rbfs.
setup_rbfs-etcd() {
  local dir="$BASE/backing/etcd" endpoint
  endpoint=$("$REPO_ROOT/deploy/etcd-dev.sh" up "$dir" | sed -n 's/^ETCD_ENDPOINTS=//p')
  [[ -n $endpoint ]] || die "deploy/etcd-dev.sh up printed no ETCD_ENDPOINTS"
  track_pid rbfs-etcd etcd "$(cat "$dir/pid")"
  start_rbfs rbfs-etcd --etcd-endpoints "$endpoint"
  echo "etcd $(cat "$dir/pid") $dir/etcd.log" >>"$STATE/watch.rbfs-etcd"
  note rbfs-etcd "as rbfs, with the metadata in $(etcd --version | awk '/etcd Version/ { print "etcd " $3 }') on loopback (deploy/etcd-dev.sh: one member, its data in the backing dir)"
}
