#!/usr/bin/env bash
# Proves the container deployment end to end on this machine, with podman:
#
#   container  builds deploy/Dockerfile; runs the server with a host directory
#              as its volume, TLS and a token (read-only bind mount), a
#              read-only root and no capabilities; waits until podman reports it
#              healthy; mounts it on the host with rbfs-mount; writes 100 MiB
#              and checks their sha256; stops and removes the container,
#              checks the data directory, starts a new container on it and
#              checks the data again
#   compose    deploy/compose.yaml with podman-compose: healthy, mount, data
#   kube       deploy/k8s/ with podman kube play: healthy, mount, data
#   systemd    deploy/systemd/ under systemd as PID 1 in a container (podman
#              --systemd=always, deploy/systemd/Containerfile.test): the
#              server unit with TLS and a token, its hardening in force,
#              reload; mnt-rbfs.mount and an fstab line (mount.fuse.rbfs);
#              data across a server restart and a reboot; clean stops;
#              systemd-analyze verify
#
# usage: deploy/test-container.sh [--mount-bin F] [--server-bin F]
#                                 [container] [compose] [kube] [systemd]
# No scenario named: all four. --mount-bin/--server-bin give prebuilt
# rbfs-mount/rbfs-server binaries (the Bazel test does); otherwise Bazel
# builds them. RBFS_TEST_MIB sets the payload (default 100; systemd: 8).
#
# Runs as root (rootful podman, FUSE mounts). Installs podman and what it
# needs when missing, and once creates a Debian base image with debootstrap,
# tagged as debian:bookworm(-slim), so no registry is needed. Prints the
# image's size and build time. Exits non-zero on any failure; removes every
# container, pod, volume, network and mount it made on exit and on Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
# wait_for, free_port, unmount_one, is_fuse_mount
# shellcheck source=tools/lib/proc.sh
source "$ROOT/tools/lib/proc.sh"
IMAGE=localhost/rbfs-server:test
SYSTEMD_IMAGE=localhost/rbfs-systemd:test
MIB=${RBFS_TEST_MIB:-100}
# The uid/gid the image runs rbfs-server as (deploy/Dockerfile).
RBFS_UID=10001
RUN=rbfs-test-$$
MOUNT_BIN=
SERVER_BIN=
SCENARIOS=()
while (($#)); do
  case $1 in
    --mount-bin) MOUNT_BIN=$(readlink -f "$2"); shift 2 ;;
    --server-bin) SERVER_BIN=$(readlink -f "$2"); shift 2 ;;
    container | compose | kube | systemd) SCENARIOS+=("$1"); shift ;;
    *) sed -n '2,/^set /p' "$0" | sed 's/^# \{0,1\}//;$d' >&2; exit 2 ;;
  esac
done
((${#SCENARIOS[@]})) || SCENARIOS=(container compose kube systemd)

log() { printf '%(%H:%M:%S)T test-container: %s\n' -1 "$*"; }
fail() { log "FAIL: $*"; exit 1; }

# --- Cleanup: everything made below is recorded here and undone on exit. ---
WORK=$(mktemp -d /var/tmp/rbfs-test-container.XXXXXX)
MOUNTS=()
CONTAINERS=()
VOLUMES=()
NETWORKS=()
COMPOSE_UP=
KUBE_UP=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local m c
  for m in "${MOUNTS[@]}"; do
    unmount_one "$m" || log "could not unmount $m"
  done
  if [[ -n $COMPOSE_UP ]]; then
    (cd "$ROOT/deploy" && podman-compose -p "$RUN" down -v -t 10) >/dev/null 2>&1 || true
  fi
  if [[ -n $KUBE_UP ]]; then
    (cd "$WORK/kube" && podman kube down play.yaml) >/dev/null 2>&1 || true
  fi
  for c in "${CONTAINERS[@]}"; do podman rm -f -t 5 "$c" >/dev/null 2>&1 || true; done
  for c in "${VOLUMES[@]}"; do podman volume rm -f "$c" >/dev/null 2>&1 || true; done
  for c in "${NETWORKS[@]}"; do podman network rm -f "$c" >/dev/null 2>&1 || true; done
  rm -rf "${WORK:?}"
  if ((rc == 0)); then log "PASS"; else log "FAILED (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Prerequisites. ---
[[ $(id -u) -eq 0 ]] || fail "run as root (rootful podman and FUSE mounts)"
PACKAGES=(podman buildah runc debootstrap uidmap slirp4netns fuse-overlayfs
  iptables podman-compose catatonit python3-yaml openssl fuse3)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# crun fails on these hybrid-cgroup machines; podman's default rlimits are
# above what root may set here.
cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$WORK/containers.conf

# No registry: make debian:bookworm from the mirror apt already uses, and
# debian:bookworm-slim from it the way Debian's own slim images are made
# (no documentation, manuals or translations, and dpkg told to skip them).
if ! podman image exists docker.io/library/debian:bookworm ||
  ! podman image exists docker.io/library/debian:bookworm-slim; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  log "creating the base image with debootstrap from $mirror"
  rootfs=$WORK/rootfs
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    rm -f "$rootfs/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
  fi
  tar -C "$rootfs" -c . | podman import - docker.io/library/debian:bookworm >/dev/null
  printf '%s\n' 'path-exclude /usr/share/doc/*' \
    'path-include /usr/share/doc/*/copyright' 'path-exclude /usr/share/man/*' \
    'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
    'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/lintian/*' \
    >"$rootfs/etc/dpkg/dpkg.cfg.d/slim"
  find "${rootfs:?}/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "${rootfs:?}"/usr/share/{man,info,locale,groff,lintian}/*
  tar -C "$rootfs" -c . | podman import - docker.io/library/debian:bookworm-slim >/dev/null
  rm -rf "${rootfs:?}"
fi

# The server image, for the scenarios that run it (systemd does not).
BUILD_SECONDS=
build_server_image() {
  [[ -z $BUILD_SECONDS ]] || return 0
  log "building $IMAGE from deploy/Dockerfile"
  local build_start=$SECONDS
  # The docker format keeps HEALTHCHECK (OCI has no such field).
  podman build --format docker -f "$ROOT/deploy/Dockerfile" -t "$IMAGE" "$ROOT" \
    >"$WORK/build.log" 2>&1 ||
    { tail -40 "$WORK/build.log"; fail "image build"; }
  BUILD_SECONDS=$((SECONDS - build_start))
  IMAGE_BYTES=$(podman image inspect --format '{{.Size}}' "$IMAGE")
  log "image built in ${BUILD_SECONDS}s (layers cached from earlier builds count as done);" \
    "size $((IMAGE_BYTES / 1000000)) MB"
}

if [[ -z $MOUNT_BIN || -z $SERVER_BIN ]]; then
  (cd "$ROOT" && bazel build //client:rbfs-mount //server:rbfs-server 2>&1 | tail -1)
fi
# Copies, so that a build in the workspace meanwhile cannot swap them.
install -m 0755 "${MOUNT_BIN:-$ROOT/bazel-bin/client/rbfs-mount}" "$WORK/rbfs-mount"
install -m 0755 "${SERVER_BIN:-$ROOT/bazel-bin/server/rbfs-server}" "$WORK/rbfs-server"

# --- Secrets: a token and a CA-signed certificate for 127.0.0.1. ---
SECRETS_DIR=$WORK/secrets
mkdir -p "$SECRETS_DIR"
openssl rand -hex 32 >"$SECRETS_DIR/token"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=rbfs test CA" \
  -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "$SECRETS_DIR/tls.key" -out "$WORK/tls.csr" 2>/dev/null
openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" \
  -CAcreateserial -days 2 -out "$SECRETS_DIR/tls.crt" \
  -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n') 2>/dev/null
# The client keeps its copy of the token; the server's copies must be
# readable by the image's user.
cp "$SECRETS_DIR/token" "$WORK/client-token"
chmod 0600 "$WORK/client-token"
chown -R "$RBFS_UID:$RBFS_UID" "$SECRETS_DIR"
chmod 0400 "$SECRETS_DIR"/*
MOUNT_OPTS="token_file=$WORK/client-token,tls_ca=$WORK/ca.crt"

# --- Helpers for the scenarios. ---

# podman without systemd (as here) cannot schedule health checks on timers
# and says so on every start and stop; wait_healthy runs the checks itself.
podman_quiet() {
  podman "$@" 2> >(grep -v "systemd connection" >&2)
}

# Waits until podman's health check of container $1 (the image's or the
# compose file's HEALTHCHECK, run as its timer would) passes and podman
# records the container as healthy.
wait_healthy() {
  local name=$1 status
  wait_for 90 "" podman healthcheck run "$name" ||
    { podman logs "$name"; fail "$name not healthy within 90s"; }
  status=$(podman inspect --format '{{.State.Health.Status}}' "$name")
  [[ $status == healthy ]] || fail "$name is $status after a passing health check"
  log "$name is healthy"
  check_secured "$name"
}

# The server in container $1 serves with TLS and the token.
check_secured() {
  podman logs "$1" 2>&1 | grep -q "ready on .*TLS, token" ||
    { podman logs "$1"; fail "$1 does not serve with TLS and a token"; }
}

mount_rbfs() {  # ADDRESS MOUNTPOINT
  mkdir -p "$2"
  MOUNTS+=("$2")
  "$WORK/rbfs-mount" -o "$MOUNT_OPTS" "$1" "$2" || fail "rbfs-mount $1 $2"
  is_fuse_mount "$2" || fail "$2 is not a FUSE mount"
}

unmount_rbfs() {
  fusermount3 -u "$1" || fail "unmount $1"
}

# Writes MIB random MiB to MOUNTPOINT/payload, durably (fsync), and checks
# that what the server returns has the same sha256 (cache=none: every read
# goes to the server). Keeps the sha256 for verify_again.
write_and_verify() {  # MOUNTPOINT MIB
  local mnt=$1 mib=$2 want got start elapsed
  head -c "$((mib << 20))" /dev/urandom >"$WORK/payload"
  want=$(sha256sum <"$WORK/payload" | cut -d' ' -f1)
  start=$EPOCHREALTIME
  dd if="$WORK/payload" of="$mnt/payload" bs=4M conv=fsync status=none ||
    fail "writing $mib MiB to $mnt"
  elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
  got=$(sha256sum <"$mnt/payload" | cut -d' ' -f1)
  [[ $got == "$want" ]] || fail "read back $got, wrote $want"
  log "wrote $mib MiB through the mount in ${elapsed}s, read back sha256 $got"
  echo "$want" >"$WORK/payload.sha256"
  rm -f "$WORK/payload"
}

verify_again() {  # MOUNTPOINT
  local got want
  want=$(cat "$WORK/payload.sha256")
  got=$(sha256sum <"$1/payload" | cut -d' ' -f1)
  [[ $got == "$want" ]] || fail "after the restart: read $got, wrote $want"
  log "after the restart: sha256 $got matches"
}

# The token is enforced: a mount with TLS but without the token is refused,
# and for that reason.
check_token_required() {  # ADDRESS
  local mnt=$WORK/no-token
  mkdir -p "$mnt"
  MOUNTS+=("$mnt")
  if "$WORK/rbfs-mount" -o "tls_ca=$WORK/ca.crt" "$1" "$mnt" 2>"$WORK/no-token.log"; then
    fusermount3 -u "$mnt"
    fail "a mount without the token was accepted"
  fi
  grep -q "refused this mount's credentials: no token" "$WORK/no-token.log" ||
    { cat "$WORK/no-token.log"; fail "a mount without the token failed for another reason"; }
  log "a mount without the token is refused: $(grep -m1 "credentials" "$WORK/no-token.log")"
}

# --- Scenario: one container, a host directory as its volume. ---
scenario_container() {
  local port data mnt
  port=$(free_port)
  data=$WORK/data
  mnt=$WORK/mnt
  mkdir -p "$data"
  chown "$RBFS_UID:$RBFS_UID" "$data"
  run_server() {
    CONTAINERS+=("$1")
    podman_quiet run -d --name "$1" -p "127.0.0.1:$port:7420" \
      -v "$data:/var/lib/rbfs" -v "$SECRETS_DIR:/run/secrets/rbfs:ro" \
      -e RBFS_TOKEN_FILE=/run/secrets/rbfs/token \
      -e RBFS_TLS_CERT=/run/secrets/rbfs/tls.crt \
      -e RBFS_TLS_KEY=/run/secrets/rbfs/tls.key \
      -e RBFS_VOLUME_SIZE=$((4 << 30)) \
      --read-only --cap-drop=ALL --security-opt=no-new-privileges \
      "$IMAGE" >/dev/null
    local start=$SECONDS
    wait_healthy "$1"
    log "container $1 serving on 127.0.0.1:$port ($((SECONDS - start))s to healthy)"
  }

  log "== container: host directory $data as /var/lib/rbfs"
  run_server "$RUN-1"
  check_token_required "127.0.0.1:$port"
  mount_rbfs "127.0.0.1:$port" "$mnt"
  write_and_verify "$mnt" "$MIB"
  unmount_rbfs "$mnt"

  podman_quiet stop -t 30 "$RUN-1" >/dev/null
  [[ $(podman inspect --format '{{.State.ExitCode}}' "$RUN-1") == 0 ]] ||
    { podman logs "$RUN-1" | tail -20; fail "the server did not stop cleanly"; }
  podman logs "$RUN-1" 2>&1 | grep -q "stopped cleanly" || fail "no 'stopped cleanly' in the log"
  podman_quiet rm "$RUN-1" >/dev/null
  log "container $RUN-1 stopped cleanly (SIGTERM) and removed"

  podman run --rm --no-healthcheck -v "$data:/var/lib/rbfs" "$IMAGE" --check >"$WORK/check.log" 2>&1 ||
    { cat "$WORK/check.log"; fail "rbfs-server --check on the volume"; }
  log "rbfs-server --check: $(tail -1 "$WORK/check.log")"

  run_server "$RUN-2"
  mount_rbfs "127.0.0.1:$port" "$mnt"
  verify_again "$mnt"
  unmount_rbfs "$mnt"
  podman_quiet rm -f -t 30 "$RUN-2" >/dev/null
}

# --- Scenario: deploy/compose.yaml. ---
scenario_compose() {
  local port name mnt=$WORK/mnt-compose
  port=$(free_port)
  log "== compose: deploy/compose.yaml with podman-compose (project $RUN)"
  COMPOSE_UP=1
  NETWORKS+=("${RUN}_default")
  (cd "$ROOT/deploy" &&
    RBFS_IMAGE=$IMAGE RBFS_PUBLISH=127.0.0.1:$port RBFS_SECRETS=$SECRETS_DIR \
      podman-compose -p "$RUN" up -d) >"$WORK/compose.log" 2>&1 ||
    { tail -30 "$WORK/compose.log"; fail "podman-compose up"; }
  name=$(podman ps -a --filter "label=io.podman.compose.project=$RUN" --format '{{.Names}}' | head -1)
  [[ -n $name ]] || fail "podman-compose started no container"
  wait_healthy "$name"
  mount_rbfs "127.0.0.1:$port" "$mnt"
  write_and_verify "$mnt" 16
  unmount_rbfs "$mnt"
  (cd "$ROOT/deploy" && podman-compose -p "$RUN" down -v -t 30) >>"$WORK/compose.log" 2>&1 ||
    fail "podman-compose down"
  COMPOSE_UP=
  log "compose project $RUN down, its volume removed"
}

# --- Scenario: deploy/k8s/ with podman kube play. ---
scenario_kube() {
  local port ip mnt=$WORK/mnt-kube
  port=$(free_port)
  log "== kube: deploy/k8s/ with podman kube play"
  # A directory of its own: kube play 4.3 tries to build an image when the
  # current directory holds a file named like it.
  mkdir -p "$WORK/kube"
  /usr/bin/python3 "$ROOT/deploy/kube-play.py" "$ROOT/deploy/k8s" "$SECRETS_DIR" \
    "$IMAGE" 127.0.0.1 "$port" >"$WORK/kube/play.yaml"
  KUBE_UP=1
  VOLUMES+=(data-rbfs-server-0)
  (cd "$WORK/kube" && podman kube play play.yaml) >"$WORK/kube.log" 2>&1 ||
    { cat "$WORK/kube.log"; fail "podman kube play"; }
  # What the kubelet's gRPC probes do: call the health service on the pod's
  # address, port 7421.
  ip=$(podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' \
    rbfs-server-0-rbfs-server)
  [[ -n $ip ]] || fail "no pod address"
  wait_for 90 "" "$WORK/rbfs-server" --probe="$ip:7421" ||
    { podman logs rbfs-server-0-rbfs-server; fail "pod rbfs-server-0 not SERVING on $ip:7421 within 90s"; }
  log "pod rbfs-server-0 answers the gRPC health probe on $ip:7421"
  check_secured rbfs-server-0-rbfs-server
  mount_rbfs "127.0.0.1:$port" "$mnt"
  write_and_verify "$mnt" 16
  unmount_rbfs "$mnt"
  (cd "$WORK/kube" && podman kube down play.yaml) >>"$WORK/kube.log" 2>&1 ||
    fail "podman kube down"
  KUBE_UP=
  log "pod rbfs-server-0 removed"
}

# --- Scenario: deploy/systemd/ under systemd as PID 1. ---

# The Debian packages holding the shared libraries binaries $@ link, by the
# host's dpkg (the host built or runs them, so it has them all).
runtime_packages() {
  local lib libs=()
  if ldd "$@" | grep "not found" >&2; then return 1; fi
  # Merged /usr: dpkg knows each file under one of its names; one dpkg -S
  # for all of them (it names the packages of those it knows).
  for lib in $(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u); do
    libs+=("/usr${lib#/usr}" "${lib#/usr}")
    lib=$(readlink -f "$lib")
    libs+=("/usr${lib#/usr}" "${lib#/usr}")
  done
  { dpkg -S "${libs[@]}" 2>/dev/null || true; } | grep -v "^diversion" | cut -d: -f1 | sort -u | tr '\n' ' '
}

SD=          # the systemd container's name
sd() { podman exec "$SD" "$@"; }
# Runs "$@" in the container; on failure prints the units' journal and fails.
sd_ok() {
  sd "$@" || {
    sd journalctl --no-pager -n 40 -u rbfs-server -u mnt-rbfs.mount 2>&1 || true
    fail "in the container: $*"
  }
}

# Whether the container's systemd has finished booting: "running", or
# "degraded" (some unit failed; reported, not fatal here).
sd_booted() {
  local state
  state=$(podman exec "$1" systemctl is-system-running 2>/dev/null) || true
  [[ $state == running || $state == degraded ]]
}

# Whether unit $1 has state $2 (is-active's word: active, inactive, failed).
sd_unit_is() {
  [[ $(sd systemctl is-active "$1" 2>/dev/null) == "$2" ]] ||
    { sd systemctl status --no-pager "$1" || true; fail "$1 is not $2"; }
}

sd_server_serving() { sd /usr/local/bin/rbfs-server --probe=127.0.0.1:7421 --probe-timeout=2s; }

sd_wait_serving() {  # WHAT
  local start=$EPOCHREALTIME
  wait_for 60 "" sd_server_serving ||
    { sd journalctl --no-pager -n 30 -u rbfs-server || true; fail "rbfs-server not SERVING within 60s $1"; }
  log "rbfs-server answers its health probe $1 ($(since "$start")s)"
}

since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}'; }

# sd_is_rbfs_mount DIR: DIR is an rbfs FUSE mount in the container.
sd_is_rbfs_mount() {
  [[ $(sd findmnt -n -o FSTYPE --mountpoint "$1" 2>/dev/null) == fuse.rbfs ]]
}

# sd_write FILE MIB: writes MIB random MiB to FILE (fsync), keeps its sha256.
sd_write() {
  local start=$EPOCHREALTIME
  sd_ok sh -c "head -c $(($2 << 20)) /dev/urandom >/var/tmp/payload &&
    dd if=/var/tmp/payload of='$1' bs=4M conv=fsync status=none &&
    sha256sum </var/tmp/payload | cut -d' ' -f1 >'/var/tmp/$(basename "$1").sha256' &&
    rm /var/tmp/payload"
  log "wrote $2 MiB to $1 ($(since "$start")s)"
}

# sd_verify FILE [NAME]: FILE's sha256 is what was written as NAME (default:
# FILE's own name).
sd_verify() {
  local want got
  want=$(sd cat "/var/tmp/${2:-$(basename "$1")}.sha256")
  got=$(sd sh -c "sha256sum <'$1' | cut -d' ' -f1") || fail "reading $1"
  [[ $got == "$want" ]] || fail "$1: read sha256 $got, wrote $want"
  log "read back $1: sha256 ${got:0:16}... matches"
}

scenario_systemd() {
  local ctx=$WORK/systemd-image cfg=$WORK/systemd-test packages t0=$SECONDS start old_image
  local mib=${RBFS_TEST_MIB:-8} pid uid unit_mnt=/mnt/rbfs fstab_mnt=/mnt/rbfs-fstab
  log "== systemd: deploy/systemd/ under systemd as PID 1 (podman run --systemd=always)"

  # The image: packages, binaries, install.sh, the project's units.
  mkdir -p "$ctx/bin" "$ctx/systemd"
  cp "$WORK/rbfs-server" "$WORK/rbfs-mount" "$ROOT/client/fuse/install.sh" \
    "$ROOT/client/fuse/mount.fuse.rbfs" "$ctx/bin/"
  cp "$ROOT"/deploy/systemd/{rbfs-server.service,mnt-rbfs.mount,rbfs.sysusers.conf} "$ctx/systemd/"
  packages=$(runtime_packages "$WORK/rbfs-server" "$WORK/rbfs-mount") ||
    fail "the binaries' libraries are not all on this host"
  start=$SECONDS
  old_image=$(podman image inspect --format '{{.Id}}' "$SYSTEMD_IMAGE" 2>/dev/null) || true
  podman build -f "$ROOT/deploy/systemd/Containerfile.test" --build-arg "PACKAGES=$packages" \
    -t "$SYSTEMD_IMAGE" "$ctx" >"$WORK/systemd-build.log" 2>&1 ||
    { tail -30 "$WORK/systemd-build.log"; fail "building $SYSTEMD_IMAGE"; }
  # The image of other binaries it replaces (its packages layer stays cached).
  if [[ -n $old_image && $old_image != $(podman image inspect --format '{{.Id}}' "$SYSTEMD_IMAGE") ]]; then
    podman rmi "$old_image" >/dev/null 2>&1 || true
  fi
  log "$SYSTEMD_IMAGE built in $((SECONDS - start))s (cached layers count as done)," \
    "$(($(podman image inspect --format '{{.Size}}' "$SYSTEMD_IMAGE") / 1000000)) MB"

  # The test's settings, bind-mounted read-only at /srv/rbfs-test: the
  # project's env file listening on loopback (TLS and the token as shipped),
  # the secrets, What= of the mount unit pointed at it, and the mount unit's
  # documented fstab line with the same change.
  mkdir -p "$cfg/mnt-rbfs.mount.d"
  sed -e 's/^RBFS_LISTEN=.*/RBFS_LISTEN=127.0.0.1:7420/' \
    -e "s/^RBFS_VOLUME_SIZE=.*/RBFS_VOLUME_SIZE=$((4 << 30))/" \
    "$ROOT/deploy/systemd/rbfs-server.env" >"$cfg/rbfs-server.env"
  grep -qx 'RBFS_LISTEN=127.0.0.1:7420' "$cfg/rbfs-server.env" || fail "no RBFS_LISTEN in rbfs-server.env"
  install -m 0600 "$SECRETS_DIR/token" "$SECRETS_DIR/tls.key" "$cfg/"
  install -m 0644 "$SECRETS_DIR/tls.crt" "$WORK/ca.crt" "$cfg/"
  printf '[Mount]\nWhat=127.0.0.1:7420\n' >"$cfg/mnt-rbfs.mount.d/test.conf"
  # For the reboot: records (unsandboxed, "+") the rbfs mounts left when the
  # server is told to stop, and how it ended.
  mkdir -p "$cfg/rbfs-server.service.d"
  cat >"$cfg/rbfs-server.service.d/test-stop.conf" <<'EOF'
[Service]
ExecStop=+/bin/sh -c 'findmnt -n -t fuse.rbfs >/var/tmp/rbfs-mounts-at-stop; true'
ExecStopPost=+/bin/sh -c 'echo "$$SERVICE_RESULT $$EXIT_CODE $$EXIT_STATUS" >/var/tmp/rbfs-server-result'
EOF
  sed -n 's/^#   rbfs\.example\.com:7420  \/mnt\/rbfs  \(fuse\.rbfs .*\)/127.0.0.1:7420  \/mnt\/rbfs-fstab  \1/p' \
    "$ROOT/deploy/systemd/mnt-rbfs.mount" >"$cfg/fstab"
  [[ -s $cfg/fstab ]] || fail "no fstab line in deploy/systemd/mnt-rbfs.mount"

  # Boot. No network but loopback: nothing leaves the container.
  SD=$RUN-systemd
  CONTAINERS+=("$SD")
  start=$EPOCHREALTIME
  podman run -d --name "$SD" --hostname rbfs-systemd --systemd=always --network=none \
    --device /dev/fuse --cap-add SYS_ADMIN -v "$cfg:/srv/rbfs-test:ro" \
    "$SYSTEMD_IMAGE" >/dev/null || fail "podman run $SYSTEMD_IMAGE"
  sd_wait_booted "$start"

  # Install as docs/deploy.md does (the units are in the image already).
  sd_ok systemd-sysusers
  uid=$(sd id -u rbfs) || fail "systemd-sysusers made no user rbfs"
  sd_ok install -d -m 0755 /etc/rbfs
  sd_ok install -m 0400 -o rbfs -g rbfs /srv/rbfs-test/token /srv/rbfs-test/tls.key /etc/rbfs/
  sd_ok install -m 0644 /srv/rbfs-test/tls.crt /srv/rbfs-test/ca.crt /srv/rbfs-test/rbfs-server.env /etc/rbfs/
  sd_ok install -D -m 0644 /srv/rbfs-test/mnt-rbfs.mount.d/test.conf /etc/systemd/system/mnt-rbfs.mount.d/test.conf
  sd_ok systemctl daemon-reload
  sd systemd-analyze verify /etc/systemd/system/rbfs-server.service \
    /etc/systemd/system/mnt-rbfs.mount >"$WORK/verify.log" 2>&1 ||
    { cat "$WORK/verify.log"; fail "systemd-analyze verify"; }
  [[ ! -s $WORK/verify.log ]] || { cat "$WORK/verify.log"; fail "systemd-analyze verify warns"; }
  log "systemd-analyze verify: rbfs-server.service and mnt-rbfs.mount are clean"

  # The server, hardened as shipped.
  sd_ok systemctl start rbfs-server
  sd_wait_serving "after systemctl start"
  sd_unit_is rbfs-server active
  # (grep without -q: reading everything, it cannot end journalctl early,
  # which pipefail would count as a failure)
  sd journalctl --no-pager -u rbfs-server | grep "ready on 127.0.0.1:7420 (.*TLS, token)" >/dev/null ||
    { sd journalctl --no-pager -u rbfs-server; fail "rbfs-server does not serve 127.0.0.1:7420 with TLS and a token"; }
  sd_check_hardening "$uid"
  sd_ok systemctl reload rbfs-server
  wait_for 10 "" sd sh -c "journalctl --no-pager -u rbfs-server | grep -q 'SIGHUP: token re-read from /etc/rbfs/token'" ||
    { sd journalctl --no-pager -n 10 -u rbfs-server; fail "systemctl reload: no token re-read"; }
  log "systemctl reload rbfs-server: token re-read"

  # Two mounts of it: the mount unit and the fstab line.
  start=$EPOCHREALTIME
  sd_ok systemctl start mnt-rbfs.mount
  sd_unit_is mnt-rbfs.mount active
  sd_is_rbfs_mount "$unit_mnt" || fail "systemctl start mnt-rbfs.mount: $unit_mnt is no rbfs mount"
  log "systemctl start mnt-rbfs.mount: $unit_mnt mounted ($(since "$start")s)"
  sd_mount_fstab
  # Daemonised, the mounts log to syslog: their lines are in the journal,
  # and the server's name each one's session.
  wait_for 10 "" sd sh -c "journalctl --no-pager -t rbfs-mount | grep -q 'mounted 127.0.0.1:7420 on $unit_mnt '" ||
    { sd journalctl --no-pager -n 20 -t rbfs-mount || true; fail "the mount's log is not in the journal"; }
  wait_for 10 "" sd sh -c "[ \$(journalctl --no-pager -u rbfs-server | grep -c 'session [0-9a-f]* from ipv4:127.0.0.1:[0-9]* began') -ge 2 ]" ||
    { sd journalctl --no-pager -n 20 -u rbfs-server || true; fail "the server's journal does not name both sessions"; }
  log "the journal has the mounts' lines and the server's session lines"

  # What one mount writes, the other reads: from the server, not a page cache.
  sd_write "$unit_mnt/a" "$mib"
  sd_verify "$fstab_mnt/a"
  sd_write "$fstab_mnt/b" "$mib"
  sd_verify "$unit_mnt/b"

  # A server restart under both mounts: they reconnect.
  start=$EPOCHREALTIME
  pid=$(sd systemctl show -P MainPID rbfs-server)
  sd_ok systemctl restart rbfs-server
  sd_wait_serving "after systemctl restart"
  [[ $(sd systemctl show -P MainPID rbfs-server) != "$pid" ]] || fail "restart kept the same process"
  sd journalctl --no-pager -u rbfs-server | grep "stopped cleanly" >/dev/null ||
    fail "the restart's stop was not clean (no 'stopped cleanly')"
  sd_write "$unit_mnt/c" "$mib"
  sd_verify "$fstab_mnt/c"
  sd_verify "$unit_mnt/a"
  log "both mounts kept working across systemctl restart rbfs-server ($(since "$start")s)"
  # A new mount reads what was written before the restart from the server.
  sd_ok umount "$fstab_mnt"
  sd_mount_fstab
  sd_verify "$fstab_mnt/a"
  sd_verify "$fstab_mnt/b"

  # Clean stops: every unit ends inactive, not failed; no daemon left.
  start=$EPOCHREALTIME
  sd_ok systemctl stop mnt-rbfs.mount
  sd_ok umount "$fstab_mnt"
  sd_ok systemctl stop rbfs-server
  sd_unit_is mnt-rbfs.mount inactive
  sd_unit_is rbfs-server inactive
  [[ $(sd systemctl show -P Result rbfs-server) == success ]] || fail "rbfs-server's result is not success"
  [[ -z $(sd findmnt -n -t fuse.rbfs) ]] || fail "rbfs mounts left: $(sd findmnt -n -t fuse.rbfs)"
  wait_for 10 "" sd sh -c '! grep -qx rbfs-mount /proc/[0-9]*/comm' || fail "an rbfs-mount process is left"
  log "stopped mnt-rbfs.mount, the fstab mount and rbfs-server: inactive, result success ($(since "$start")s)"

  # A reboot with both units enabled and running: the shutdown unmounts
  # before it stops the server (which stops cleanly); at boot the server and
  # the mount come up by themselves (multi-user.target, remote-fs.target),
  # and the data is there.
  sd_ok install -D -m 0644 /srv/rbfs-test/rbfs-server.service.d/test-stop.conf \
    /etc/systemd/system/rbfs-server.service.d/test-stop.conf
  sd_ok systemctl daemon-reload
  sd_ok systemctl enable --quiet --now rbfs-server mnt-rbfs.mount
  wait_for 60 "" sd_is_rbfs_mount "$unit_mnt" || fail "systemctl enable --now mnt-rbfs.mount"
  start=$EPOCHREALTIME
  podman stop -t 60 "$SD" >/dev/null || fail "podman stop $SD"
  log "shutdown with both units running: $(since "$start")s"
  podman start "$SD" >/dev/null || fail "podman start $SD"
  sd_wait_booted "$start"
  sd_check_shutdown_order "${start%.*}"
  sd_unit_is rbfs-server active
  wait_for 60 "" sd_is_rbfs_mount "$unit_mnt" ||
    { sd systemctl status --no-pager mnt-rbfs.mount || true; fail "$unit_mnt not mounted after the reboot"; }
  sd_unit_is mnt-rbfs.mount active
  log "after a reboot: rbfs-server and mnt-rbfs.mount came up by themselves ($(since "$start")s)"
  sd_verify "$unit_mnt/c"
  sd_ok systemctl stop mnt-rbfs.mount rbfs-server
  sd_unit_is mnt-rbfs.mount inactive
  sd_unit_is rbfs-server inactive

  start=$EPOCHREALTIME
  podman stop -t 60 "$SD" >/dev/null || fail "podman stop $SD"
  podman rm "$SD" >/dev/null
  log "container $SD shut down ($(since "$start")s) and removed"
  log "systemd scenario: $((SECONDS - t0))s"
}

# Waits until the container's systemd has booted (since $1, EPOCHREALTIME).
sd_wait_booted() {
  wait_for 90 "" sd_booted "$SD" ||
    { podman logs "$SD" 2>&1 | tail -30; sd systemctl list-jobs --no-pager 2>&1 || true
      fail "systemd in $SD did not finish booting within 90s"; }
  local state
  state=$(sd systemctl is-system-running) || true
  log "systemd booted in $SD: $state ($(since "$1")s; $(sd systemd-analyze time 2>/dev/null | head -1 | sed 's/ *$//'))"
  [[ $state == running ]] || log "failed units: $(sd systemctl --failed --no-legend --plain | tr '\n' ' ')"
}

# What the test drop-in of rbfs-server.service recorded at the shutdown
# (the journal does not outlive it: podman puts /var/log/journal on a
# tmpfs): no rbfs mount was left when the server was told to stop, and it
# exited 0.
sd_check_shutdown_order() {
  local left result
  left=$(sd cat /var/tmp/rbfs-mounts-at-stop) || fail "shutdown: the server's stop was not recorded"
  [[ -z $left ]] || fail "shutdown: rbfs-server was stopped while mounted: $left"
  result=$(sd cat /var/tmp/rbfs-server-result) || fail "shutdown: the server's result was not recorded"
  [[ $result == "success exited 0" ]] || fail "shutdown: rbfs-server ended with $result"
  log "shutdown: /mnt/rbfs unmounted before rbfs-server stopped, which exited 0"
}

# The fstab line, with mount(8) and mount.fuse.rbfs.
sd_mount_fstab() {
  local start=$EPOCHREALTIME
  sd_ok mkdir -p /mnt/rbfs-fstab
  sd_ok mount -a -T /srv/rbfs-test/fstab
  sd_is_rbfs_mount /mnt/rbfs-fstab || fail "mount -a -T fstab: /mnt/rbfs-fstab is no rbfs mount"
  log "mount -a -T fstab ($(sd cat /srv/rbfs-test/fstab | cut -c1-40)...): mounted ($(since "$start")s)"
}

# The server unit's sandbox is really in force (systemd ignores some of it
# where it cannot set it up, as in a container without CAP_SYS_ADMIN):
# unprivileged user, no capabilities, no new privileges, a seccomp filter, a
# read-only root, its own /dev without the container's devices.
sd_check_hardening() {  # UID
  local pid status
  pid=$(sd systemctl show -P MainPID rbfs-server)
  status=$(sd cat "/proc/$pid/status")
  grep -Eq "^Uid:[[:space:]]+$1[[:space:]]" <<<"$status" || fail "rbfs-server does not run as rbfs"
  grep -Eq '^CapEff:[[:space:]]+0+$' <<<"$status" || fail "rbfs-server has capabilities"
  grep -Eq '^CapBnd:[[:space:]]+0+$' <<<"$status" || fail "rbfs-server's bounding set is not empty"
  grep -Eq '^NoNewPrivs:[[:space:]]+1$' <<<"$status" || fail "rbfs-server lacks NoNewPrivs"
  grep -Eq '^Seccomp:[[:space:]]+2$' <<<"$status" || fail "rbfs-server has no seccomp filter"
  # shellcheck disable=SC2016 # awk's own $5, $6
  sd awk '$5 == "/" && $6 ~ /^ro/ {found = 1} END {exit !found}' "/proc/$pid/mountinfo" ||
    fail "rbfs-server's root is not read-only (ProtectSystem=strict not in force)"
  # shellcheck disable=SC2016
  sd awk '$5 == "/var/lib/rbfs" && $6 ~ /^rw/ {found = 1} END {exit !found}' "/proc/$pid/mountinfo" ||
    fail "rbfs-server's /var/lib/rbfs is not writable"
  sd test -e /dev/fuse || fail "no /dev/fuse in the container"
  ! sd test -e "/proc/$pid/root/dev/fuse" || fail "rbfs-server sees /dev/fuse (PrivateDevices not in force)"
  log "rbfs-server's sandbox is in force: uid $1, no capabilities, NoNewPrivs, seccomp," \
    "read-only /, private /dev; $(sd systemd-analyze security rbfs-server --no-pager 2>/dev/null |
      grep -o 'Overall exposure level.*' | tr -d '\n')"
}

for s in "${SCENARIOS[@]}"; do
  [[ $s == systemd ]] || build_server_image
  "scenario_$s"
done
[[ -z $BUILD_SECONDS ]] ||
  log "image $IMAGE: $((IMAGE_BYTES / 1000000)) MB, built in ${BUILD_SECONDS}s"
