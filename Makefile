# Every target sets up .venv first, so `make serve` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install web serve test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# llama-cpp-python compiles llama.cpp (4-7 minutes on 2 cores) the first time; pip caches the wheel.
# On x86-64 it is built without llama.cpp's AMX kernels: -march=native turns them on for a Xeon
# with AMX, where they crash with SIGILL (llama.cpp PR #26954). The bench's llama-server too.
ifeq ($(shell uname -m),x86_64)
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
endif
# It is built from its sdist with the patches in patches/llama-cpp-python (faster attention over
# one KV cache shared by all slots; docs/scheduler.md), once per machine: the wheel is cached.
LLAMA_CPP := $(shell sed -n 's/.*"llama-cpp-python==\([^";]*\)".*/\1/p' pyproject.toml)
LLAMA_PATCHES := $(wildcard patches/llama-cpp-python/*)
$(STAMP): pyproject.toml $(LLAMA_PATCHES) | $(BIN)/python
	export CFLAGS="$(NO_AMX) $(CFLAGS)" CXXFLAGS="$(NO_AMX) $(CXXFLAGS)"; \
	wheel=$$($(BIN)/python patches/llama-cpp-python/build_wheel.py $(LLAMA_CPP)) && \
	$(BIN)/pip install --quiet --no-deps --force-reinstall "$$wheel" && \
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/impetus setup
	touch $(STAMP)

# The web dashboard (web/, React + Vite) builds into the package, which serves it and ships it
# in the wheel. Rebuilt only when its sources change; `npm ci` only when the lock file does.
WEB_UI  := src/impetus/static/index.html
WEB_SRC := $(shell find web/src web/public -type f 2>/dev/null) \
           web/index.html web/package.json web/vite.config.ts web/tsconfig.json
WEB_NPM := web/node_modules/.package-lock.json

$(WEB_NPM): web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

$(WEB_UI): $(WEB_SRC) $(WEB_NPM)
	cd web && npm run --silent build

web: $(WEB_UI)

install: $(STAMP) web

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
	rm -rf $(VENV) build dist web/node_modules src/impetus/static
