# The README's two commands: `make lab` (set up, open the quickstart) and `make test` (set up, run every test).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
NODE_OK := js/node_modules/.installed
BUNDLE := cnnviz_widgets/static/widget.js
JS_SOURCES := $(shell find js/src -type f) js/build.mjs

.PHONY: setup lab test lint bench chromium clean

setup: $(INSTALLED) $(BUNDLE)

# The editable install skips the package's npm build hook: the $(BUNDLE) rule below builds the bundle (after
# `npm ci`, from the lock file), so the two never run npm in js/ side by side or twice.
$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	SKIP_JUPYTER_BUILDER=1 $(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

$(NODE_OK): js/package.json js/package-lock.json
	cd js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(BUNDLE): $(NODE_OK) $(JS_SOURCES)
	cd js && npm run --silent build

# Debian's Chromium for the real-browser tests (Playwright is pointed at it; it never downloads a browser).
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "Install Chromium first: sudo apt-get install -y chromium" >&2; exit 1; fi; }

lab: setup
	$(BIN)/jupyter lab notebooks/00_quickstart.ipynb --ServerApp.allow_root=True

# Lint and format check (ruff) and type check (mypy) of the Python code; the JS side type-checks in `test`.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup chromium lint
	cd js && npm run --silent typecheck && npm run --silent test
	$(BIN)/python -m pytest

bench: setup chromium
	$(BIN)/python benchmarks/bench_saliency.py
	$(BIN)/python benchmarks/bench_occlusion.py
	cd benchmarks && ../$(BIN)/python bench_featurevis.py
	cd benchmarks && ../$(BIN)/python bench_dream.py
	cd benchmarks && ../$(BIN)/python bench_fooling.py
	cd benchmarks && ../$(BIN)/python bench_style.py
	cd benchmarks && ../$(BIN)/python bench_faststyle.py
	$(BIN)/python benchmarks/bench_replica.py
	$(BIN)/python benchmarks/bench_layers.py
	$(BIN)/python benchmarks/bench_live_frames.py
	$(BIN)/python benchmarks/bench_scan.py

clean:
	rm -rf $(VENV) js/node_modules cnnviz_widgets/static tests/artifacts
