#!/usr/bin/env bash
# `make bench`: every benchmark in one run on one fresh infra, printing figures and ratios.
set -euo pipefail
unset PYTHONDONTWRITEBYTECODE  # cache bytecode (see Makefile)
cd "$(dirname "$0")/.."
# Its own infra on its own ports, made anew each run: topics left over from test runs would have the
# benchmarks' consumers (projections of property.events and the like) catching up on history while they
# are measured; its own ports let it run beside `make test` (the figures then say so: load average).
export HEARTH_RUN_DIR="$PWD/.run/bench" HEARTH_PG_PORT=16432 HEARTH_KAFKA_PORT=19192 HEARTH_KAFKA_CONTROLLER_PORT=19193 HEARTH_PG_FAST=1
# (the scripts leave alone what HEARTH_DATABASE_URL / HEARTH_KAFKA_BOOTSTRAP point at, so stop without them)
stop_infra() { for s in kafka.sh postgres.sh; do env -u HEARTH_DATABASE_URL -u HEARTH_KAFKA_BOOTSTRAP bash "deploy/local/$s" stop >/dev/null 2>&1 || true; done; }
stop_infra
rm -rf .run/bench
trap stop_infra EXIT
for s in postgres.sh kafka.sh; do bash "deploy/local/$s" start >/dev/null; done
export HEARTH_DATABASE_URL="postgresql://hearth:hearth@127.0.0.1:16432/hearth" HEARTH_KAFKA_BOOTSTRAP=127.0.0.1:19192
export HEARTH_LOG_LEVEL=WARNING
# every benchmark in name order, or only those named: scripts/bench.sh telemetry webhooks
if [ $# -gt 0 ]; then benches=(); for n in "$@"; do benches+=("bench/${n}_bench.py"); done; else benches=(bench/*_bench.py); fi
for b in "${benches[@]}"; do
  if [ -f "$b" ]; then echo; echo "=== $b"; .venv/bin/python "$b"; fi
done
