#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries (initdb, pg_ctl) are installed, for
# the tests that start their own server (host/tests/it/pg_server.rs).
# Installs Debian's `postgresql` package with apt-get when they are missing.
# Nothing is started here: each test process starts and stops its own server.
set -euo pipefail

have_server() {
    if [[ -n "${ALGOHOST_PG_BIN:-}" && -x "$ALGOHOST_PG_BIN/initdb" ]]; then
        return 0
    fi
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
    command -v initdb >/dev/null && command -v pg_ctl >/dev/null
}

if have_server; then
    exit 0
fi

if ! command -v apt-get >/dev/null; then
    echo "PostgreSQL's server binaries (initdb, pg_ctl) are missing and apt-get is not available:" >&2
    echo "install PostgreSQL's server package, or set ALGOHOST_PG_BIN to the folder of initdb." >&2
    exit 1
fi

sudo=()
if [[ "$(id -u)" != 0 ]]; then
    if ! command -v sudo >/dev/null; then
        echo "installing postgresql needs root: run 'apt-get install postgresql' as root" >&2
        exit 1
    fi
    sudo=(sudo)
fi

echo "installing PostgreSQL (Debian package postgresql) for the tests" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends postgresql

if ! have_server; then
    echo "postgresql was installed but initdb was not found under /usr/lib/postgresql/*/bin" >&2
    exit 1
fi
