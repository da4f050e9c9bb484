# Hearth: `make up` runs the platform, `make test` runs every test. Both work from a fresh clone.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
# Bytecode is cached in the venv and the sources (gitignored): without it every process compiles the
# libraries it imports from source again, most of a service's start-up and of each test run's start.
unexport PYTHONDONTWRITEBYTECODE
export PATH := $(HOME)/.local/bin:$(PATH)
PY := .venv/bin/python

.PHONY: up down test unit integration e2e bench lint fmt bootstrap

bootstrap:          ## uv + the workspace venv
	@bash scripts/bootstrap.sh

up: bootstrap       ## Kafka, Postgres, every service and the gateway, in the background; writes .run/demo.json
	@$(PY) deploy/local/stack.py up

down:               ## stop everything `make up` started
	@if [ -x $(PY) ]; then $(PY) deploy/local/stack.py down; else bash deploy/local/kafka.sh stop; bash deploy/local/postgres.sh stop; fi

test:               ## unit + integration + e2e, starting and stopping what they need
	@bash scripts/test.sh all

unit:
	@bash scripts/test.sh unit

integration:
	@bash scripts/test.sh integration

e2e:
	@bash scripts/test.sh e2e

bench: bootstrap    ## benchmarks: figures and ratios, not assertions
	@bash scripts/bench.sh

lint: bootstrap     ## ruff + mypy --strict (source and tests)
	@.venv/bin/ruff check .
	@.venv/bin/mypy -p hearth_kit -p hearth_contracts $$(for d in services/*/src/hearth_*; do echo -p $$(basename $$d); done)
	@MYPYPATH=bench .venv/bin/mypy bench  # benches import their shared benchlib as scripts do
	@# tests too: each test folder on its own (they share module names such as conftest)
	@for d in libs/*/tests/unit libs/*/tests/integration libs/contracts/tests services/*/tests/unit \
	          services/*/tests/integration tests-e2e; do \
	  [ -d "$$d" ] || continue; MYPYPATH=$$d .venv/bin/mypy --no-error-summary "$$d" || exit 1; done

fmt: bootstrap
	@.venv/bin/ruff check --fix .
	@.venv/bin/ruff format .
