# Two commands on a fresh clone: `make demo` and `make test`. Everything installs itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
TOOLS   := .scratch/tools
UV      := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
PYTHON  ?= python3

export UV_PYTHON_DOWNLOADS := never
export UV_COMPILE_BYTECODE := 1
export UV_LINK_MODE := copy

.PHONY: help install demo test lint typecheck unit bench profile soak e2e clean

help:
	@echo "make demo   run the example DAG through Airflow against the local emulator"
	@echo "make test   lint, type-check and run every test"
	@echo "make bench  print the performance ratios"
	@echo "make profile  where the client's CPU goes, per call and per batch item (py-spy)"
	@echo "make soak   1,000+ calls against the emulator with injected faults"

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-groups --python $(PYTHON)
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: lint typecheck
	$(PY) -m pytest
	$(MAKE) --no-print-directory e2e e2e-celery

bench: $(STAMP)
	$(PY) -m benchmarks

profile: $(STAMP)
	$(PY) -m benchmarks.breakdown

soak: $(STAMP)
	$(PY) -m benchmarks.soak

clean:
	rm -rf $(VENV) .scratch .pytest_cache .mypy_cache .ruff_cache

# --- End-to-end check on real Airflow services (issue #6; see e2e/run.py) ----------------------
# `make e2e`: api-server, scheduler, dag-processor with LocalExecutor (SQLite), the emulator and
# moto's S3 server on loopback; every example DAG triggered through the REST API and checked.
# `make e2e-celery`: the same with CeleryExecutor, Redis and two workers with private disks.
# Extra driver flags: make e2e E2E_FLAGS="--keep --case s3".
E2E_FLAGS ?=
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: e2e-celery

e2e: $(STAMP)
	$(PY) -m e2e.run --executor local $(E2E_FLAGS)

e2e-celery: $(STAMP)
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "redis-server missing: installing Debian's package"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server; }
	$(PY) -m e2e.run --executor celery $(E2E_FLAGS)
