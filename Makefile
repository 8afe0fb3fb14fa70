# One command per task. `make test` and `make run` work on a fresh machine.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install services test lint bench run clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,lint]"
	touch $(STAMP)

install: $(STAMP)

services: ## PostgreSQL and Mosquitto installed and answering (starts them if down)
	@bash deploy/local/services.sh

test: install services
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install services
	$(PY) -m bench.ingest
	$(PY) -m bench.alerts
	$(PY) -m bench.api

run: install  ## private PostgreSQL and Mosquitto under ./var (server binaries installed if missing)
	@bash deploy/local/services.sh --install-only
	$(VENV)/bin/sourcewatch up

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
