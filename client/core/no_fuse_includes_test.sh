#!/bin/sh
# Fails if a file of client/core includes a FUSE header or a target of
# client/core depends on libfuse: the core is the mount's FUSE-free half.
set -eu
cd "${TEST_SRCDIR}/${TEST_WORKSPACE}/client/core"
found=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](fuse3?/|fuse[_.])' \
  ./*.cc ./*.h || true)
deps=$(grep -n 'system_libs//:fuse3' BUILD.bazel || true)
if [ -n "$found$deps" ]; then
  echo "client/core must not use FUSE:" >&2
  printf '%s\n%s\n' "$found" "$deps" >&2
  exit 1
fi
count=$(ls ./*.cc ./*.h | wc -l)
# Guards against an empty glob making the check vacuous.
if [ "$count" -lt 10 ]; then
  echo "expected the sources of client/core, found $count files" >&2
  exit 1
fi
echo "checked $count files"
