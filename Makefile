# The two commands in the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
PORT ?= 8501

.PHONY: run test lint unit e2e bench load emulator chromium clean

# Debian's python3 needs python3-venv for `-m venv`; install it when we can (CI runs as root).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { [ "$$(id -u)" = "0" ] && rm -rf $(VENV) && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install only when the dependency lists change, so repeat runs are quick.
$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt pyproject.toml
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT)

# Debian's Chromium for the browser tests; installed only when missing.
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Browser tests need $(CHROMIUM): run 'sudo apt-get install chromium'" >&2; exit 1; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) chromium lint
	CREDITLENS_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -q

unit: $(STAMP)
	$(BIN)/python -m pytest -q -m "not e2e"

e2e: $(STAMP) chromium
	CREDITLENS_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -q -m e2e

# Both benchmarks write their own section of docs/performance.md: scaling (bench.py), then the usage archive.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/archive.py

# A bounded load run (25 browser sessions at once on the Leaderboard; takes minutes): its own section of the page.
load: $(STAMP) chromium
	CREDITLENS_CHROMIUM=$(CHROMIUM) $(BIN)/python benchmarks/load.py

emulator: $(STAMP)
	$(BIN)/creditlens emulator

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis test-artifacts
