#!/usr/bin/env bash
# Sets the machine up (Debian packages) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
exec bazel test //... "$@"
