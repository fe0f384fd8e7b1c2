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

.PHONY: help install demo test lint typecheck docs dist unit bench profile soak e2e clean matrix

help:
	@echo "make demo   run the example DAG through Airflow against the local emulator"
	@echo "make test   lint, type-check, build the docs and the wheel, run every test, the Airflow matrix, e2e"
	@echo "make matrix the tests on Airflow 2.11, 3.0, 3.1 and 3.2 (one venv each under .scratch/matrix)"
	@echo "make docs   build the documentation (warnings are errors) into .scratch/docs"
	@echo "make dist   build the wheel and sdist into dist/, check them, install the wheel in a clean venv"
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

# Warnings are errors: a dangling :ref:, a missing snippet or a broken docstring fails the build.
docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -E -q -b html -d .scratch/docs-doctrees docs .scratch/docs
	@echo "docs: .scratch/docs/index.html"

dist: $(STAMP)
	rm -rf dist
	$(UV) build --quiet --out-dir dist
	$(PY) -m devtools.check_dist dist --uv $(UV) --workdir .scratch/dist-check

# The main suite and the matrix run side by side: each is mostly one core's work (Airflow
# subprocesses one after another). The matrix's output goes to a file, printed once both are done;
# it runs in its own session, ended with make on Ctrl-C or SIGTERM.
MATRIX_LOG := .scratch/matrix.log

test: lint typecheck docs dist
	@mkdir -p $(dir $(MATRIX_LOG))
	@echo "make matrix runs beside pytest; its output is printed when both are done ($(MATRIX_LOG))"
	@setsid $(MAKE) --no-print-directory matrix > $(MATRIX_LOG) 2>&1 & matrix=$$!; \
	trap 'kill -TERM -- -$$matrix 2>/dev/null; exit 130' INT TERM; \
	$(PY) -m pytest; suite=$$?; \
	wait $$matrix; versions=$$?; \
	cat $(MATRIX_LOG); \
	echo "pytest exited $$suite, the matrix $$versions"; \
	[ $$suite -eq 0 ] && [ $$versions -eq 0 ]
	$(MAKE) --no-print-directory e2e e2e-celery E2E_DOCS=

# Airflow 2.11, 3.0, 3.1 and 3.2, each in its own venv under .scratch/matrix (see matrix/run.py).
matrix: $(STAMP)
	UV=$(UV) $(PY) -m matrix.run

bench: $(STAMP)
	$(PY) -m benchmarks

profile: $(STAMP)
	$(PY) -m benchmarks.breakdown
	$(PY) -m benchmarks.steps

soak: $(STAMP)
	$(PY) -m devtools.soak

clean:
	rm -rf $(VENV) .scratch dist .pytest_cache .mypy_cache .ruff_cache

# --- End-to-end check on real Airflow services (see e2e/run.py and e2e/README.md) --------------
# `make e2e`: api-server, scheduler, dag-processor with LocalExecutor (SQLite), the emulator and
# moto's S3 server on loopback; every example DAG triggered through the REST API and checked.
# `make e2e-celery`: the same with CeleryExecutor, Redis, two workers with private disks, and the
# metadata in PostgreSQL (a fresh cluster in the scratch directory, see e2e/stack.py).
# Extra driver flags: make e2e E2E_FLAGS="--keep --case s3".
E2E_FLAGS ?=
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: e2e-celery e2e-browser browser-deps

# The local run also checks the "Vyro images" view and the built docs in Chromium (--browser).
# `make test` has built the docs already and passes E2E_DOCS= .
E2E_DOCS ?= docs

e2e: $(STAMP) $(E2E_DOCS) browser-deps
	$(PY) -m e2e.run --executor local --browser $(E2E_FLAGS)

# Debian's Chromium and its driver for the browser checks, installed when missing.
browser-deps:
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } || { \
		echo "chromium or chromedriver missing: installing Debian's packages"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

# Debian's packages for the Celery run, installed when missing: the broker (redis-server) and the
# metadata database (postgresql, whose server programs live under /usr/lib/postgresql/*/bin; a
# postgres elsewhere on PATH is not used).
E2E_CELERY_DEBS = $(if $(shell command -v redis-server),,redis-server) \
	$(if $(wildcard /usr/lib/postgresql/*/bin/initdb),,postgresql)

e2e-celery: $(STAMP)
	@if [ -n "$(strip $(E2E_CELERY_DEBS))" ]; then \
		echo "installing Debian's packages: $(strip $(E2E_CELERY_DEBS))"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			$(E2E_CELERY_DEBS); fi
	$(PY) -m e2e.run --executor celery $(E2E_FLAGS)

# `make e2e-browser`: the batch case, then the "Vyro images" view and the built docs in Debian's
# Chromium through Selenium (installs chromium and chromium-driver when missing; see e2e/browser.py).
e2e-browser: $(STAMP) docs browser-deps
	$(PY) -m e2e.run --executor local --case batch --browser $(E2E_FLAGS)
