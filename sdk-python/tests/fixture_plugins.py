"""Python algorithms for the tests, registered by ``conftest.py`` as entry
points of a fake distribution (``algohost-test-plugins``).

Tests hand frames and signals to them through module globals (``HANDOFF``,
``EVENTS``, ``SEEN``), since a run's only input is its JSON params.
"""

from __future__ import annotations

import datetime
import logging
import sys
import threading
import time
from typing import Any

import algohost
import polars as pl
import pydantic

HANDOFF: dict[str, Any] = {}
"""``HANDOFF["frame"]`` is what ``handoff`` returns; ``handoff`` stores the
context-independent things it saw under ``HANDOFF["seen"]``."""

EVENTS: dict[str, threading.Event] = {
    "started": threading.Event(),
    "stopped": threading.Event(),
}
"""Set by ``polls_cancel`` when it starts and when ``ctx.check()`` raises."""

SEEN: dict[str, Any] = {}
"""What ``polls_cancel`` caught from ``ctx.check()`` (``"stopped"``) and what
``ctx.is_cancelled()`` said then."""

ENTRY_POINTS = [
    "echo",
    "model_params",
    "schema_params",
    "handoff",
    "frames_out",
    "raises",
    "exits",
    "interrupts",
    "bad_return",
    "polls_cancel",
    "ignores_cancel",
    "logs",
    "context_info",
    "reads",
    "writes",
]
"""Algorithm names; each is declared as ``name = fixture_plugins:name``."""

log = logging.getLogger(__name__)


@algohost.algorithm(version="1.0.0", idempotent=True)
def echo(
    ctx: algohost.Context, limit_kw: float, efficiency: float = 0.95
) -> dict[str, Any]:
    """Returns its params and what it knows about its context."""
    return {
        "limit_kw": limit_kw,
        "efficiency": efficiency,
        "is_context": isinstance(ctx, algohost.Context),
        "run_id": ctx.run_id,
        "algorithm": ctx.algorithm,
    }


class Battery(pydantic.BaseModel):
    """A battery."""

    capacity_kwh: float = pydantic.Field(gt=0)
    efficiency: float = 0.9


class ModelParams(pydantic.BaseModel):
    """Params as a pydantic model."""

    limit_kw: float
    battery: Battery


@algohost.algorithm
def model_params(ctx: algohost.Context, params: ModelParams) -> dict[str, Any]:
    """Reports the type of params it got."""
    return {"type": type(params).__name__, "capacity_kwh": params.battery.capacity_kwh}


@algohost.algorithm(
    params={
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 1}},
        "required": ["n"],
        "additionalProperties": False,
    }
)
def schema_params(ctx: algohost.Context, params: dict[str, Any]) -> dict[str, Any]:
    """Params as a JSON Schema dict."""
    return {"type": type(params).__name__, "n": params["n"]}


@algohost.algorithm
def handoff(ctx: algohost.Context) -> Any:
    """Returns ``HANDOFF["frame"]`` as it is."""
    return HANDOFF["frame"]


@algohost.algorithm(outputs=["numbers: x", "letters: y"])
def frames_out(ctx: algohost.Context, rows: int = 3) -> algohost.Output:
    """Two frames and a summary."""
    return algohost.Output(
        summary={"rows": rows},
        frames={
            "numbers": pl.DataFrame({"x": [float(i) for i in range(rows)]}),
            "letters": pl.DataFrame({"y": ["abc"[i % 3] for i in range(rows)]}),
        },
    )


@algohost.algorithm
def raises(ctx: algohost.Context) -> None:
    """Raises a ValueError."""
    raise ValueError("boom from plugin")


@algohost.algorithm
def exits(ctx: algohost.Context) -> None:
    """Calls sys.exit()."""
    sys.exit(3)


@algohost.algorithm
def interrupts(ctx: algohost.Context) -> None:
    """Raises KeyboardInterrupt."""
    raise KeyboardInterrupt


@algohost.algorithm
def bad_return(ctx: algohost.Context) -> Any:
    """Returns something that is not an output."""
    return 42


@algohost.algorithm
def polls_cancel(ctx: algohost.Context, seconds: float = 30.0) -> dict[str, Any]:
    """Calls ``ctx.check()`` every 10 ms for up to ``seconds``."""
    EVENTS["started"].set()
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            ctx.check()
            time.sleep(0.01)
    except (algohost.Cancelled, algohost.TimedOut) as e:
        SEEN["stopped"] = e
        SEEN["is_cancelled"] = ctx.is_cancelled()
        EVENTS["stopped"].set()
        raise
    return {"finished": True}


@algohost.algorithm
def ignores_cancel(ctx: algohost.Context, seconds: float = 2.0) -> dict[str, Any]:
    """Sleeps ``seconds`` without looking at cancellation."""
    time.sleep(seconds)
    return {"slept": seconds}


@algohost.algorithm
def logs(ctx: algohost.Context) -> dict[str, Any]:
    """Logs through ``ctx.log`` and ``logging`` and reports progress."""
    ctx.progress(0.25, "a quarter")
    ctx.log.info("info through ctx.log")
    ctx.log.debug("debug through ctx.log")
    log.warning("warning through logging: %d", 42)
    ctx.progress(0.5, "half")
    ctx.progress(0.3, "going back is ignored")
    return {"done": True}


@algohost.algorithm
def context_info(ctx: algohost.Context) -> dict[str, Any]:
    """What the context says about the run."""
    deadline = ctx.deadline
    ctx.check()
    return {
        "run_id": ctx.run_id,
        "algorithm": ctx.algorithm,
        "deadline": deadline.isoformat() if deadline is not None else None,
        "deadline_is_aware": deadline is not None and deadline.tzinfo is not None,
        "is_cancelled": ctx.is_cancelled(),
        "check": "passed",
        "log_name": ctx.log.name,
    }


@algohost.algorithm(outputs=["wide", "long"])
def reads(ctx: algohost.Context, names: list[str]) -> algohost.Output:
    """Reads data points in wide and long form."""
    points = ctx.data_points(algohost.DataPointFilter(names=names))
    filt = algohost.DataPointFilter(names=names)
    return algohost.Output(
        summary={
            "points": [p.name for p in points],
            "all": [p.name for p in ctx.data_points()],
        },
        frames={"wide": ctx.read(filt), "long": ctx.read_long(filt)},
    )


@algohost.algorithm
def writes(ctx: algohost.Context, name: str, values: list[float]) -> algohost.Output:
    """Defines a power data point, writes ``values`` hourly from 2024-01-01
    (wide form) and reads them back."""
    [point] = ctx.define_data_points(
        [algohost.DataPointConfig(name, "kW", "power", "PT1H", tags={"test": "writes"})]
    )
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    ts = [start + datetime.timedelta(hours=i) for i in range(len(values))]
    frame = pl.DataFrame(
        {"ts": ts, name: values},
        schema={"ts": pl.Datetime("us", "UTC"), name: pl.Float64},
    )
    ctx.write(frame)
    back = ctx.read(algohost.DataPointFilter(names=[name]))
    return algohost.Output(summary={"id": point.id.value}, frames={"back": back})
