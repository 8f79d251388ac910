# shellcheck shell=bash disable=SC2034
# scripts/lib/postgres.sh: a throwaway PostgreSQL server for the tests.
# Source after common.sh.
#   pg_start          initdb into a fresh mktemp dir (as user postgres when we
#                     are root), trust auth, listen on 127.0.0.1:<free port>,
#                     socket in the temp dir. Sets PG_DIR PG_PORT PG_PID PG_BIN
#                     and PG_URL (postgres://postgres@127.0.0.1:PORT).
#   pg_createdb NAME  create a database; its URL is "$PG_URL/NAME".
#   pg_stop           stop the server by its PID and delete PG_DIR. Safe to
#                     call twice; call it from an EXIT trap.

PG_DIR="" PG_PORT="" PG_PID="" PG_BIN="" PG_URL=""

# The newest PostgreSQL server binaries on this machine (installs them if none).
_pg_find_bin() {
  local dir best=""
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && best="$dir"
  done
  if [ -z "$best" ]; then
    # Keep the package's postinst from starting a cluster of its own.
    local rcd=/usr/sbin/policy-rc.d created=""
    if [ ! -e "$rcd" ]; then
      printf '#!/bin/sh\nexit 101\n' | as_root tee "$rcd" >/dev/null
      as_root chmod +x "$rcd"
      created=1
    fi
    ensure_apt_packages postgresql
    [ -n "$created" ] && as_root rm -f "$rcd"
    for dir in /usr/lib/postgresql/*/bin; do
      [ -x "$dir/initdb" ] && best="$dir"
    done
  fi
  [ -n "$best" ] || die "no PostgreSQL server binaries found"
  printf '%s\n' "$best"
}

# Run a PostgreSQL server binary as the owner of the data directory.
_pg_run() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_start() {
  PG_BIN="$(_pg_find_bin)"
  PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/nimbus-pg.XXXXXX")"
  mkdir -p "$PG_DIR/sock"
  [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$PG_DIR"
  _pg_run "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-sync \
    >"$PG_DIR/initdb.log" 2>&1 || {
    cat "$PG_DIR/initdb.log" >&2
    die "initdb failed"
  }
  local attempt
  for attempt in 1 2 3; do
    PG_PORT="$(free_port)"
    if _pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
      -o "-h 127.0.0.1 -p $PG_PORT -k $PG_DIR/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null; then
      PG_PID="$(head -n1 "$PG_DIR/data/postmaster.pid")"
      PG_URL="postgres://postgres@127.0.0.1:$PG_PORT"
      log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (pid $PG_PID, dir $PG_DIR)"
      return 0
    fi
    warn "PostgreSQL did not start on port $PG_PORT (attempt $attempt)"
  done
  cat "$PG_DIR/server.log" >&2 || true
  die "could not start PostgreSQL"
}

pg_createdb() {
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$1"
}

pg_stop() {
  if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then
    kill -INT "$PG_PID" 2>/dev/null || true # fast shutdown
    for _ in $(seq 1 100); do
      kill -0 "$PG_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$PG_PID" 2>/dev/null && kill -KILL "$PG_PID" 2>/dev/null
  fi
  PG_PID=""
  if [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ]; then
    rm -rf "$PG_DIR"
  fi
  PG_DIR=""
}
