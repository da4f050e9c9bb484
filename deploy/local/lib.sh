# shellcheck shell=bash
# Helpers shared by kafka.sh and postgres.sh. Sourced, never executed.
#
# Sets:
#   SCRIPT_DIR  deploy/local
#   REPO_ROOT   two levels above SCRIPT_DIR
#   RUN_DIR     $HEARTH_RUN_DIR, default $REPO_ROOT/.run (made absolute)
#   LOG_DIR     $RUN_DIR/logs

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
RUN_DIR="${HEARTH_RUN_DIR:-$REPO_ROOT/.run}"
mkdir -p "$RUN_DIR"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"   # absolute: it ends up in config files
LOG_DIR="$RUN_DIR/logs"
mkdir -p "$LOG_DIR"

# shellcheck disable=SC2034  # used by the scripts that source this file
# How long start waits for readiness, and stop waits after the polite signal.
READY_TIMEOUT="${HEARTH_READY_TIMEOUT:-90}"
# shellcheck disable=SC2034
STOP_TIMEOUT="${HEARTH_STOP_TIMEOUT:-20}"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }

die() {
  printf '[%s] ERROR: %s\n' "$(basename "$0")" "$*" >&2
  exit 1
}

# die_with_log LOGFILE MESSAGE: fail loudly, showing the end of the log.
die_with_log() {
  local logfile=$1
  shift
  {
    printf '\n[%s] ERROR: %s\n' "$(basename "$0")" "$*"
    printf -- '----- last 50 lines of %s -----\n' "$logfile"
    tail -n 50 "$logfile" 2>/dev/null || echo "(no log file)"
    printf -- '----- end of %s -----\n' "$logfile"
  } >&2
  exit 1
}

# pid_alive PID: the process exists (zombies count as dead).
pid_alive() {
  local pid=$1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  local state
  state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [[ "$state" != "Z" ]]
}

# pid_cmdline_has PID STRING: the live process' command line contains STRING.
# Guards against pid reuse: after a kill -9 and a reboot/container restart
# the pid in a stale pid file may belong to an unrelated process.
pid_cmdline_has() {
  local pid=$1 needle=$2
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$needle"
}

# wait_pid_gone PID SECONDS: 0 once the process is gone, 1 on timeout.
wait_pid_gone() {
  local pid=$1 secs=$2 i
  for ((i = 0; i < secs * 10; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.1
  done
  ! pid_alive "$pid"
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# rotate_log FILE: keep one previous generation once a log gets big, so a
# long-lived run dir does not grow without bound. Only called before a start.
rotate_log() {
  local f=$1 max_bytes=$((20 * 1024 * 1024))
  if [[ -f "$f" ]] && (($(stat -c %s "$f") > max_bytes)); then
    mv -f "$f" "$f.1"
  fi
}
