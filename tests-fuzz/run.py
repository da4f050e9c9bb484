"""The fuzz stage of `make test`: schemathesis over the merged OpenAPI of a running platform.

Every operation the gateway publishes is fuzzed (positive and negative data, NUL bytes included) with
the demo API key, under a fixed seed so a run is repeatable. Checks: no 5xx (`not_a_server_error`) and
every error a problem+json document (`problem_checks.py`). No response-time checks: this 2-core machine's
timings are noise, and a flaky stage would be ignored.

The number of examples per operation is derived from the operation count so the whole stage stays
within its time budget as services are added (CASE_BUDGET cases in total, between MIN and MAX per
operation). Usage: python tests-fuzz/run.py [path/to/demo.json]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261201
# About 0.1-0.2 s per case on a loaded 2-core machine: ~600 cases keep fuzzing near 90 s, plus the examples
# phase (one or two requests per operation) and loading the schema.
CASE_BUDGET = 600
MIN_PER_OPERATION, MAX_PER_OPERATION = 3, 20
METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}


def examples_per_operation(operations: int) -> int:
    """Cases per operation so that all of them together stay near CASE_BUDGET."""
    return max(MIN_PER_OPERATION, min(MAX_PER_OPERATION, CASE_BUDGET // max(operations, 1)))


def main() -> int:
    demo_path = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("HEARTH_E2E_DEMO", ".run/demo.json"))
    demo = json.loads(demo_path.read_text())
    schema_url = demo["gateway_url"] + "/openapi.json"
    with urllib.request.urlopen(schema_url, timeout=30) as resp:  # noqa: S310 (the local gateway)
        spec = json.load(resp)
    operations = sum(1 for item in spec["paths"].values() for method in item if method in METHODS)
    per_operation = examples_per_operation(operations)
    print(f"fuzz: {operations} operations, {per_operation} examples each, seed {SEED}", flush=True)
    report_dir = (demo_path.parent / "fuzz-report").resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", schema_url,
        "--header", f"Authorization: Bearer {demo['api_key']}",
        "--checks", "not_a_server_error,problem_json_errors",
        "--phases", "examples,fuzzing",
        "--max-examples", str(per_operation),
        "--seed", str(SEED),
        "--generation-database", "none",
        "--suppress-health-check", "all",
        "--workers", "2",
        "--request-timeout", "30",
        "--no-color",
        "--report", "junit", "--report-dir", str(report_dir),
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "problem_checks",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
    started = time.monotonic()
    code = subprocess.call(command, env=env, cwd=report_dir)  # schemathesis keeps its state in the cwd
    print(f"fuzz: finished in {time.monotonic() - started:.0f} s (exit {code})", flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
