# algohost — one command surface for people and CI. `make help` lists it.

CARGO_TARGET_DIR ?= $(HOME)/.cache/algohost/target
export CARGO_TARGET_DIR
# Dylib plugins built by this repo are collected here for `make run`.
PLUGIN_DIR := $(CARGO_TARGET_DIR)/algohost-plugins
DEMO_DATA ?= demo-data
ALGOHOST := $(CARGO_TARGET_DIR)/debug/algohost
SO := $(if $(filter Darwin,$(shell uname -s)),dylib,so)

.DEFAULT_GOAL := help
.PHONY: help build plugins run tour test bench lint fmt clean

help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build the CLI and every plugin (dev profile)
	cargo build --workspace --all-targets

plugins: build ## Collect the dylib plugins into the plugin directory
	@mkdir -p $(PLUGIN_DIR)
	@cp $(CARGO_TARGET_DIR)/debug/libalgohost_plugin_peak_shaving.$(SO) $(PLUGIN_DIR)/

$(DEMO_DATA)/catalog.json: | build
	$(ALGOHOST) demo-data $(DEMO_DATA)

run: plugins $(DEMO_DATA)/catalog.json ## Build, make the demo data if absent, serve it on http://127.0.0.1:8000
	@mkdir -p .algohost
	ALGOHOST_PLUGIN_PATH=$(PLUGIN_DIR) $(ALGOHOST) serve --data $(DEMO_DATA) --store .algohost/runs.db

tour: plugins $(DEMO_DATA)/catalog.json ## The command-line tour: list, describe, validate, run
	@ALGOHOST=$(ALGOHOST) ALGOHOST_PLUGIN_PATH=$(PLUGIN_DIR) DEMO_DATA=$(DEMO_DATA) ./scripts/tour.sh

test: build ## Run every test (what CI runs); installs PostgreSQL and curl when missing
	./scripts/ensure-test-deps.sh
	cargo test --workspace --doc
	cargo nextest run --workspace --no-fail-fast

bench: ## Benchmarks (release builds); table in benches/results.md
	./benches/run.sh

lint: ## clippy (warnings are errors) and rustfmt check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo fmt --all --check

fmt: ## Format the code
	cargo fmt --all

clean: ## Remove the demo data and outputs (keeps the build cache)
	rm -rf $(DEMO_DATA) out
