# Two commands for a fresh machine: `make demo` and `make test`. uv is bootstrapped when missing.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test test-sqlite test-postgresql lint format sync

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

# Bytecode compiled once at install: where PYTHONDONTWRITEBYTECODE is set (as on this machine)
# every process would otherwise compile FastAPI, SQLAlchemy and the rest from source on import
# (5.7 s against 2.4 s to import the app there), and the tests start hundreds of processes.
sync: $(UV)
	$(UV) sync --frozen --compile-bytecode

HOST ?= 127.0.0.1
PORT ?= 8000

## Run the demo: embedded SQLite + memory cache + the sample mailbox, served on $(HOST):$(PORT)
## (`make demo PORT=8080`). It uses the database every `leadflow` command uses (data/leadflow.db).
demo: sync
	@$(UV) run --frozen leadflow demo --host $(HOST) --port $(PORT)

# The tests' own processes may write bytecode (__pycache__ is ignored by git): leadflow's and
# the tests' modules are then compiled once per run, not once per process.
TEST_ENV := PYTHONDONTWRITEBYTECODE=

## Run the whole test suite on SQLite, then the tests that use the database on PostgreSQL
## (the others do the same on either database and ran in the first pass).
test: sync
	$(MAKE) --no-print-directory test-sqlite
	$(TEST_ENV) LEADFLOW_TEST_DB=postgresql $(UV) run --frozen pytest --database-tests-only

test-sqlite:
	$(TEST_ENV) LEADFLOW_TEST_DB=sqlite $(UV) run --frozen pytest

test-postgresql:
	$(TEST_ENV) LEADFLOW_TEST_DB=postgresql $(UV) run --frozen pytest

lint: sync
	$(UV) run --frozen ruff format --check src tests bench
	$(UV) run --frozen ruff check src tests bench
	$(UV) run --frozen mypy

format: sync
	$(UV) run --frozen ruff format src tests bench
	$(UV) run --frozen ruff check --fix src tests bench
