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

.PHONY: help install demo test lint typecheck unit bench soak e2e clean

help:
	@echo "make demo   run the example DAG through Airflow against the local emulator"
	@echo "make test   lint, type-check and run every test"
	@echo "make bench  print the performance ratios"
	@echo "make soak   1,000+ calls against the emulator with injected faults"

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
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

bench: $(STAMP)
	$(PY) -m benchmarks

soak: $(STAMP)
	$(PY) -m benchmarks.soak

clean:
	rm -rf $(VENV) .scratch .pytest_cache .mypy_cache .ruff_cache
