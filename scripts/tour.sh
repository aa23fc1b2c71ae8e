#!/usr/bin/env bash
# The command-line tour of README.md, run by `make tour`: list, describe,
# validate, run (Rust and Python algorithms) — against the demo data.
set -euo pipefail
: "${ALGOHOST:=algohost}" "${DEMO_DATA:=demo-data}"

step() { printf '\n\033[1m$ algohost %s\033[0m\n' "$*"; "$ALGOHOST" "$@"; }

step list
step describe peak_shaving
echo; echo "# invalid params are rejected before any plugin code runs (exit code 2):"
step validate peak_shaving --params '{"limit_kw": -5, "battery": {"capacity_kwh": 100}}' || true
step run peak_shaving --data "$DEMO_DATA" --output out/peak_shaving \
  --params '{"limit_kw": 55, "battery": {"capacity_kwh": 300, "power_kw": 40}}'
step run resample --data "$DEMO_DATA" --output out/resample \
  --params '{"names": ["site.load", "market.day_ahead"], "resolution": "P1D"}'
echo; echo "# Python algorithms (pip packages in .venv) run side by side with the Rust ones:"
step run price_arbitrage --data "$DEMO_DATA" --output out/price_arbitrage \
  --params '{"battery": {"capacity_kwh": 200, "power_kw": 100}}'
step run naive_forecast --data "$DEMO_DATA" --params '{"series": "site.load", "days": 7}'
echo; echo "Output frames are in ./out as Parquet. Next: README.md, 'Write a Python plugin' and 'Write a Rust plugin'."
