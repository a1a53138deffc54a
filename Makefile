# Two commands for a fresh machine: `make demo` and `make test`. uv is bootstrapped when missing.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test test-sqlite test-postgresql lint format sync

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

sync: $(UV)
	$(UV) sync --frozen

HOST ?= 127.0.0.1
PORT ?= 8000

## Run the demo: embedded SQLite + memory cache + the sample mailbox, served on $(HOST):$(PORT)
## (`make demo PORT=8080`). It uses the database every `leadflow` command uses (data/leadflow.db).
demo: sync
	@$(UV) run --frozen leadflow demo --host $(HOST) --port $(PORT)

## Run the whole test suite on SQLite, then on PostgreSQL.
test: sync
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgresql

test-sqlite:
	LEADFLOW_TEST_DB=sqlite $(UV) run --frozen pytest

test-postgresql:
	LEADFLOW_TEST_DB=postgresql $(UV) run --frozen pytest

lint: sync
	$(UV) run --frozen ruff format --check src tests bench
	$(UV) run --frozen ruff check src tests bench
	$(UV) run --frozen mypy

format: sync
	$(UV) run --frozen ruff format src tests bench
	$(UV) run --frozen ruff check --fix src tests bench
