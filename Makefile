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
	@echo "make test       install, run the whole test suite (extra pytest args: PYTEST_ARGS=...)"
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

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev]'
	@touch $@

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py demo_seed
	@echo "Starting web on http://127.0.0.1:$(PORT)/ with Celery workers and beat (Procfile); Ctrl-C stops them all"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start --procfile Procfile

# Serial on purpose: pytest-xdist (`PYTEST_ARGS="-n 2"`) was not reliably faster on 2 cores
# (four paired SQLite runs took 0.6x to 1.3x the serial time), and in CI the fault tests
# restart Redis and run worker subprocesses that another xdist worker's tests would disturb.
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf var .pytest_cache .ruff_cache build test-artifacts *.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
