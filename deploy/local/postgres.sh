#!/usr/bin/env bash
# Run a real PostgreSQL from Debian's binaries as a background process under
# $HEARTH_RUN_DIR/pg - no Docker, no system cluster (pg_ctlcluster) involved.
#
#   deploy/local/postgres.sh start|stop|status
#
# With HEARTH_DATABASE_URL set, nothing is started: start/status only check
# that database answers, stop does nothing.
# See deploy/local/README.md for the environment variables.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

PORT="${HEARTH_PG_PORT:-5432}"
PG_DIR="$RUN_DIR/pg"
DATA_DIR="$PG_DIR/data"
SOCK_DIR="$PG_DIR/sock"
LOG_FILE="$LOG_DIR/postgres.log"
DB_URL="postgresql://hearth:hearth@127.0.0.1:$PORT/hearth"

# ---------------------------------------------------------------- external DB

if [[ -n "${HEARTH_DATABASE_URL:-}" ]]; then
  check_external() {
    PGCONNECT_TIMEOUT=5 psql -X -q -t "$HEARTH_DATABASE_URL" -c 'select 1' >/dev/null
  }
  case "${1:-}" in
    start)
      check_external || die "HEARTH_DATABASE_URL is set but does not answer 'select 1'"
      log "using external database from HEARTH_DATABASE_URL"
      echo "DATABASE_URL=$HEARTH_DATABASE_URL"
      ;;
    status)
      if check_external; then echo "postgres: external HEARTH_DATABASE_URL answers"; else
        echo "postgres: external HEARTH_DATABASE_URL does not answer"
        exit 1
      fi
      ;;
    stop) log "HEARTH_DATABASE_URL is set: nothing to stop" ;;
    *)
      echo "usage: $0 start|stop|status" >&2
      exit 2
      ;;
  esac
  exit 0
fi

# ------------------------------------------------------------- local cluster

# Newest Debian-packaged major version (/usr/lib/postgresql/<major>/bin).
find_pg_bin() {
  local d best=""
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]] || continue
    best=$(printf '%s\n%s\n' "$best" "$d" | sed '/^$/d' | sort -V | tail -n 1)
  done
  [[ -n "$best" ]] && echo "$best"
}

ensure_pg_bin() {
  if PG_BIN=$(find_pg_bin); then
    return 0
  fi
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    log "PostgreSQL binaries not found, installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends postgresql >&2
    # The package may create and start a system cluster on 5432; we don't use
    # it, but don't fight it either - pick HEARTH_PG_PORT if it collides.
    PG_BIN=$(find_pg_bin) || die "installed postgresql but found no binaries under /usr/lib/postgresql/*/bin"
    return 0
  fi
  die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin.
  Install them (Debian/Ubuntu: sudo apt-get install -y postgresql) or point
  HEARTH_DATABASE_URL at an existing database."
}

# initdb and postgres refuse to run as root. As root we use the `postgres` OS
# user (created by Debian's package); otherwise we simply run as ourselves.
setup_user() {
  if [[ $EUID -eq 0 ]]; then
    PG_USER=postgres
    if ! id -u "$PG_USER" >/dev/null 2>&1; then
      log "creating system user $PG_USER"
      useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash "$PG_USER"
    fi
  else
    PG_USER=$(id -un)
  fi
}

# Run a command as PG_USER, from / so its cwd is always accessible to it.
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u "$PG_USER" -- "$@")
  else
    (cd / && "$@")
  fi
}

# As root, $RUN_DIR may sit under directories the postgres user cannot enter
# (e.g. /root/... or a 0700 mktemp dir). Postgres must reach its data dir,
# socket dir and log file by path, so grant *traverse only* (o+x, no read/list)
# on exactly those ancestors that block it. If even that is not possible
# (read-only or foreign-owned fs) we stop with a clear message; set
# HEARTH_RUN_DIR to a traversable place such as /tmp/hearth-run instead.
ensure_traversable() {
  [[ $EUID -eq 0 ]] || return 0
  local target=$1 dir=$1 parts=() d
  while [[ "$dir" != "/" ]]; do
    parts=("$dir" "${parts[@]}")
    dir=$(dirname "$dir")
  done
  for d in "${parts[@]}"; do
    if ! as_pg test -x "$d"; then
      log "granting traverse permission (o+x) on $d so user $PG_USER can reach $target"
      chmod o+x "$d" 2>/dev/null || true
      as_pg test -x "$d" || die "user $PG_USER cannot traverse $d; set HEARTH_RUN_DIR to a path it can reach (e.g. /tmp/hearth-run)"
    fi
  done
}

prepare_dirs() {
  mkdir -p "$PG_DIR" "$SOCK_DIR"
  ensure_traversable "$PG_DIR"
  ensure_traversable "$LOG_DIR"
  # Log file: opened by the server process (pg_ctl -l), i.e. by PG_USER.
  touch "$LOG_FILE"
  if [[ $EUID -eq 0 ]]; then
    chown "$PG_USER": "$SOCK_DIR" "$LOG_FILE"
    if [[ -d "$DATA_DIR" ]]; then chown -R "$PG_USER": "$DATA_DIR"; fi
  fi
  chmod 0700 "$SOCK_DIR"
  chmod 0644 "$LOG_FILE"
}

# Create the cluster once. initdb runs into a temp dir that is renamed at the
# end, so a run killed mid-initdb never leaves a half-made $DATA_DIR behind.
ensure_initdb() {
  [[ -f "$DATA_DIR/PG_VERSION" ]] && return 0
  local tmp="$PG_DIR/data.initdb" pwfile="$PG_DIR/pwfile"
  rm -rf "$tmp"
  if [[ -d "$DATA_DIR" ]]; then
    log "removing incomplete data dir $DATA_DIR (no PG_VERSION)"
    rm -rf "$DATA_DIR"
  fi
  mkdir -p "$tmp"
  printf 'hearth\n' >"$pwfile"
  chmod 0600 "$pwfile"
  if [[ $EUID -eq 0 ]]; then chown "$PG_USER": "$tmp" "$pwfile"; fi
  chmod 0700 "$tmp"
  log "initdb $DATA_DIR (PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'))"
  if ! as_pg "$PG_BIN/initdb" -D "$tmp" -U hearth --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C >>"$LOG_FILE" 2>&1; then
    rm -f "$pwfile"
    die_with_log "$LOG_FILE" "initdb failed"
  fi
  rm -f "$pwfile"
  # Our settings live in hearth.conf, regenerated on every start.
  echo "include_if_exists = 'hearth.conf'" >>"$tmp/postgresql.conf"
  mv "$tmp" "$DATA_DIR"
}

write_conf() {
  local conf="$DATA_DIR/hearth.conf"
  {
    echo "# Generated by deploy/local/postgres.sh on every start - edits are overwritten."
    echo "listen_addresses = '127.0.0.1'"
    echo "max_connections = 300"
    echo "shared_buffers = 128MB"
    if [[ "${HEARTH_PG_FAST:-0}" == "1" ]]; then
      echo "# HEARTH_PG_FAST=1: durability off - a crash can corrupt data. Tests only."
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } >"$conf"
  if [[ $EUID -eq 0 ]]; then chown "$PG_USER": "$conf"; fi
}

# Postmaster pid from postmaster.pid (first line), if that process is alive
# and really a postgres serving this data dir (guards against pid reuse).
running_pid() {
  local pidfile="$DATA_DIR/postmaster.pid" pid
  [[ -f "$pidfile" ]] || return 1
  pid=$(head -n 1 "$pidfile")
  pid_cmdline_has "$pid" "$DATA_DIR" || return 1
  echo "$pid"
}

# After kill -9 / a crash: postmaster.pid (and the socket lock file) name a
# dead pid. Postgres itself would refuse to start if that pid got reused by
# another process, so remove them ourselves. Orphaned backends of the killed
# postmaster exit on their own once they notice it is gone; give them a
# moment, because they still hold the old shared memory segment.
clear_stale() {
  local pidfile="$DATA_DIR/postmaster.pid" old
  if [[ -f "$pidfile" ]] && ! running_pid >/dev/null; then
    old=$(head -n 1 "$pidfile")
    log "removing stale postmaster.pid (pid $old is not running)"
    rm -f "$pidfile"
    wait_orphans "$old"
  fi
  if [[ -z "$(running_pid || true)" ]]; then
    rm -f "$SOCK_DIR"/.s.PGSQL.*
  fi
}

# Wait (max 10s) for leftover backends of a dead postmaster: every postgres
# process chdir()s into its data dir, so look for PG_USER processes there.
wait_orphans() {
  local i p busy
  for ((i = 0; i < 100; i++)); do
    busy=0
    for p in $(pgrep -u "$PG_USER" 2>/dev/null || true); do
      if [[ "$(readlink "/proc/$p/cwd" 2>/dev/null || true)" == "$DATA_DIR" ]]; then busy=1; fi
    done
    ((busy)) || return 0
    sleep 0.1
  done
  log "warning: old postgres processes still running in $DATA_DIR"
}

ready() {
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 3 || return 1
  PGPASSWORD=hearth PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -t -h 127.0.0.1 -p "$PORT" -U hearth -d hearth \
    -c 'select 1' >/dev/null 2>&1
}

# Create the hearth database if it is missing (over the unix socket, where
# initdb's --auth-local=trust applies).
ensure_database() {
  local exists
  exists=$(as_pg "$PG_BIN/psql" -X -q -t -A -h "$SOCK_DIR" -p "$PORT" -U hearth -d postgres \
    -c "select 1 from pg_database where datname = 'hearth'")
  if [[ "$exists" != "1" ]]; then
    log "creating database hearth"
    as_pg "$PG_BIN/psql" -X -q -h "$SOCK_DIR" -p "$PORT" -U hearth -d postgres \
      -c 'create database hearth owner hearth' >/dev/null
  fi
}

wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT)) pid
  while ((SECONDS < deadline)); do
    if ready; then return 0; fi
    pid=$(running_pid) || die_with_log "$LOG_FILE" "postgres is not running (died during startup?)"
    sleep 0.5
  done
  die_with_log "$LOG_FILE" "postgres not ready on 127.0.0.1:$PORT after ${READY_TIMEOUT}s"
}

cmd_start() {
  local t0=$SECONDS pid
  ensure_pg_bin
  setup_user
  prepare_dirs
  clear_stale

  if pid=$(running_pid); then
    log "already running (pid $pid), checking readiness"
    # It may still be in startup/crash recovery: wait until it accepts
    # connections before making sure the database exists.
    local deadline=$((SECONDS + READY_TIMEOUT))
    until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 3; do
      ((SECONDS < deadline)) || die_with_log "$LOG_FILE" "postgres (pid $pid) not accepting connections after ${READY_TIMEOUT}s"
      running_pid >/dev/null || die_with_log "$LOG_FILE" "postgres (pid $pid) died"
      sleep 0.5
    done
    ensure_database
    wait_ready
    echo "DATABASE_URL=$DB_URL"
    return 0
  fi

  port_open "$PORT" && die "port 127.0.0.1:$PORT is already in use by another process (set HEARTH_PG_PORT)"

  ensure_initdb
  write_conf
  rotate_log "$LOG_FILE"
  touch "$LOG_FILE"
  if [[ $EUID -eq 0 ]]; then chown "$PG_USER": "$LOG_FILE"; fi

  log "starting postgres on 127.0.0.1:$PORT (log: $LOG_FILE)"
  # -w waits until the server accepts connections (or -t expires); crash
  # recovery after a kill -9 happens inside that wait.
  if ! as_pg "$PG_BIN/pg_ctl" -D "$DATA_DIR" -l "$LOG_FILE" \
      -o "-p $PORT -k '$SOCK_DIR'" -w -t "$READY_TIMEOUT" start >/dev/null; then
    # pg_ctl leaves a server that is merely slow running; a failed start
    # should leave nothing behind.
    if pid=$(running_pid); then
      log "stopping server that did not become ready (pid $pid)"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    die_with_log "$LOG_FILE" "pg_ctl start failed"
  fi
  ensure_database
  wait_ready
  log "postgres ready (pid $(running_pid)) in $((SECONDS - t0))s"
  echo "DATABASE_URL=$DB_URL"
}

cmd_stop() {
  local pid
  setup_user
  if ! pid=$(running_pid); then
    if [[ -d "$DATA_DIR" ]]; then clear_stale; fi
    log "not running"
    return 0
  fi
  log "stopping postgres (pid $pid)"
  # Remember the children: if we have to KILL the postmaster they would
  # otherwise linger until they notice it is gone.
  local children
  children=$(pgrep -P "$pid" || true)
  # SIGINT is postgres' "fast" shutdown (roll back clients, checkpoint, exit).
  # SIGTERM would be "smart" shutdown, which waits for every client - e.g. a
  # forgotten connection pool - to disconnect, and usually times out.
  kill -INT "$pid" 2>/dev/null || true
  if ! wait_pid_gone "$pid" "$STOP_TIMEOUT"; then
    log "still alive after ${STOP_TIMEOUT}s, sending KILL"
    # shellcheck disable=SC2086
    kill -KILL "$pid" $children 2>/dev/null || true
    wait_pid_gone "$pid" 10 || die "could not kill postgres pid $pid"
    rm -f "$DATA_DIR/postmaster.pid"
  fi
  log "stopped"
}

cmd_status() {
  local pid
  ensure_pg_bin
  if ! pid=$(running_pid); then
    echo "postgres: not running"
    return 1
  fi
  if ! ready; then
    echo "postgres: process $pid alive but not answering on 127.0.0.1:$PORT"
    return 1
  fi
  echo "postgres: running (pid $pid), DATABASE_URL=$DB_URL"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
