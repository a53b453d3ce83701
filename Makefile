# Every target sets up .venv first, so `make serve` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install serve test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# llama-cpp-python compiles llama.cpp (4-7 minutes on 2 cores) the first time; pip caches the wheel.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/impetus setup
	touch $(STAMP)

install: $(STAMP)

serve: install
	$(BIN)/impetus serve $(ARGS)

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/impetus bench all

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

clean:
	rm -rf $(VENV) build dist
