# The verbs people type. The first use creates .venv with the standard library's venv and
# installs the project (with its dev extra) into it; later runs reuse it until pyproject changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-deps lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m bot

test: $(STAMP) test-deps
	$(PY) -m pytest

# The PostgreSQL tests start a throw-away server from the PostgreSQL programs. When they are
# missing, this says so and installs Debian's postgresql package with apt-get (root or
# passwordless sudo only; PG_INSTALL=0 skips it). Without root the PostgreSQL tests are skipped.
test-deps: $(STAMP)
	$(PY) tests/support/pg_install.py

lint: $(STAMP)
	$(PY) -m ruff check bot tests bench
	$(PY) -m ruff format --check bot tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

bench: $(STAMP)
	$(PY) bench/bench.py
