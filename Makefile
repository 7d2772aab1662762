# TenSafe IR: run, test and lint from a fresh clone with nothing but Python 3.11+ and make.
# `make run` and `make test` are the two commands the README (and the API contract) promise.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pip runs again only when pyproject.toml is newer than this stamp (or the venv is new).
STAMP := $(VENV)/.installed-stamp
PIP := $(BIN)/python -m pip --disable-pip-version-check

# Web listens on 127.0.0.1:$(PORT); honcho reads PORT from the environment and hands it to
# the first Procfile entry (web).
PORT ?= 8000
export PORT
# Links the app writes (integration URLs, acknowledge links in pages, emails) point at this
# server unless configured otherwise.
TENSAFE_PUBLIC_BASE_URL ?= http://127.0.0.1:$(PORT)
export TENSAFE_PUBLIC_BASE_URL
PYTEST_ARGS ?=

.PHONY: help install run test lint clean distclean

help:
	@echo "make run        install, migrate, load demo data, start web + workers + beat on 127.0.0.1:$(PORT)"
	@echo "make test       install, run the whole test suite on $(TEST_WORKERS) processes (PYTEST_ARGS=..., TEST_WORKERS=0 for one)"
	@echo "make lint       ruff check + ruff format --check"
	@echo "make install    create $(VENV) and install the project with its dev extras"
	@echo "make clean      remove var/ (dev database, broker files, static) and caches"
	@echo "make distclean  clean, and remove $(VENV)"

install: $(STAMP)

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "error: '$(PYTHON)' not found; TenSafe IR needs Python >= 3.11 (make PYTHON=/path/to/python3.11 ...)" >&2; \
	  exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "error: TenSafe IR needs Python >= 3.11, but '$(PYTHON)' is $$($(PYTHON) -V 2>&1);" \
	       "run with PYTHON=/path/to/python3.11" >&2; \
	  exit 1; }
	$(PYTHON) -m venv $(VENV)

# pip compiles what it installs one file at a time; compileall does it on every core (the
# install took 27.7 s, now 18.5 + 5-6 s on two cores).
$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --no-compile -e '.[dev]'
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib
	@touch $@

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py demo_seed
	@echo "Starting web on http://127.0.0.1:$(PORT)/ with Celery workers and beat (Procfile); Ctrl-C stops them all"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start --procfile Procfile

# The suite is spread over TEST_WORKERS pytest-xdist processes (each with its own test
# database; the fault tests each start a Redis of their own). Many of the longest tests mostly
# wait (worker subprocesses, browsers, leases running out), so there are more processes than
# cores. Tests are handed out one or two at a time, in the order tests/conftest.py gives
# (longest first), with no more than two of the waiting ones at once (its SpreadWaiting
# scheduler): xdist's default hands each process a quarter of its share at once, which put
# every fault test on the first process, one after another. (xdist's loadgroup would keep a
# module's tests together, but it dedupes tests by id, and the schema fuzzer's operations share
# one: it dropped all but one of them.) docs/benchmarks.md ("Test suite") has the figures.
# `make test TEST_WORKERS=0` runs it in one process.
TEST_WORKERS ?= 4
# Python keeps compiled modules (and pytest its assertion-rewritten tests) in __pycache__, even
# where the environment says PYTHONDONTWRITEBYTECODE: besides its test processes, the suite
# starts Celery workers, web servers and manage.py commands, and each compiled every
# module of ours again, about 6 s of CPU per test process.
test: install
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --maxschedchunk 1) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf var .pytest_cache .ruff_cache build test-artifacts *.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
