# kapfinder: what a newcomer runs. `make run` (development server), `make test` (the suite on
# SQLite, then on PostgreSQL + PostGIS), `make serve` (gunicorn), `make bench`, `make clean`.
# make never calls apt-get: system packages (PostgreSQL + PostGIS, Chromium, wrk) are .ci/run's job.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
FLASK := $(BIN)/flask
# pip runs only when a requirements file is newer than the stamp it left last time.
RUNTIME_STAMP := $(VENV)/.requirements.stamp
DEV_STAMP := $(VENV)/.requirements-dev.stamp

HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run serve test bench clean install install-dev pin

$(PY):
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(RUNTIME_STAMP)

install: $(RUNTIME_STAMP)
install-dev: $(DEV_STAMP)

# Development server on 127.0.0.1:5000. Sample clinics are loaded once, into an empty directory.
# Request logs carry method, path, status and time: never a query string (a patient's search).
run: $(RUNTIME_STAMP)
	@export KAPFINDER_ENV=development; \
	$(FLASK) db upgrade || exit 1; \
	clinics=$$($(FLASK) db clinic-count) || exit 1; \
	if [ "$$clinics" = "0" ]; then \
	  echo "No clinics yet: loading the fictional sample directory (flask sample load)."; \
	  $(FLASK) sample load || exit 1; \
	fi; \
	echo "kapfinder (development) on http://$(HOST):$(PORT)/"; \
	exec $(FLASK) --debug run --host $(HOST) --port $(PORT)

# Production serving: KAPFINDER_SECRET_KEY must be set (32 random bytes; see docs/DEPLOY.md, Security).
# gunicorn.conf.py's worker reads each request whole before a thread takes it (slow clients); put
# the buffering proxy of docs/DEPLOY.md in front for TLS.
serve: $(RUNTIME_STAMP)
	$(FLASK) db upgrade
	exec $(BIN)/gunicorn -c gunicorn.conf.py app:app

# The whole suite on SQLite, then on PostgreSQL + PostGIS (skipped with its reason when no server
# offers PostGIS; with CI=true a skip fails). Both runs always happen; either failing fails make.
test: $(DEV_STAMP)
	@failed=""; \
	for engine in sqlite postgres; do \
	  echo "=== pytest on $$engine ==="; \
	  KAPFINDER_TEST_ENGINE=$$engine $(PY) -m pytest $(PYTEST_ARGS); code=$$?; \
	  if [ $$code -eq 5 ]; then echo "pytest on $$engine collected no tests (exit 5): nothing was checked."; fi; \
	  if [ $$code -ne 0 ]; then failed="$$failed $$engine(exit $$code)"; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "make test FAILED on:$$failed"; exit 1; fi; \
	echo "make test: passed on sqlite and postgres"

bench: $(DEV_STAMP)
	$(PY) bench/run.py $(BENCH_ARGS)

# Rewrite both requirements files from what the venv holds now (runtime roots: .ci/pin_requirements.py).
pin: | $(PY)
	$(PY) .ci/pin_requirements.py

# Build and test leftovers only: never .venv, instance/ (the database) or the bench databases.
clean:
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	rm -rf .pytest_cache test-results tests/screenshots
