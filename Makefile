# The README's two commands: `make demo` (the main job) and `make test` (the whole suite).
# Both set up everything they need on a fresh machine: the virtualenv, the Python packages,
# and (through `hub stack up`) Kafka's jars from Maven Central and Debian's ClickHouse and
# Prometheus packages.

VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: demo test lint setup clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Tools the tests use besides the stack: Debian's docker-compose validates docker/compose.yaml.
.test-tools:
	@command -v docker-compose >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; \
	  else echo "install Debian's docker-compose: sudo apt-get install -y docker-compose"; exit 1; fi; }

setup: $(BIN)/.installed

demo: setup
	$(BIN)/hub demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup .test-tools lint
	$(BIN)/pytest -ra

clean:
	-$(BIN)/hub stack down
	rm -rf $(VENV) .hub
