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
	@# the portal's charting library (uPlot), pinned by api/portal/package-lock.json
	@if ! command -v npm >/dev/null 2>&1; then \
	    echo "npm not found: portal charts fall back to tables (install Node.js/npm, then make install)"; \
	elif [ ! api/portal/node_modules/.package-lock.json -nt api/portal/package-lock.json ]; then \
	    npm ci --prefix api/portal --no-audit --no-fund --loglevel=error; \
	fi

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
