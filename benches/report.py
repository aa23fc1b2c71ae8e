"""Turn criterion's estimates and the HTTP load figures into the benchmark
table of `make bench`.

Each figure is ours beside a baseline measured in the same run, as a ratio,
with its target and whether it is met. Printed and written as Markdown.
Usage: report.py CRITERION_DIR OUT.md [HTTP_JSON [POSTGRES_JSON [PYTHON_JSON]]]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

Row = tuple[str, str, str, str, str, str]


def median_ns(root: Path, bench_id: str) -> float | None:
    path = root / bench_id / "new" / "estimates.json"
    if not path.exists():
        return None
    return float(json.loads(path.read_text())["median"]["point_estimate"])


def fmt_us(ns: float) -> str:
    return f"{ns / 1000:.3f} µs"


def fmt_ms(us: float) -> str:
    return f"{us / 1000:.2f} ms"


def http_rows(path: Path | None) -> tuple[list[Row], str]:
    """Throughput and latency of algohost vs the bare axum handler and vs
    FastAPI, from the JSON `host/benches/http.rs` writes; and a note on the load."""
    figures: dict[str, Any] = {}
    if path is not None and path.exists():
        figures = json.loads(path.read_text())
    targets: dict[str, dict[str, Any]] = figures.get("targets", {})
    ours = targets.get("algohost")
    rows: list[Row] = []

    def missing(side: dict[str, Any] | None) -> str:
        return "missing" + (f" ({side['missing']})" if side and "missing" in side else "")

    def errors(*sides: dict[str, Any]) -> str:
        count = sum(int(side.get("errors", 0)) for side in sides)
        return f", {count} failed requests" if count else ""

    for base_name, label, min_ratio, target in (
        ("axum", "bare axum handler, same work", 0.5, "≥ 50% of baseline"),
        ("fastapi", "FastAPI on uvicorn, same work", 5.0, "≥ 5×"),
    ):
        base = targets.get(base_name)
        a = ours if ours and "runs_per_sec" in ours else None
        b = base if base and "runs_per_sec" in base else None
        figure = f"HTTP runs/s (the most over the client counts): POST /runs (Prefer: wait), trivial builtin vs {label}"
        stats = (
            ("median", f"HTTP median latency at those runs/s vs {label}"),
            ("p99", f"HTTP p99 latency at those runs/s vs {label}"),
        )
        if a is None or b is None:
            ours_text = f"{a['runs_per_sec']:.0f}/s" if a else missing(ours)
            base_text = f"{b['runs_per_sec']:.0f}/s" if b else missing(base)
            rows.append((figure, ours_text, base_text, "-", target, "no"))
            for stat, name in stats:
                ours_text = fmt_ms(a[f"{stat}_us"]) if a else missing(ours)
                base_text = fmt_ms(b[f"{stat}_us"]) if b else missing(base)
                rows.append((name, ours_text, base_text, "-", "reported", "-"))
            continue
        ratio = a["runs_per_sec"] / b["runs_per_sec"]
        met = ("yes" if ratio >= min_ratio else "no") + errors(a, b)
        rows.append(
            (
                figure,
                f"{a['runs_per_sec']:.0f}/s ({a.get('clients', '?')} clients)",
                f"{b['runs_per_sec']:.0f}/s ({b.get('clients', '?')} clients)",
                f"{ratio:.2f}",
                target,
                met,
            )
        )
        for count in a.get("by_clients", []):
            same = next((c for c in b.get("by_clients", []) if c["clients"] == count["clients"]), None)
            if same is None:
                continue
            rows.append(
                (
                    f"HTTP runs/s with {count['clients']} clients vs {label}",
                    f"{count['runs_per_sec']:.0f}/s",
                    f"{same['runs_per_sec']:.0f}/s",
                    f"{count['runs_per_sec'] / same['runs_per_sec']:.2f}",
                    "reported",
                    "-",
                )
            )
        for stat, name in stats:
            x, y = a[f"{stat}_us"], b[f"{stat}_us"]
            rows.append((name, fmt_ms(x), fmt_ms(y), f"{x / y:.2f}", "reported", "-"))

    load = figures.get("load")
    note = ""
    if load:
        counts = load["clients"] if isinstance(load["clients"], list) else [load["clients"]]
        note = (
            f"HTTP: {', '.join(map(str, counts))} keep-alive clients on loopback, in turn, up to "
            f"{load['requests']} requests or {load['max_seconds']:g} s per target, count and round "
            f"after {load['warm_up_seconds']:g} s of warm-up, in {load.get('rounds', 1)} round(s) "
            "through every count in which the targets take turns (each count's figures are a "
            "target's median round); "
            "a target's runs/s is the most it sustained over "
            "the counts (algohost batches its store writes, so it needs more requests in flight than "
            "a handler that stores nothing); the servers and clients share this machine."
        )
        fastapi = targets.get("fastapi", {})
        if "server" in fastapi:
            note += f" FastAPI: {fastapi['server']}."
    return rows, note


def postgres_rows(path: Path | None) -> tuple[list[Row], str]:
    """Write and read of the PostgreSQL adapter vs raw binary COPY and vs
    pandas.read_sql, from the JSON `host/benches/postgres.rs` writes; and a
    note on the data and server. Ratios compare throughput (baseline time /
    our time), so higher is better for us."""
    figures: dict[str, Any] = {}
    if path is not None and path.exists():
        figures = json.loads(path.read_text())
    scale = figures.get("scale", {})
    samples = f"{scale['rows'] / 1e6:g}M samples" if "rows" in scale else "samples"

    def fmt(side: dict[str, Any]) -> str:
        seconds = side["median_s"]
        if "rows" not in scale:
            return f"{seconds:.2f} s"
        return f"{seconds:.2f} s ({scale['rows'] / seconds / 1e6:.2f}M/s)"

    def missing(side: dict[str, Any] | None) -> str:
        return "missing" + (f" ({side['missing']})" if side and "missing" in side else "")

    rows: list[Row] = []
    for kind, base_name, label, min_ratio, target in (
        ("write", "raw_copy", "raw binary COPY FROM STDIN, same rows", 0.7, "≥ 70% of raw"),
        ("read", "raw_copy", "raw binary COPY TO STDOUT decoded into Vecs", 0.8, "≥ 80% of raw"),
        ("read", "pandas", "pandas.read_sql (psycopg 3), same query", 10.0, "≥ 10×"),
    ):
        figure = f"PostgreSQL {kind}, {samples}: adapter vs {label}"
        ours = figures.get(kind, {}).get("adapter")
        base = figures.get(kind, {}).get(base_name)
        a = ours if ours and "median_s" in ours else None
        b = base if base and "median_s" in base else None
        if a is None or b is None:
            ours_text = fmt(a) if a else missing(ours)
            base_text = fmt(b) if b else missing(base)
            rows.append((figure, ours_text, base_text, "-", target, "no"))
            continue
        ratio = b["median_s"] / a["median_s"]
        ratio_text = f"{ratio:.2f}×" if min_ratio > 1 else f"{ratio:.0%}"
        rows.append((figure, fmt(a), fmt(b), ratio_text, target, "yes" if ratio >= min_ratio else "no"))

    note = ""
    if scale:
        note = (
            f"PostgreSQL: {figures.get('server', 'the server')} with the tests' settings (fsync off, 32 MB shared buffers), "
            f"on this machine; {scale['points']} data points × {scale['samples_per_point']} quarter-hours; "
            f"medians of {scale['repetitions']} timed runs each, ours and the baseline taking turns, "
            "every write into an empty table. Ratios are throughput: baseline time / our time."
        )
        pandas = figures.get("read", {}).get("pandas", {})
        raw = figures.get("read", {}).get("raw_copy", {})
        if "versions" in pandas:
            note += f" pandas: {pandas['versions']}, a DBAPI connection (faster here than an SQLAlchemy engine)."
        if "median_s" in pandas and "median_s" in raw:
            ceiling = pandas["median_s"] / raw["median_s"]
            note += f" Raw COPY itself reads {ceiling:.1f}× faster than pandas here: the most a COPY-based adapter can reach."
    return rows, note


def python_rows(path: Path | None) -> tuple[list[Row], str]:
    """The Python figures from the JSON `benches/python_overhead.py` writes:
    per-call overhead through the host vs a direct call, and the frame
    hand-off (Python → host → Python) vs an Arrow IPC round trip."""
    figures: dict[str, Any] = {}
    if path is not None and path.exists():
        figures = json.loads(path.read_text())
    rows: list[Row] = []
    call = figures.get("call")
    figure = "Python: trivial algorithm through the host vs direct call"
    if call:
        ours, base = call["host_s"] * 1e9, call["direct_s"] * 1e9
        added = ours - base
        met = "yes" if added < 10_000 else "no"
        rows.append((figure, fmt_us(ours), fmt_us(base), f"{ours / base:.1f}", "< 10 µs added", f"{met} (+{fmt_us(added)})"))
    else:
        rows.append((figure, "missing", "missing", "-", "< 10 µs added", "no"))
    handoff = figures.get("handoff", {})
    for cols in (1, 8):
        small, big = handoff.get(f"{cols}c_1000r"), handoff.get(f"{cols}c_10000000r")
        figure = f"Python frame hand-off, {cols} column(s), 10M rows vs Arrow IPC round trip"
        if big:
            ours, base = big["host_s"] * 1e9, big["ipc_s"] * 1e9
            rows.append((figure, fmt_ms(ours / 1000), fmt_ms(base / 1000), f"{ours / base:.3f}", "below IPC (no copy)", "yes" if ours < base else "no"))
        else:
            rows.append((figure, "missing", "missing", "-", "below IPC (no copy)", "no"))
        figure = f"Python frame hand-off, {cols} column(s): 10M rows vs 1k rows"
        if small and big:
            ours, base = big["host_s"] * 1e9, small["host_s"] * 1e9
            grows = ours - base
            rows.append((figure, fmt_us(ours), fmt_us(base), f"{ours / base:.2f}", "O(columns), not O(rows): < 100 µs more for 10⁴× the rows", f"{'yes' if grows < 100_000 else 'no'} (+{fmt_us(grows)})"))
        else:
            rows.append((figure, "missing", "missing", "-", "O(columns), not O(rows)", "no"))
    note = ""
    if "versions" in figures:
        note = f"Python: {figures['versions']} (release build in the bench venv); each run of the host includes validation, the runner and a GIL hand-over."
    return rows, note


def main() -> int:
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    http_json = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    postgres_json = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    python_json = Path(sys.argv[5]) if len(sys.argv) > 5 else None
    rows: list[Row] = []

    def overhead(figure: str, ours_id: str, base_id: str, limit_ns: float, target: str) -> None:
        ours, base = median_ns(root, ours_id), median_ns(root, base_id)
        if ours is None or base is None:
            rows.append((figure, "missing", "missing", "-", target, "no"))
            return
        added = ours - base
        met = "yes" if added < limit_ns else "no"
        rows.append((figure, fmt_us(ours), fmt_us(base), f"{ours / base:.2f}", target, f"{met} (+{fmt_us(added)})"))

    overhead(
        "builtin: registry lookup + validation + invoke vs direct call",
        "builtin_dispatch", "builtin_direct", 2000, "< 2 µs added",
    )
    overhead(
        "builtin: full runner (pooled thread, logging scope) vs direct call",
        "builtin_runner", "builtin_direct", 100_000, "< 100 µs added",
    )
    overhead(
        "dylib call vs builtin call (trivial algorithm)",
        "dylib_dispatch", "builtin_dispatch", 1000, "< 1 µs added",
    )
    for cols in (1, 8):
        overhead(
            f"dylib frame hand-off, {cols} column(s): 1M rows vs 1k rows",
            f"dylib_frame_{cols}c_1000000r", f"dylib_frame_{cols}c_1000r", 20_000,
            "O(columns), not O(rows): < 20 µs more for 1000× the rows",
        )

    more_rows, http_note = http_rows(http_json)
    rows += more_rows
    more_rows, postgres_note = postgres_rows(postgres_json)
    rows += more_rows
    more_rows, python_note = python_rows(python_json)
    rows += more_rows

    header = ("figure", "ours", "baseline", "ratio", "target", "met")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    table = "\n".join(lines)
    print(table)
    notes = "Written by `make bench`. Micro-benchmarks: medians from criterion."
    if http_note:
        notes += "\n\n" + http_note
        print(http_note)
    for note in (postgres_note, python_note):
        if note:
            notes += "\n\n" + note
            print(note)
    out.write_text("# Benchmark results\n\n" + notes + "\n\n" + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
