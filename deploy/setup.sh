#!/usr/bin/env bash
# Installs every Debian package that building, testing and running rbfs needs.
# Idempotent: packages already present are left alone, so it is safe to run twice.
set -euo pipefail

PACKAGES=(
  # Build: Bazel (offline, Debian's bootstrap build) and the C++ toolchain.
  bazel-bootstrap bazel-rules-java g++ pkg-config
  # Libraries linked into rbfs.
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev librocksdb-dev libfuse3-dev libssl-dev libcpp-httplib-dev
  # The volume in a Ceph RBD image (server/store/rbd_volume.h; issue 17).
  librbd-dev librados-dev
  # Tests and benchmarks.
  libgtest-dev libgmock-dev libbenchmark-dev libaio-dev liburing-dev
  fuse3 fio clang-format openssl
  # tests/mount: the system tools the mount tests drive (ACLs, two SQLite
  # writers).
  acl sqlite3
  # tests/fuzz: libFuzzer and its sanitizer runtimes come with clang only.
  clang libclang-rt-14-dev
  # tools/bench/run.sh: the peers rbfs is measured against, and the chart.
  sshfs openssh-server openssh-client gnuplot-nox jq
  # The loopback Ceph cluster the RBD tests start (deploy/ceph-dev.sh): a
  # monitor and OSDs, no manager.
  ceph-mon ceph-osd ceph-common
  # The loopback etcd of deploy/etcd-dev.sh (issue 18), and etcdctl.
  etcd-server etcd-client
  # tools/docs/deps_graph.sh: the dependency picture (docs/deps.svg).
  graphviz
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    SUDO=sudo
  else
    SUDO=
  fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The package enables and starts a system etcd on 127.0.0.1:2379; rbfs
  # only uses private ones (deploy/etcd-dev.sh), so one installed here is
  # switched off again.
  if [[ " ${missing[*]} " == *" etcd-server "* && -d /run/systemd/system ]]; then
    $SUDO systemctl disable --now etcd.service || true
  fi
else
  echo "setup: all packages present"
fi

# etcd's v3 API definitions for the build (the metadata store on etcd):
# six .proto files out of three Go source packages.
if [[ $(id -u) -ne 0 ]]; then
  sudo bash "$(dirname "$0")/etcd-protos.sh"
else
  bash "$(dirname "$0")/etcd-protos.sh"
fi
