# retrain: `make demo` runs the main job, `make test` runs the tests. `make help` lists every target.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
UV_VERSION := 0.13.8
BIN := $(VENV)/bin
export RETRAIN_HOME ?= $(CURDIR)/.retrain
export AIRFLOW_HOME ?= $(RETRAIN_HOME)/airflow
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.DEFAULT_GOAL := help
.PHONY: help install demo check test test-unit test-dags test-adapters test-integration test-faults test-services test-browser bench lint up clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-18s %s\n", $$1, $$2}'

$(BIN)/uv:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "retrain needs Python 3.11 or newer; set PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.installed: $(BIN)/uv pyproject.toml uv.lock
	$(BIN)/uv sync --frozen --compile-bytecode --python $(BIN)/python
	@touch $@

# The project's own bytecode too (uv compiles the dependencies'): Python caches it by itself only where
# PYTHONDONTWRITEBYTECODE is unset, and compiling src/ and dags/ again costs ~0.3 s of every command.
install: $(VENV)/.installed ## create .venv from uv.lock (idempotent; quick when nothing changed)
	@$(BIN)/python -m compileall -q -j 0 src dags > /dev/null

demo: install ## simulate weeks of daily data through the real Airflow DAGs and show what happened
	$(BIN)/retrain demo

check: install ## model quality: retrain on the reference data sets, compare with quality/baseline.json (exit 1 if worse)
	$(BIN)/retrain check

TEST_WORKERS ?= 3
test: install ## run every test (unit, DAGs, adapters, integration, faults; services and browser when PostgreSQL, Redis and Chromium are there)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

test-unit: install ## core library tests only (no Airflow: tests/unit/test_layers.py checks it)
	$(BIN)/pytest tests/unit

test-dags: install ## DAG integrity tests
	$(BIN)/pytest tests/dags

test-adapters: install ## the Airflow adapter tests (src/retrain/airflow)
	$(BIN)/pytest tests/adapters

test-integration: install ## real Airflow runs
	$(BIN)/pytest tests/integration

test-faults: install ## real fault injection (tests/faults/README.md)
	$(BIN)/pytest tests/faults

bench: install ## benchmarks: print tables of rows/s, memory and ratios; the gate and drift on streams with no change
	$(BIN)/python bench/bench_score.py
	$(BIN)/python bench/bench_retrain.py
	$(BIN)/python bench/bench_gate.py
	$(BIN)/python bench/bench_drift.py
	$(BIN)/python bench/bench_runs.py
	$(BIN)/python bench/bench_demo.py

up: install ## the Airflow UI (:8080) and MLflow UI (:5000) on this project, login required; Ctrl-C stops everything
	$(BIN)/retrain up

test-services: install ## the production topology as local processes: CeleryExecutor on PostgreSQL + Redis, 2 workers, MLflow server
	$(BIN)/pytest tests/services

test-browser: install ## headless Chromium: the report and the Airflow UI of `retrain up`
	$(BIN)/pytest tests/browser

lint: install ## ruff
	$(BIN)/ruff check src tests dags bench

clean: ## remove .venv and the local RETRAIN_HOME (.retrain)
	rm -rf $(VENV) .retrain
