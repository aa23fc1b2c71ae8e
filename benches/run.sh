#!/usr/bin/env bash
# `make bench`: release builds, criterion micro-benchmarks, then one table
# (figure, ours, baseline measured in the same run, ratio, target, met) printed
# and written to benches/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=$HOME/.cache/algohost/target}"
export CARGO_TARGET_DIR
rm -rf "$CARGO_TARGET_DIR/criterion"
# The dylib benchmark loads a release build of the fixture plugin.
cargo build --release -p algohost-fixture-echo
CRITERION_ARGS=(--noplot --warm-up-time 1 --measurement-time 3)
cargo bench -p algohost --bench dispatch -- "${CRITERION_ARGS[@]}"
python3 benches/report.py "$CARGO_TARGET_DIR/criterion" benches/results.md
