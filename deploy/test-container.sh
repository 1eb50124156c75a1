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
#
# usage: deploy/test-container.sh [--mount-bin F] [--server-bin F]
#                                 [container] [compose] [kube]
# No scenario named: all three. --mount-bin/--server-bin give prebuilt
# rbfs-mount/rbfs-server binaries (the Bazel test does); otherwise Bazel
# builds them. RBFS_TEST_MIB sets the payload (default 100).
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
    container | compose | kube) SCENARIOS+=("$1"); shift ;;
    *) sed -n '2,/^set /p' "$0" | sed 's/^# \{0,1\}//;$d' >&2; exit 2 ;;
  esac
done
((${#SCENARIOS[@]})) || SCENARIOS=(container compose kube)

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

log "building $IMAGE from deploy/Dockerfile"
build_start=$SECONDS
# The docker format keeps HEALTHCHECK (OCI has no such field).
podman build --format docker -f "$ROOT/deploy/Dockerfile" -t "$IMAGE" "$ROOT" \
  >"$WORK/build.log" 2>&1 ||
  { tail -40 "$WORK/build.log"; fail "image build"; }
BUILD_SECONDS=$((SECONDS - build_start))
IMAGE_BYTES=$(podman image inspect --format '{{.Size}}' "$IMAGE")
log "image built in ${BUILD_SECONDS}s (layers cached from earlier builds count as done);" \
  "size $((IMAGE_BYTES / 1000000)) MB"

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

for s in "${SCENARIOS[@]}"; do "scenario_$s"; done
log "image $IMAGE: $((IMAGE_BYTES / 1000000)) MB, built in ${BUILD_SECONDS}s"
