# algohost — one command surface for people and CI. `make help` lists it.

CARGO_TARGET_DIR ?= $(HOME)/.cache/algohost/target
export CARGO_TARGET_DIR
# Dylib plugins built by this repo are collected here for `make run`.
PLUGIN_DIR := $(CARGO_TARGET_DIR)/algohost-plugins
DEMO_DATA ?= demo-data
ALGOHOST := $(CARGO_TARGET_DIR)/debug/algohost
SO := $(if $(filter Darwin,$(shell uname -s)),dylib,so)

.DEFAULT_GOAL := help
.PHONY: help build plugins python run tour test bench lint fmt clean

# The project virtualenv: the algohost package (pip install ./sdk-python,
# a dev-profile build into the same target directory) and the Python plugins.
VENV := .venv
VENV_PY := $(VENV)/bin/python
export MATURIN_PEP517_ARGS ?= --profile dev
PY_SOURCES := $(shell find sdk-python/src sdk-python/python host/src sdk-rust/src plugins/price-arbitrage/src plugins/naive-forecast/src examples/python-plugin/load_above_threshold tests/fixtures/python -name '*.py' -o -name '*.rs' -o -name '*.pyi' 2>/dev/null) \
	sdk-python/pyproject.toml plugins/price-arbitrage/pyproject.toml plugins/naive-forecast/pyproject.toml \
	examples/python-plugin/pyproject.toml tests/fixtures/python/pyproject.toml

help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build the CLI and every plugin (dev profile)
	cargo build --workspace --all-targets

plugins: build ## Collect the dylib plugins into the plugin directory
	@mkdir -p $(PLUGIN_DIR)
	@cp $(CARGO_TARGET_DIR)/debug/libalgohost_plugin_peak_shaving.$(SO) $(PLUGIN_DIR)/

$(DEMO_DATA)/catalog.json: | build
	$(ALGOHOST) demo-data $(DEMO_DATA)

$(VENV)/.installed: $(PY_SOURCES)
	@test -x $(VENV_PY) || { ./scripts/ensure-test-deps.sh python && python3 -m venv $(VENV); }
	$(VENV_PY) -m pip install --quiet --upgrade pip
	$(VENV_PY) -m pip install --quiet './sdk-python[test]'
	$(VENV_PY) -m pip install --quiet ./plugins/price-arbitrage ./plugins/naive-forecast ./examples/python-plugin ./tests/fixtures/python
	@touch $@

python: $(VENV)/.installed ## Install the algohost package and the Python plugins into .venv

run: python plugins $(DEMO_DATA)/catalog.json ## Build, install the Python package and plugins into .venv, make the demo data if absent, serve it on http://127.0.0.1:8000
	@mkdir -p .algohost
	VIRTUAL_ENV=$(CURDIR)/$(VENV) ALGOHOST_PLUGIN_PATH=$(PLUGIN_DIR) $(ALGOHOST) serve --data $(DEMO_DATA) --store .algohost/runs.db

tour: python plugins $(DEMO_DATA)/catalog.json ## The command-line tour: list, describe, validate, run
	@VIRTUAL_ENV=$(CURDIR)/$(VENV) ALGOHOST=$(ALGOHOST) ALGOHOST_PLUGIN_PATH=$(PLUGIN_DIR) DEMO_DATA=$(DEMO_DATA) ./scripts/tour.sh

test: ## Run every test (what CI runs); installs PostgreSQL, curl and python3-venv when missing
	./scripts/ensure-test-deps.sh
	$(MAKE) python
	$(MAKE) build
	cargo test --workspace --doc
	./scripts/test-python.sh $(VENV)
	ALGOHOST_TEST_VENV=$(CURDIR)/$(VENV) cargo nextest run --workspace --no-fail-fast

bench: ## Benchmarks (release builds); table in benches/results.md
	./benches/run.sh

lint: ## clippy (warnings are errors) and rustfmt check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo fmt --all --check

fmt: ## Format the code
	cargo fmt --all

clean: ## Remove the demo data and outputs (keeps the build cache)
	rm -rf $(DEMO_DATA) out
