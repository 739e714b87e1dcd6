# Recommendation Tracker: `make run` serves the demo (with a background worker), `make test` runs the whole suite.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Django 6.1 needs Python >= 3.12: take the first suitable interpreter found.
PYTHON ?= $(shell for c in python3.13 python3.12 /usr/bin/python3.13 /usr/bin/python3.12 \
	$$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3 python3; do \
	  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; \
	  then command -v $$c; break; fi; done)
DEMO_PASSWORD ?= demo-password-2024
# Where `make run` serves; links in exports and emails (SITE_URL) follow it.
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install node-install api-client run test lint format migrations-check bench bench-targets bench-import scan loadcheck screenshots clean

$(VENV)/.installed: requirements.txt requirements-dev.txt build-constraints.txt
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found; install one or pass PYTHON=/path/to/python3.12"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip
	$(PIP) install -q --build-constraint build-constraints.txt -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed

# Servers the tests run beside the app, from package.json and its lock file (the OpenID Connect provider
# of tests/oidc/, Azurite for object storage). Without npm the tests that need them skip, except under
# CI=true, where they fail.
node_modules/.package-lock.json: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund; \
	else echo "npm not found: the single sign-on and object storage tests will skip (install Node.js 20 or later)"; fi

node-install: node_modules/.package-lock.json

# A Python client generated from the API's schema, as an integrator would (README, "API"), for the tests
# that drive the API through it (tests/tracker/test_api_client.py). The generator lives in a virtualenv of
# its own so that its dependencies never meet the application's pins; the client itself needs only httpx
# and attrs (requirements-dev.txt).
CLIENT_VENV ?= .venv-client
CLIENT_DIR ?= build/api-client
$(CLIENT_VENV)/.installed: requirements-client.txt
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found; pass PYTHON=/path/to/python3.12"; exit 1; }
	@test -x $(CLIENT_VENV)/bin/python || $(PYTHON) -m venv $(CLIENT_VENV)
	$(CLIENT_VENV)/bin/python -m pip install -q -U pip
	$(CLIENT_VENV)/bin/python -m pip install -q -r requirements-client.txt
	@touch $@

api-client: install $(CLIENT_VENV)/.installed
	@mkdir -p $(CLIENT_DIR)
	$(PY) manage.py spectacular --validate --fail-on-warn --file $(CLIENT_DIR)/schema.yml
	rm -rf $(CLIENT_DIR)/tracker_api_client
	PATH="$(abspath $(CLIENT_VENV))/bin:$$PATH" openapi-python-client generate --path $(CLIENT_DIR)/schema.yml \
	  --config api-client.yml --meta none --fail-on-warning --output-path $(CLIENT_DIR)/tracker_api_client

run: install
	$(PY) manage.py migrate --noinput
	SITE_URL=http://$(HOST):$(PORT) DEMO_PASSWORD=$(DEMO_PASSWORD) $(PY) manage.py seed_demo
	SITE_URL=http://$(HOST):$(PORT) $(PY) scripts/serve.py $(HOST):$(PORT)

# The suite runs in TEST_WORKERS processes (pytest-xdist; auto: one per processor), each with its own test
# database and browser; the test servers .ci/run starts serve them all, each test's files in a folder of
# their own. TEST_WORKERS=0 runs it in this one process. PYTEST_ARGS narrows a run, e.g.
# make test PYTEST_ARGS="-m 'not e2e'" (no browser tests).
TEST_WORKERS ?= auto
test: install node-install api-client
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The README's screenshots (docs/screenshots/), from the demo data in Chromium.
screenshots: install
	SCREENSHOTS=1 $(PY) -m pytest tests/e2e/test_screenshots.py -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: install
	$(PY) manage.py makemigrations --check --dry-run

# Build load data at small, medium and national scale (100,000 plans, 1,000,000 updates) on SQLite and
# PostgreSQL and time every main page against its admin equivalent and a trivial view (docs/BENCHMARKS.md).
# Built databases are kept in /tmp/rt-bench (BENCH_DATA_DIR) and reused; e.g. make bench BENCH_ARGS="--scales small --databases sqlite".
bench: install
	$(PY) scripts/bench.py $(BENCH_ARGS)

# Only the rows with a target, on national databases already built (make bench's, or BENCH_TARGETS_SQLITE /
# BENCH_TARGETS_POSTGRES), with the write latency run on a copy of the PostgreSQL one: about 5-8 minutes.
bench-targets: install
	$(PY) scripts/bench_targets.py $(BENCH_ARGS)

# Time the findings import: 10,000 findings into an empty SQLite database, then the same file again.
BENCH_DIR ?= /tmp/rt-bench-import
bench-import: install
	rm -rf $(BENCH_DIR) && mkdir -p $(BENCH_DIR)
	$(PY) -m devdata.import_bench 10000 > $(BENCH_DIR)/findings.csv
	DATABASE_URL=sqlite:///$(BENCH_DIR)/db.sqlite3 $(PY) manage.py migrate --noinput -v0
	@echo "== First import (creates 10,000 findings and their plans)"
	time DATABASE_URL=sqlite:///$(BENCH_DIR)/db.sqlite3 $(PY) manage.py import_findings $(BENCH_DIR)/findings.csv \
	  --create-organisations --publish | tail -n 3
	@echo "== Same file again (changes nothing)"
	time DATABASE_URL=sqlite:///$(BENCH_DIR)/db.sqlite3 $(PY) manage.py import_findings $(BENCH_DIR)/findings.csv | tail -n 3

# Two gunicorn instances, one throwaway PostgreSQL database, 50 clients for 60 s (docs/SECURITY.md).
LOADCHECK_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/tracker_loadcheck
loadcheck: install
	$(PY) scripts/two_servers.py --clients 50 --duration 60 --database-url $(LOADCHECK_DATABASE_URL) $(LOADCHECK_ARGS)

# wapiti and sqlmap against a throwaway copy on loopback. The scanners live in their own virtualenv so
# that their many dependencies never meet the application's pins.
SCAN_VENV ?= .venv-scan
SCAN_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/tracker_scan
$(SCAN_VENV)/.installed: requirements-scan.txt
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found; pass PYTHON=/path/to/python3.12"; exit 1; }
	@test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install -q -U pip
	$(SCAN_VENV)/bin/python -m pip install -q -r requirements-scan.txt
	@touch $@

scan: install $(SCAN_VENV)/.installed
	$(PY) scripts/scan.py --tools $(SCAN_VENV)/bin --database-url $(SCAN_DATABASE_URL) $(SCAN_ARGS)

clean:
	rm -rf $(VENV) $(SCAN_VENV) $(CLIENT_VENV) build staticfiles scan-results node_modules
