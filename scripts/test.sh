#!/usr/bin/env bash
# `make test`: unit + integration + e2e against real Kafka and Postgres, started here and stopped on exit.
#   - one Kafka and one Postgres for the whole run (.run/test, ports 15432/19092), fsync off;
#   - a second copy of the platform (ports +10000, .run/test-platform) on that infra for the e2e tests,
#     then the fuzz stage (tests-fuzz/run.py) against that same platform before it is stopped.
# Usage: scripts/test.sh [unit|integration|e2e|all]
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
export UV_PYTHON_DOWNLOADS=never PATH="$HOME/.local/bin:$PATH"
unset PYTHONDONTWRITEBYTECODE  # cache bytecode: each later process then skips compiling what it imports
bash scripts/bootstrap.sh
PY=.venv/bin/python

# Ports can be moved (HEARTH_TEST_*) so a second checkout can test beside a first one.
export HEARTH_TEST_PG_PORT="${HEARTH_TEST_PG_PORT:-15432}" HEARTH_TEST_KAFKA_PORT="${HEARTH_TEST_KAFKA_PORT:-19092}"
export HEARTH_TEST_KAFKA_CONTROLLER_PORT="${HEARTH_TEST_KAFKA_CONTROLLER_PORT:-$((HEARTH_TEST_KAFKA_PORT + 1))}"
export HEARTH_TEST_RUN_DIR="$PWD/.run/test"
export HEARTH_RUN_DIR="$HEARTH_TEST_RUN_DIR" HEARTH_PG_PORT="$HEARTH_TEST_PG_PORT" HEARTH_KAFKA_PORT="$HEARTH_TEST_KAFKA_PORT" \
       HEARTH_KAFKA_CONTROLLER_PORT="$HEARTH_TEST_KAFKA_CONTROLLER_PORT" HEARTH_PG_FAST=1
started_infra=()
stop_all() {
  code=$?
  if [ -f .run/test-platform/pids/gateway.pid ] || ls .run/test-platform/pids/*.pid >/dev/null 2>&1; then
    HEARTH_RUN_DIR="$PWD/.run/test-platform" HEARTH_KEEP_INFRA=1 "$PY" deploy/local/stack.py down || true
  fi
  # the e2e step points the platform at this infra through these; stop must act on the local processes
  unset HEARTH_DATABASE_URL HEARTH_KAFKA_BOOTSTRAP
  for s in "${started_infra[@]}"; do bash "deploy/local/$s" stop >/dev/null 2>&1 || true; done
  exit "$code"
}
trap stop_all EXIT

# pytest exits 5 when it collected nothing; that is a failure here too (a silent no-op CI is a defect).
run_pytest() { "$PY" -m pytest -p no:cacheprovider "$@"; }

# The official AsyncAPI parser (node) checks libs/contracts/asyncapi.json; installed once from its lock file,
# again only when the lock changes.
parser_dir=libs/contracts/tests/asyncapi_parser
if [ "$what" = unit ] || [ "$what" = all ]; then
  lock_sum=$(sha256sum "$parser_dir/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$parser_dir/node_modules/.hearth-lock-sha256" 2>/dev/null)" != "$lock_sum" ]; then
    echo "== installing the AsyncAPI parser (npm ci)"
    (cd "$parser_dir" && npm ci --no-audit --no-fund --loglevel=error) \
      || { echo "npm ci failed in $parser_dir: the AsyncAPI contract test needs it" >&2; exit 1; }
    echo "$lock_sum" > "$parser_dir/node_modules/.hearth-lock-sha256"
  fi
fi

if [ "$what" = unit ] || [ "$what" = all ]; then
  echo "== unit tests"
  run_pytest -q libs/*/tests/unit libs/contracts/tests services/*/tests/unit deploy/tests
fi

if [ "$what" != unit ]; then
  for s in postgres.sh kafka.sh; do
    if ! bash "deploy/local/$s" status >/dev/null 2>&1; then
      started_infra+=("$s")
      # Started here, so started empty: topics kept from earlier runs made each new consumer group (a
      # projection starts at `earliest`) replay their whole history, past the fixtures' 60-s waits.
      rm -rf "$HEARTH_TEST_RUN_DIR/$( [ "$s" = kafka.sh ] && echo kafka || echo pg )"
    fi
    bash "deploy/local/$s" start
  done
fi

# Tests reach the infra started above directly (asking the scripts again costs a JVM probe per call).
export HEARTH_DATABASE_URL="postgresql://hearth:hearth@127.0.0.1:$HEARTH_PG_PORT/hearth"
export HEARTH_KAFKA_BOOTSTRAP="127.0.0.1:$HEARTH_KAFKA_PORT"

if [ "$what" = integration ] || [ "$what" = all ]; then
  echo "== integration tests (real Postgres + Kafka)"
  run_pytest -q libs/*/tests/integration services/*/tests/integration
fi

if [ "$what" = e2e ] || [ "$what" = all ]; then
  echo "== e2e tests (through the gateway of a running platform)"
  HEARTH_RUN_DIR="$PWD/.run/test-platform" HEARTH_PORT_OFFSET="${HEARTH_TEST_PORT_OFFSET:-10000}" HEARTH_ENVIRONMENT=test HEARTH_GATEWAY_REPLICAS=2 HEARTH_AUTH_TEMP_TOKEN_TTL_SECONDS=40 \
    "$PY" deploy/local/stack.py up
  HEARTH_E2E_FAULTS=1 HEARTH_E2E_DEMO="$PWD/.run/test-platform/demo.json" run_pytest -q tests-e2e
  echo "== fuzz (schemathesis over the gateway's merged OpenAPI; any 5xx fails)"
  "$PY" tests-fuzz/run.py "$PWD/.run/test-platform/demo.json"
fi
