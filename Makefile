# Recommendation Tracker: `make run` serves the demo, `make test` runs the whole suite.
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

.PHONY: install run test test-fast lint format migrations-check bench bench-import scan e2e-deps clean

$(VENV)/.installed: requirements.txt requirements-dev.txt build-constraints.txt
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found; install one or pass PYTHON=/path/to/python3.12"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip
	$(PIP) install -q --build-constraint build-constraints.txt -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed

run: install
	$(PY) manage.py migrate --noinput
	DEMO_PASSWORD=$(DEMO_PASSWORD) $(PY) manage.py seed_demo
	$(PY) manage.py runserver 127.0.0.1:8000

test: install
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: install
	$(PY) manage.py makemigrations --check --dry-run

# Time the findings import: 10,000 findings into an empty SQLite database, then the same file again.
BENCH_DIR ?= /tmp/rt-bench-import
bench-import: install
	rm -rf $(BENCH_DIR) && mkdir -p $(BENCH_DIR)
	$(PY) -m tracker.imports.bench 10000 > $(BENCH_DIR)/findings.csv
	DATABASE_URL=sqlite:///$(BENCH_DIR)/db.sqlite3 $(PY) manage.py migrate --noinput -v0
	@echo "== First import (creates 10,000 findings and their plans)"
	time DATABASE_URL=sqlite:///$(BENCH_DIR)/db.sqlite3 $(PY) manage.py import_findings $(BENCH_DIR)/findings.csv \
	  --create-organisations --publish | tail -n 3
	@echo "== Same file again (changes nothing)"
	time DATABASE_URL=sqlite:///$(BENCH_DIR)/db.sqlite3 $(PY) manage.py import_findings $(BENCH_DIR)/findings.csv | tail -n 3

clean:
	rm -rf $(VENV) staticfiles
