# china-tech-roundup — every target sets up .venv from requirements.lock first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip --disable-pip-version-check --quiet
ROUNDUP_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup report test lint format lab notebooks bench lock clean bytecode

help: ## Show this help
	@echo "china-tech-roundup — make targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements.lock
	$(PIP) install --no-deps -e .
	@$(MAKE) --no-print-directory bytecode
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv and install the pinned environment

# An editable install leaves analysis/ uncompiled; where PYTHONDONTWRITEBYTECODE is set, every
# `roundup` command would compile it again (~0.1 s of a no-change build). Stale files only.
bytecode:
	@$(BIN)/python -m compileall -q analysis > /dev/null

report: $(STAMP) bytecode ## Build every report of reports/plan.toml into reports/site/
	$(BIN)/roundup build $(ROUNDUP_ARGS)
	@echo "Open reports/site/index.html"

test: $(STAMP) lint ## Run the whole test suite (lint, unit, data, notebooks, images, end to end, browser)
	$(BIN)/python -m pytest

lint: $(STAMP) ## ruff check and ruff format --check over analysis/, tests/ and notebooks/
	$(BIN)/ruff check analysis tests notebooks bench
	$(BIN)/ruff format --check analysis tests notebooks bench

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix analysis tests notebooks bench
	$(BIN)/ruff format analysis tests notebooks bench

lab: $(STAMP) ## Open JupyterLab on notebooks/ with the project's environment as kernel
	$(if $(ROUNDUP_DATA_DIR),ROUNDUP_DATA_DIR=$(abspath $(ROUNDUP_DATA_DIR))) $(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

notebooks: $(STAMP) ## Re-execute every notebook in place and store its outputs (after changing code or data)
	$(BIN)/python -m analysis.notebooks refresh

BENCH_VENV := bench/.venv
$(BENCH_VENV)/.installed: requirements.lock bench/requirements.lock pyproject.toml
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip --disable-pip-version-check --quiet install -r requirements.lock -r bench/requirements.lock
	$(BENCH_VENV)/bin/python -m pip --disable-pip-version-check --quiet install --no-deps -e .
	@touch $@

bench: $(STAMP) $(BENCH_VENV)/.installed bytecode ## Measure roundup against its peers (naive loop, hand-wired pool, Ploomber); writes bench/RESULTS.md (~25 min)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lock: ## Re-resolve requirements.lock from pyproject.toml (needs network)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install uv
	$(BIN)/uv pip compile --python $(BIN)/python pyproject.toml --extra dask --extra lab --extra dev -o requirements.lock --annotation-style line --custom-compile-command "make lock"

clean: ## Remove the built site and caches (keeps .venv)
	rm -rf reports/site .pytest_cache .ruff_cache
