# Sourced by scripts/test.sh: a throwaway PostgreSQL 15 cluster for the test suite, owned by
# the `postgres` user (the current user when not root), listening on a private port and
# admitting only loopback and the tests' private namespace range, removed when the shell exits.
#
#   pg_cluster_start   installs Debian's postgresql when missing, starts the cluster, creates
#                      the database mediaforce_test and exports MEDIAFORCE_TEST_DATABASE_URL
#   pg_cluster_stop    stops it and removes its files (also run on exit)

pg_cluster_start() {
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null 2>&1 \
      || { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }
  fi
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  PG_DIR=$(mktemp -d /tmp/mediaforce-pg.XXXXXX)
  PG_PORT=${MEDIAFORCE_TEST_PG_PORT:-$((20000 + RANDOM % 20000))}
  local as=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$PG_DIR"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres --no-sync >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log"; echo "test.sh: PostgreSQL initdb failed" >&2; return 1; }
  # The many-hosts tests run workers in network namespaces the tests create, on veth pairs
  # in 10.213.0.0/16: the server listens on every address (the veths appear later) and
  # admits loopback and that private range only.
  echo "host all all 10.213.0.0/16 trust" >>"$PG_DIR/data/pg_hba.conf"
  "${as[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=* -c fsync=off -c max_connections=200" start >/dev/null \
    || { cat "$PG_DIR/server.log"; echo "test.sh: PostgreSQL did not start" >&2; return 1; }
  PG_AS=("${as[@]}")
  trap pg_cluster_stop EXIT
  "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE mediaforce_test" \
    || { echo "test.sh: cannot create the test database" >&2; return 1; }
  export MEDIAFORCE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/mediaforce_test"
  echo "test.sh: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
}

pg_cluster_stop() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
    "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}
