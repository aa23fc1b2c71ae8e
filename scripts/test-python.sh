#!/usr/bin/env bash
# The Python side of `make test`: the package's pytest suite, mypy --strict
# and stubtest on the package, then each Python plugin's own tests.
# Usage: scripts/test-python.sh VENV
set -euo pipefail
venv=$(cd "${1:-.venv}" && pwd)
py="$venv/bin/python"
cd "$(dirname "$0")/.."
export ALGOHOST_BIN="${CARGO_TARGET_DIR:-$HOME/.cache/algohost/target}/debug/algohost"

echo "== pytest sdk-python"
(cd sdk-python && "$py" -m pytest -q -p no:cacheprovider)
echo "== mypy --strict sdk-python"
(cd sdk-python && "$py" -m mypy --strict python/algohost tests)
echo "== stubtest algohost._native"
(cd /tmp && "$py" -m mypy.stubtest algohost._native --allowlist "$OLDPWD/sdk-python/stubtest-allowlist.txt")
# The plugins test without pytest-asyncio (only the package's suite needs
# it, and it is in the same venv).
for plugin in plugins/price-arbitrage plugins/naive-forecast examples/python-plugin; do
    echo "== pytest $plugin"
    (cd "$plugin" && "$py" -m pytest -q -p no:cacheprovider -p no:asyncio)
done
