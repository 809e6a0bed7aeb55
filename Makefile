# Patron: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo serve test check lint bench clean

$(BIN)/patron: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/patron

install: $(BIN)/patron  ## create .venv and install Patron with its dev tools

demo: install  ## embedded PostgreSQL, a demo program, the API on http://127.0.0.1:8000
	$(BIN)/patron demo

serve: install
	$(BIN)/patron serve

lint: install  ## ruff and mypy
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: install lint  ## ruff, mypy and the whole test suite
	$(BIN)/pytest

$(VENV)/.bench: pyproject.toml $(BIN)/patron
	$(BIN)/pip install -q -e '.[bench]'
	touch $@

bench: install $(VENV)/.bench  ## the checkout benchmark against a served Patron (see BENCHMARKS.md)
	$(BIN)/python bench/checkout.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
