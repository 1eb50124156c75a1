#!/usr/bin/env bash
# deploy/etcd-protos.sh: installs the .proto files of etcd's v3 API from
# Debian's packages, where those packages put them, for the build's
# @etcd_proto repository (third_party/etcd_proto; issue 18).
#
# The files ship in three Go source packages (golang-etcd-server-dev,
# golang-github-gogo-protobuf-dev, golang-github-grpc-ecosystem-grpc-gateway-dev)
# whose dependencies are 140 packages of Go sources and a Go toolchain; rbfs
# needs six text files of them. So the three .debs are fetched with
# `apt-get download` (no dependencies) and only those files are extracted,
# into their packaged paths under /usr/share/gocode/src. Installing the
# packages themselves puts the same files in the same place.
#
# Idempotent: does nothing when every file is present. Needs root and
# reachable apt sources (it runs `apt-get update` when a download fails).
set -euo pipefail

SRC=/usr/share/gocode/src
# package -> the files it holds that the build needs (the list the build's
# repository rule links, third_party/etcd_proto/etcd_proto.bzl).
declare -A FILES=(
  [golang-etcd-server-dev]="go.etcd.io/etcd/etcdserver/etcdserverpb/rpc.proto go.etcd.io/etcd/mvcc/mvccpb/kv.proto go.etcd.io/etcd/auth/authpb/auth.proto"
  [golang-github-gogo-protobuf-dev]="github.com/gogo/protobuf/gogoproto/gogo.proto"
  [golang-github-grpc-ecosystem-grpc-gateway-dev]="github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis/google/api/annotations.proto github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis/google/api/http.proto"
)

missing=()
for package in "${!FILES[@]}"; do
  for f in ${FILES[$package]}; do
    if [[ ! -f $SRC/$f ]]; then
      missing+=("$package")
      break
    fi
  done
done
if ((${#missing[@]} == 0)); then
  echo "etcd-protos: all present under $SRC"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt's download sandbox user must be able to write there.
chmod 0755 "$work"
chown _apt "$work" 2>/dev/null || true
cd "$work"
if ! apt-get download -qq "${missing[@]}" 2>/dev/null; then
  apt-get update -qq
  apt-get download -qq "${missing[@]}"
fi
for package in "${missing[@]}"; do
  members=()
  for f in ${FILES[$package]}; do members+=("./usr/share/gocode/src/$f"); done
  dpkg-deb --fsys-tarfile "$work/${package}"_*.deb |
    tar -x -C / --no-same-owner "${members[@]}"
done
echo "etcd-protos: installed ${missing[*]}'s .proto files under $SRC"
