# The project's commands. `make demo` shows the system working; `make test` proves it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help install up down migrate test test-unit lint typecheck schemas demo bench clean

help:
	@echo "make demo      run the whole system here (no Docker) and show it working"
	@echo "make test      the full test suite against real PostgreSQL and Kafka"
	@echo "make up/down   start/stop PostgreSQL, Kafka and the three services in the background"
	@echo "make lint      ruff and mypy"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The services read `.env`; a fresh clone starts from the documented defaults.
.env:
	cp .env.example .env

install: $(STAMP) .env

migrate: install
	$(PY) -m services.migrate

up: install
	bash infra/up.sh
	$(PY) -m services.migrate
	bash infra/services.sh start
	@if [ "$$(bash -c 'source infra/common.sh; load_settings; echo $$RELAY_MODE')" = debezium ]; then \
	  bash infra/connect.sh register; fi

down:
	-bash infra/services.sh stop
	bash infra/down.sh

# Starts whatever infrastructure is not running yet, runs the suite, stops what it started
# (also when tests fail).
test: install
	INFRA_SERVICES="postgres kafka $(if $(wildcard infra/connect.sh),connect,)" \
	  bash infra/with-infra.sh bash -c '$(PY) -m services.migrate && $(PY) -m pytest $(PYTEST_ARGS)'

test-unit: install
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

schemas: install
	$(PY) -m shared.events

# KEEP=1 leaves everything running (stop it with `make down`).
demo: install
	$(if $(KEEP),bash infra/up.sh && $(PY) -m scripts.demo --keep,bash infra/with-infra.sh $(PY) -m scripts.demo)

# The relays side by side (BENCHMARKS.md); BENCH_ARGS=--quick for a short smoke run.
bench: install
	@test -d scripts/bench || { echo "the benchmarks compare both relays; this project has one"; exit 1; }
	INFRA_SERVICES="postgres kafka $(if $(wildcard infra/connect.sh),connect,)" \
	  bash infra/with-infra.sh $(PY) -m scripts.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .run
