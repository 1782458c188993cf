# The two commands (see README.md):
#   make run    set up .venv and run a node on the embedded defaults (SQLite and files in ./data)
#   make test   set up .venv and run the whole test suite (SQLite, then the store suite on PostgreSQL)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= ./data
# A non-root user cannot bind ports below 1024: shift them by 10000 (25 -> 10025), as README explains.
PORT_OFFSET ?= $(shell [ "$$(id -u)" = 0 ] && echo 0 || echo 10000)
# PostgreSQL for the store suite; CI sets REQUIRE_PG=1 so a missing server fails instead of skipping.
PG_URL ?= postgresql://127.0.0.1:5432/test
REQUIRE_PG ?= 0
PYTEST_ARGS ?=

.PHONY: run test lint typecheck test-sqlite test-postgresql clean

$(BIN)/polyport: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/polyport

run: $(BIN)/polyport
	$(BIN)/polyport serve --data $(DATA) --port-offset $(PORT_OFFSET)

lint: $(BIN)/polyport
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test-sqlite: $(BIN)/polyport
	POLYPORT_TEST_STORE=sqlite $(BIN)/pytest -n auto -q $(PYTEST_ARGS)

test-postgresql: $(BIN)/polyport
	POLYPORT_TEST_STORE=postgresql POLYPORT_TEST_PG_URL=$(PG_URL) POLYPORT_REQUIRE_PG=$(REQUIRE_PG) \
		$(BIN)/pytest -n auto -q -m store $(PYTEST_ARGS)

test: lint test-sqlite test-postgresql

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
