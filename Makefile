# kapfinder: what a newcomer runs. `make run` (development server), `make test` (the suite on
# SQLite, then on PostgreSQL + PostGIS), `make audit` (pinned versions against stored advisories),
# `make serve` (gunicorn), `make bench`, `make clean`.
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

.PHONY: run serve test audit audit-refresh bench clean install install-dev pin messages

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

# The whole suite on SQLite, then on PostgreSQL + PostGIS (.ci/test_engines). Both runs always
# happen and the last lines say what each engine did: "postgres: skipped (no postgis: ...)" with the
# one command that sets PostGIS up (bash .ci/postgis, as root) when no server offers it; with
# CI=true a skip fails. Either engine failing fails make.
test: $(DEV_STAMP)
	@PY=$(PY) PYTEST_ARGS="$(PYTEST_ARGS)" bash .ci/test_engines

# Every pinned version in both requirements files against the advisories stored in .ci/advisories/
# (OSV records; offline). A pin inside an affected range fails. `make audit-refresh` rewrites the
# store from OSV's PyPI export and needs network access to osv-vulnerabilities.storage.googleapis.com.
audit: $(RUNTIME_STAMP)
	$(PY) .ci/audit.py check

audit-refresh: $(RUNTIME_STAMP)
	$(PY) .ci/audit.py refresh

bench: $(DEV_STAMP)
	$(PY) bench/run.py $(BENCH_ARGS)

# Translations (README, Translating): extract every string (code, templates, mails, vocabulary labels
# and descriptions, carrier notes) into messages.pot, merge it into each language's messages.po, then
# check that every message has a reviewed (non-fuzzy) translation: an untranslated one fails make.
# The .mo files are compiled when the app starts (kapfinder/catalogues.py) and never committed.
# A run that finds nothing new changes no file (the creation date alone does not count).
POT := kapfinder/translations/messages.pot
messages: $(RUNTIME_STAMP)
	PYTHONPATH=. $(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --project=kapfinder \
	    --no-location --sort-output --add-comments=Translators: --ignore-dirs='.*' -o $(POT).new . >/dev/null
	@if diff -q <(grep -v '^"POT-Creation-Date' $(POT).new) <(grep -v '^"POT-Creation-Date' $(POT)) >/dev/null 2>&1; \
	then rm $(POT).new; else mv $(POT).new $(POT); fi
	$(BIN)/pybabel update -i $(POT) -d kapfinder/translations --ignore-pot-creation-date
	$(PY) -m kapfinder.catalogues check

# Rewrite both requirements files from what the venv holds now (runtime roots: .ci/pin_requirements.py).
pin: | $(PY)
	$(PY) .ci/pin_requirements.py

# Build and test leftovers only: never .venv, instance/ (the database) or the bench databases.
clean:
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	rm -rf .pytest_cache test-results tests/screenshots
