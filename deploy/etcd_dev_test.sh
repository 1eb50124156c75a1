#!/usr/bin/env bash
# deploy/etcd-dev.sh's contract: `up` prints ETCD_ENDPOINTS of a working etcd
# (a put reads back, a failed compare takes a transaction's else branch),
# two run side by side, `up` refuses a DIR in use, and `down` stops exactly
# what `up` started and may be repeated.
set -euo pipefail

script=$1
tmp=${TEST_TMPDIR:-$(mktemp -d)}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
etcdctl3() { ETCDCTL_API=3 timeout 10 etcdctl --endpoints "$1" "${@:2}"; }

a=$("$script" up "$tmp/a") || fail "up a"
b=$("$script" up "$tmp/b") || fail "up b"
trap '"$script" down "$tmp/a" || true; "$script" down "$tmp/b" || true' EXIT
[[ $a == ETCD_ENDPOINTS=127.0.0.1:* && $b == ETCD_ENDPOINTS=127.0.0.1:* ]] ||
  fail "up printed '$a' and '$b'"
ea=${a#ETCD_ENDPOINTS=}
eb=${b#ETCD_ENDPOINTS=}
[[ $ea != "$eb" ]] || fail "both on $ea"

etcdctl3 "$ea" put /rbfs/k a >/dev/null || fail "put on a"
etcdctl3 "$eb" put /rbfs/k b >/dev/null || fail "put on b"
[[ $(etcdctl3 "$ea" get --print-value-only /rbfs/k) == a ]] || fail "a's value"
[[ $(etcdctl3 "$eb" get --print-value-only /rbfs/k) == b ]] || fail "b's value"
# A compare on a stale mod revision fails and runs the else branch.
txn=$(printf 'mod("/rbfs/k") = "1"\n\nput /rbfs/k then\n\nput /rbfs/k else\n\n' |
  etcdctl3 "$ea" txn) || fail "txn"
[[ $txn == FAILURE* ]] || fail "txn answered '$txn'"
[[ $(etcdctl3 "$ea" get --print-value-only /rbfs/k) == else ]] || fail "else branch"

"$script" up "$tmp/a" 2>/dev/null && fail "up on a DIR in use succeeded"

pid=$(<"$tmp/a/pid")
"$script" down "$tmp/a" || fail "down a"
kill -0 "$pid" 2>/dev/null && fail "etcd $pid still runs after down"
etcdctl3 "$eb" get /rbfs/k >/dev/null || fail "b stopped with a"
"$script" down "$tmp/a" || fail "a second down"
"$script" down "$tmp/b" || fail "down b"
echo "PASS"
