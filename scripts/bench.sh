#!/usr/bin/env bash
# `make bench`: every benchmark in one run on one infra (the test ports), printing figures and ratios.
set -euo pipefail
unset PYTHONDONTWRITEBYTECODE  # cache bytecode (see Makefile)
cd "$(dirname "$0")/.."
# Its own run dir, made anew: topics left over from test runs would have the benchmarks' consumers
# (projections of property.events and the like) catching up on history while they are measured.
for s in postgres.sh kafka.sh; do HEARTH_RUN_DIR="$PWD/.run/bench" bash "deploy/local/$s" stop >/dev/null 2>&1 || true; done
rm -rf .run/bench
export HEARTH_RUN_DIR="$PWD/.run/bench" HEARTH_PG_PORT=15432 HEARTH_KAFKA_PORT=19092 HEARTH_KAFKA_CONTROLLER_PORT=19093 HEARTH_PG_FAST=1
started=()
trap 'for s in "${started[@]}"; do bash deploy/local/$s stop >/dev/null 2>&1 || true; done' EXIT
for s in postgres.sh kafka.sh; do
  bash "deploy/local/$s" status >/dev/null 2>&1 || started+=("$s")
  bash "deploy/local/$s" start >/dev/null
done
export HEARTH_DATABASE_URL="postgresql://hearth:hearth@127.0.0.1:15432/hearth" HEARTH_KAFKA_BOOTSTRAP=127.0.0.1:19092
export HEARTH_LOG_LEVEL=WARNING
# every benchmark in name order, or only those named: scripts/bench.sh telemetry webhooks
if [ $# -gt 0 ]; then benches=(); for n in "$@"; do benches+=("bench/${n}_bench.py"); done; else benches=(bench/*_bench.py); fi
for b in "${benches[@]}"; do
  if [ -f "$b" ]; then echo; echo "=== $b"; .venv/bin/python "$b"; fi
done
