"""Python figures of `make bench`: the per-call overhead of a trivial Python
algorithm run through the host (validation, runner, context, GIL hand-over)
vs calling the same function directly; and the frame hand-off of a run's
output from Python into the host and back (1k vs 10M rows, 1 vs 8 columns)
vs an Arrow IPC round trip of the same frame.

Runs in a venv with a release build of the algohost package. Writes JSON.
Usage: python_overhead.py OUT.json
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import polars as pl

MODULE = '''
import algohost

FRAMES = {}

@algohost.algorithm(version="1.0.0")
def bench_trivial(ctx, x: int = 1):
    """Returns its param."""
    return {"x": x}

@algohost.algorithm(version="1.0.0")
def bench_frame(ctx, key: str):
    """Returns a prepared frame."""
    return FRAMES[key]
'''


def register() -> None:
    """Puts the bench algorithms on sys.path as an installed distribution
    (an entry point of group algohost.algorithms), before the first Host."""
    root = Path(tempfile.mkdtemp(prefix="algohost-bench-"))
    (root / "algohost_bench_plugins.py").write_text(MODULE)
    info = root / "algohost_bench_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: algohost-bench-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[algohost.algorithms]\n"
        "bench_trivial = algohost_bench_plugins:bench_trivial\n"
        "bench_frame = algohost_bench_plugins:bench_frame\n"
    )
    sys.path.insert(0, str(root))


def median_s(f: Callable[[], object], *, repeat: int, number: int) -> float:
    """Median over `repeat` rounds of the mean time of `number` calls."""
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            f()
        rounds.append((time.perf_counter() - start) / number)
    return statistics.median(rounds)


def main() -> int:
    out = Path(sys.argv[1])
    register()
    import algohost
    import algohost_bench_plugins as plugins  # type: ignore[import-not-found]

    host = algohost.Host()
    figures: dict[str, Any] = {"versions": f"algohost {algohost.version()}, polars {pl.__version__}"}

    direct = median_s(lambda: plugins.bench_trivial(None, x=1), repeat=7, number=20_000)
    through = median_s(lambda: host.run("bench_trivial", {"x": 1}), repeat=7, number=2_000)
    run = host.run("bench_trivial", {"x": 1})
    assert run.status == "succeeded" and run.summary == {"x": 1}, run.to_dict()
    figures["call"] = {"host_s": through, "direct_s": direct}

    handoff: dict[str, Any] = {}
    for cols in (1, 8):
        for rows in (1_000, 10_000_000):
            key = f"{cols}c_{rows}r"
            frame = pl.DataFrame({f"c{i}": pl.int_range(0, rows, eager=True).cast(pl.Float64) for i in range(cols)})
            plugins.FRAMES[key] = frame

            def hand_off(key: str = key) -> pl.DataFrame:
                return host.run("bench_frame", {"key": key}).frames["result"]

            back = hand_off()
            assert back.shape == frame.shape, (back.shape, frame.shape)

            def ipc(frame: pl.DataFrame = frame) -> pl.DataFrame:
                buffer = io.BytesIO()
                frame.write_ipc_stream(buffer)
                buffer.seek(0)
                return pl.read_ipc_stream(buffer)

            number = 50 if rows == 1_000 else 3
            handoff[key] = {
                "host_s": median_s(hand_off, repeat=5, number=number),
                "ipc_s": median_s(ipc, repeat=5, number=number),
            }
            del plugins.FRAMES[key]
    figures["handoff"] = handoff
    out.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
