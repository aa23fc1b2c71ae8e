#!/usr/bin/env bash
# Makes sure what the tests run besides cargo is installed: PostgreSQL's
# server binaries (initdb, pg_ctl) for the tests that start their own server
# (host/tests/it/pg_server.rs), curl for the README's HTTP tour, and
# python3-venv for the project virtualenv (.venv).
# Installs Debian's packages with apt-get when they are missing.
# Nothing is started here: each test process starts and stops its own server.
set -euo pipefail

have_server() {
    if [[ -n "${ALGOHOST_PG_BIN:-}" && -x "$ALGOHOST_PG_BIN/initdb" ]]; then
        return 0
    fi
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
    command -v initdb >/dev/null && command -v pg_ctl >/dev/null
}

# `ensure-test-deps.sh python`: only what the project virtualenv needs.
packages=()
if [[ "${1:-}" != python ]]; then
    have_server || packages+=(postgresql)
    command -v curl >/dev/null || packages+=(curl)
fi
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
if [[ ${#packages[@]} == 0 ]]; then
    exit 0
fi

if ! command -v apt-get >/dev/null; then
    echo "missing for the tests: ${packages[*]}, and apt-get is not available:" >&2
    echo "install them (for PostgreSQL, or set ALGOHOST_PG_BIN to the folder of initdb)." >&2
    exit 1
fi

sudo=()
if [[ "$(id -u)" != 0 ]]; then
    if ! command -v sudo >/dev/null; then
        echo "installing ${packages[*]} needs root: run 'apt-get install ${packages[*]}' as root" >&2
        exit 1
    fi
    sudo=(sudo)
fi

echo "installing ${packages[*]} (Debian packages) for the tests" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"

if ! have_server; then
    echo "postgresql was installed but initdb was not found under /usr/lib/postgresql/*/bin" >&2
    exit 1
fi
