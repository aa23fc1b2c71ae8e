#!/usr/bin/env bash
# `make bench`: release builds, criterion micro-benchmarks, the HTTP load
# benchmark (algohost vs a bare axum handler vs FastAPI on uvicorn), the
# PostgreSQL adapter on 10M samples (vs raw binary COPY and pandas), the
# Python per-call overhead and frame hand-off, then one
# table (figure, ours, baseline measured in the same run, ratio, target, met)
# printed and written to benches/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=$HOME/.cache/algohost/target}"
export CARGO_TARGET_DIR
rm -rf "$CARGO_TARGET_DIR/criterion"
# The dylib benchmark loads a release build of the fixture plugin.
cargo build --release -p algohost-fixture-echo
CRITERION_ARGS=(--noplot --warm-up-time 1 --measurement-time 3)
cargo bench -p algohost --bench dispatch -- "${CRITERION_ARGS[@]}"

# HTTP: the FastAPI baseline runs on uvicorn from a venv in the target dir,
# with as many workers as algohost has CPUs (ALGOHOST_BENCH_UVICORN_WORKERS
# overrides); if it cannot be installed or started its rows say "missing".
HTTP_OUT="$CARGO_TARGET_DIR/bench-http.json"
VENV="$CARGO_TARGET_DIR/bench-venv"
UVICORN_WORKERS="${ALGOHOST_BENCH_UVICORN_WORKERS:-$(nproc)}"
rm -f "$HTTP_OUT"
cargo bench -p algohost --bench http --no-run
uvicorn_pid=""
stop_uvicorn() {
    if [[ -n "$uvicorn_pid" ]]; then
        kill "$uvicorn_pid" 2>/dev/null || true
        wait "$uvicorn_pid" 2>/dev/null || true
        uvicorn_pid=""
    fi
}
trap stop_uvicorn EXIT
# Sets fastapi_url, or fastapi_missing to the reason.
fastapi_url=""
fastapi_missing=""
start_fastapi() {
    if [[ ! -x "$VENV/bin/python" ]] && ! python3 -m venv "$VENV"; then
        fastapi_missing="cannot create a venv with python3 -m venv"
        return
    fi
    if ! "$VENV/bin/python" -m pip install --quiet -r benches/requirements-fastapi.txt; then
        fastapi_missing="pip could not install benches/requirements-fastapi.txt"
        return
    fi
    local port
    port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$VENV/bin/python" -m uvicorn --app-dir benches fastapi_app:app --host 127.0.0.1 --port "$port" \
        --workers "$UVICORN_WORKERS" --no-access-log --log-level warning &
    uvicorn_pid=$!
    # Ready when it answers (405 to a GET is an answer).
    for _ in $(seq 100); do
        if "$VENV/bin/python" - "$port" 2>/dev/null <<'PY'
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/runs", timeout=1)
except urllib.error.HTTPError:
    sys.exit(0)
except OSError:
    sys.exit(1)
PY
        then
            fastapi_url="http://127.0.0.1:$port"
            return
        fi
        sleep 0.2
    done
    fastapi_missing="uvicorn did not answer on port $port within 20 s"
}
start_fastapi
if [[ -n "$fastapi_url" ]]; then
    versions=$("$VENV/bin/python" -c 'import fastapi, uvicorn; print(f"fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}")')
    export ALGOHOST_BENCH_FASTAPI_URL="$fastapi_url"
    export ALGOHOST_BENCH_FASTAPI_SERVER="$versions, $UVICORN_WORKERS worker(s), sync endpoint"
else
    echo "FastAPI baseline missing: $fastapi_missing" >&2
    export ALGOHOST_BENCH_FASTAPI_MISSING="$fastapi_missing"
fi
ALGOHOST_BENCH_HTTP_OUT="$HTTP_OUT" cargo bench -p algohost --bench http
stop_uvicorn

# PostgreSQL: the benchmark starts its own server (the tests' pg_server);
# the pandas baseline runs in the venv above. If pandas cannot be installed
# its row says "missing"; if the benchmark fails, its rows say "missing",
# the report is still written, and make bench fails.
PG_OUT="$CARGO_TARGET_DIR/bench-postgres.json"
rm -f "$PG_OUT"
if [[ ! -x "$VENV/bin/python" ]] && ! python3 -m venv "$VENV"; then
    export ALGOHOST_BENCH_PANDAS_MISSING="cannot create a venv with python3 -m venv"
elif ! "$VENV/bin/python" -m pip install --quiet -r benches/requirements-pandas.txt; then
    export ALGOHOST_BENCH_PANDAS_MISSING="pip could not install benches/requirements-pandas.txt"
else
    export ALGOHOST_BENCH_PYTHON="$VENV/bin/python"
fi
pg_status=0
ALGOHOST_BENCH_POSTGRES_OUT="$PG_OUT" cargo bench -p algohost --bench postgres || pg_status=$?

# Python: a release build of the algohost package in a venv of its own;
# if it cannot be built its rows say "missing" and make bench fails.
PY_OUT="$CARGO_TARGET_DIR/bench-python.json"
PY_VENV="$CARGO_TARGET_DIR/bench-py-venv"
rm -f "$PY_OUT"
py_status=0
{
    { [[ -x "$PY_VENV/bin/python" ]] || python3 -m venv "$PY_VENV"; } &&
    MATURIN_PEP517_ARGS="--profile release" "$PY_VENV/bin/python" -m pip install --quiet ./sdk-python &&
    "$PY_VENV/bin/python" benches/python_overhead.py "$PY_OUT"
} || py_status=$?

python3 benches/report.py "$CARGO_TARGET_DIR/criterion" benches/results.md "$HTTP_OUT" "$PG_OUT" "$PY_OUT"
[[ "$pg_status" == 0 ]] || exit "$pg_status"
exit "$py_status"
