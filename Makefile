# The README's two commands: `make demo` (the main job) and `make test` (the whole suite).
# Both set up everything they need on a fresh machine: the virtualenv and the Python
# packages here, then (through `hub stack up`) Kafka's jars from Maven Central and Debian's
# clickhouse-server and prometheus packages.

VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: demo test lint setup setup-dev clean .test-tools

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The hub itself (what `make demo` needs).
$(BIN)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# Plus the test and lint tools (pytest, ruff, mypy, chDB).
$(BIN)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(BIN)/.installed

setup: $(BIN)/.installed
setup-dev: $(BIN)/.installed-dev

# Debian's docker-compose validates docker/compose.yaml in the tests.
.test-tools:
	@command -v docker-compose >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; \
	  else echo "install Debian's docker-compose: sudo apt-get install -y docker-compose"; exit 1; fi; }

demo: setup
	$(BIN)/hub demo

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup-dev .test-tools lint
	$(BIN)/pytest -ra

clean:
	-$(BIN)/hub stack down
	rm -rf $(VENV) .hub
