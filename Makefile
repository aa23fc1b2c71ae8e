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
# The tests' own one adds the test tools and the fixture plugins (py_fails,
# py_holds_gil, …), which users of .venv should not see.
VENV := .venv
VENV_PY := $(VENV)/bin/python
TEST_VENV := .venv-test
PLUGIN_PACKAGES := ./plugins/price-arbitrage ./plugins/naive-forecast ./examples/python-plugin
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

# $(call venv,DIR,PACKAGE,PLUGINS): a virtualenv in DIR with the algohost
# PACKAGE (with extras) and then the PLUGINS that depend on it.
define venv
	@test -x $(1)/bin/python || { ./scripts/ensure-test-deps.sh python && python3 -m venv $(1); }
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet '$(2)'
	$(1)/bin/python -m pip install --quiet $(3)
	@touch $(1)/.installed
endef

$(VENV)/.installed: $(PY_SOURCES)
	$(call venv,$(VENV),./sdk-python,$(PLUGIN_PACKAGES))

$(TEST_VENV)/.installed: $(PY_SOURCES)
	$(call venv,$(TEST_VENV),./sdk-python[test],$(PLUGIN_PACKAGES) ./tests/fixtures/python)

python: $(VENV)/.installed ## Install the algohost package and the Python plugins into .venv

run: python plugins $(DEMO_DATA)/catalog.json ## Build, install the Python package and plugins into .venv, make the demo data if absent, serve it on http://127.0.0.1:8000
	@mkdir -p .algohost
	VIRTUAL_ENV=$(CURDIR)/$(VENV) ALGOHOST_PLUGIN_PATH=$(PLUGIN_DIR) $(ALGOHOST) serve --data $(DEMO_DATA) --store .algohost/runs.db

tour: python plugins $(DEMO_DATA)/catalog.json ## The command-line tour: list, describe, validate, run
	@VIRTUAL_ENV=$(CURDIR)/$(VENV) ALGOHOST=$(ALGOHOST) ALGOHOST_PLUGIN_PATH=$(PLUGIN_DIR) DEMO_DATA=$(DEMO_DATA) ./scripts/tour.sh

# A test build is a fresh clone's build, not an edit loop: no incremental
# state (gigabytes per clone path in the shared target directory).
test: export CARGO_INCREMENTAL := 0
test: ## Run every test (what CI runs); installs PostgreSQL, curl and python3-venv when missing
	./scripts/ensure-test-deps.sh
	$(MAKE) python $(TEST_VENV)/.installed
	$(MAKE) build
	cargo test --workspace --doc
	./scripts/test-python.sh $(TEST_VENV)
	ALGOHOST_TEST_VENV=$(CURDIR)/$(TEST_VENV) cargo nextest run --workspace --no-fail-fast

bench: ## Benchmarks (release builds); table in benches/results.md
	./benches/run.sh

lint: ## clippy and rustdoc (warnings are errors) and rustfmt check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
	cargo fmt --all --check

fmt: ## Format the code
	cargo fmt --all

clean: ## Remove the demo data and outputs (keeps the build cache)
	rm -rf $(DEMO_DATA) out
