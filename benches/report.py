"""Turn criterion's estimates into the benchmark table of `make bench`.

Each figure is ours beside a baseline measured in the same run, as a ratio,
with its target and whether it is met. Printed and written as Markdown.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def median_ns(root: Path, bench_id: str) -> float | None:
    path = root / bench_id / "new" / "estimates.json"
    if not path.exists():
        return None
    return float(json.loads(path.read_text())["median"]["point_estimate"])


def fmt_us(ns: float) -> str:
    return f"{ns / 1000:.3f} µs"


def main() -> int:
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    rows: list[tuple[str, str, str, str, str, str]] = []

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
        "builtin: full runner (own thread, logging scope) vs direct call",
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

    header = ("figure", "ours", "baseline", "ratio", "target", "met")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    table = "\n".join(lines)
    print(table)
    out.write_text("# Benchmark results\n\nWritten by `make bench`; medians from criterion.\n\n" + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
