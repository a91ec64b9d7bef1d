#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests, sourced by scripts/test.sh:
# `start_postgres` runs the machine's PostgreSQL (installed from Debian's
# packages when missing) in a temporary directory on a free loopback port,
# as an unprivileged user when run as root (PostgreSQL refuses root), and
# exports GONGJI_TEST_POSTGRES, the URL the tests connect to (they create a
# database of their own each). It is stopped and deleted when the script
# that sourced this exits.
#
# fsync is off: the tests kill processes (the servers, PostgreSQL itself),
# never the machine, and a killed PostgreSQL loses no committed transaction
# without it (its log is in the kernel's page cache). Benchmarks and
# production keep it on.

postgres_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

start_postgres() {
  local bin
  if ! bin="$(postgres_bin)"; then
    echo "installing PostgreSQL from Debian's packages (apt-get install postgresql)" >&2
    local sudo_or_not=""
    [ "$(id -u)" -ne 0 ] && sudo_or_not="sudo"
    $sudo_or_not apt-get install -y --no-install-recommends postgresql >&2
    bin="$(postgres_bin)" || { echo "PostgreSQL's initdb and pg_ctl are still missing under /usr/lib/postgresql/*/bin" >&2; return 1; }
  fi
  PG_TEST_DIR="$(mktemp -d /tmp/gongji-test-postgres.XXXXXX)"
  local run_as=()
  if [ "$(id -u)" -eq 0 ]; then
    chown nobody "$PG_TEST_DIR"
    run_as=(runuser -u nobody --)
  fi
  local port
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "${run_as[@]}" "$bin/initdb" -D "$PG_TEST_DIR/data" -U gongji --auth=trust --encoding=UTF8 --locale=C >"$PG_TEST_DIR/initdb.log" 2>&1 \
    || { cat "$PG_TEST_DIR/initdb.log" >&2; return 1; }
  "${run_as[@]}" "$bin/pg_ctl" -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_TEST_DIR -c fsync=off -c max_connections=400 -c shared_buffers=128MB" start >&2 \
    || { cat "$PG_TEST_DIR/postgres.log" >&2; return 1; }
  PG_TEST_BIN="$bin"
  PG_TEST_RUN_AS=("${run_as[@]}")
  trap stop_postgres EXIT
  export GONGJI_TEST_POSTGRES="postgres://gongji@127.0.0.1:$port/postgres"
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') for the tests at $GONGJI_TEST_POSTGRES (data in $PG_TEST_DIR)" >&2
}

stop_postgres() {
  if [ -n "${PG_TEST_DIR:-}" ] && [ -d "$PG_TEST_DIR/data" ]; then
    "${PG_TEST_RUN_AS[@]}" "$PG_TEST_BIN/pg_ctl" -D "$PG_TEST_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_TEST_DIR"
  fi
}
