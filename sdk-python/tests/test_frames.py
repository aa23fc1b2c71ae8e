"""Frames cross between Python and Rust without copying (Arrow PyCapsule
stream interface): a frame a plugin returns comes back from the run in the
same buffers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import algohost
import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest

ROWS = 10_000_000


def buffer_addresses(frame: Any) -> dict[str, list[int]]:
    """Column name → addresses of its data buffers, read through the
    standard ``__arrow_c_stream__`` interface (which does not copy)."""
    table = pa.table(frame)
    return {
        name: [chunk.buffers()[1].address for chunk in table.column(name).chunks]
        for name in table.column_names
    }


@pytest.fixture(scope="module")
def big_polars() -> pl.DataFrame:
    """10 million rows of Int64 and Float64."""
    return pl.DataFrame(
        {
            "i": np.arange(ROWS, dtype=np.int64),
            "x": np.arange(ROWS, dtype=np.float64) / 2,
        }
    )


def test_a_polars_frame_is_not_copied(
    host: algohost.Host, handoff: dict[str, object], big_polars: pl.DataFrame
) -> None:
    handoff["frame"] = big_polars
    run = host.run("handoff").raise_for_status()
    back = run.frames["result"]
    assert back.height == ROWS
    assert buffer_addresses(back) == buffer_addresses(big_polars)


def test_a_pyarrow_table_is_not_copied(
    host: algohost.Host, handoff: dict[str, object], big_polars: pl.DataFrame
) -> None:
    table = big_polars.to_arrow()
    handoff["frame"] = table
    run = host.run("handoff").raise_for_status()
    back = run.frames["result"]
    assert isinstance(back, pl.DataFrame)
    assert back.height == ROWS
    assert buffer_addresses(back) == buffer_addresses(table)


def test_a_pandas_frame_is_accepted(
    host: algohost.Host, handoff: dict[str, object]
) -> None:
    handoff["frame"] = pd.DataFrame({"a": [1.0, 2.5], "b": ["x", "y"]})
    back = host.run("handoff").raise_for_status().frames["result"]
    assert back.to_dict(as_series=False) == {"a": [1.0, 2.5], "b": ["x", "y"]}


@pytest.mark.parametrize("frame", [pl.DataFrame({"t": [1]}), pa.table({"t": [1]})])
def test_frames_come_back_as_polars(
    host: algohost.Host, handoff: dict[str, object], frame: Mapping[str, Any]
) -> None:
    handoff["frame"] = frame
    back = host.run("handoff").raise_for_status().frames["result"]
    assert isinstance(back, pl.DataFrame)
    assert back["t"].to_list() == [1]


def test_a_series_returned_says_to_return_a_frame(
    host: algohost.Host, handoff: dict[str, object]
) -> None:
    handoff["frame"] = pl.Series("x", [1.0, 2.0])
    run = host.run("handoff")
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["message"] == (
        "TypeError: algorithm `handoff` returned a polars Series; return a DataFrame "
        "(series.to_frame())"
    )


def test_an_output_frame_that_cannot_cross_is_named(
    host: algohost.Host, handoff: dict[str, object]
) -> None:
    handoff["frame"] = pl.DataFrame({"h": [1.5]}, schema={"h": pl.Float16})
    run = host.run("handoff")
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["kind"] == "data"
    assert run.error["message"].startswith(
        "data: output frame 'result': column 'h' is of type Float16, which algohost "
        "frames cannot hold; cast it to one they can"
    )


def test_a_lazy_frame_returned_is_collected(
    host: algohost.Host, handoff: dict[str, object]
) -> None:
    handoff["frame"] = pl.DataFrame({"x": [1, 2]}).lazy().with_columns(y=pl.col("x") * 2)
    back = host.run("handoff").raise_for_status().frames["result"]
    assert back.to_dict(as_series=False) == {"x": [1, 2], "y": [2, 4]}


def test_a_pandas_time_index_is_the_ts_column_and_nan_stays_nan(
    host: algohost.Host, handoff: dict[str, object]
) -> None:
    hours = pd.date_range("2026-03-01", periods=2, freq="h", tz="UTC")
    handoff["frame"] = pd.DataFrame({"kw": [1.0, np.nan]}, index=hours)
    back = host.run("handoff").raise_for_status().frames["result"]
    assert back.columns == ["ts", "kw"]
    assert back["ts"].dt.timestamp("ms").to_list() == [t.value // 10**6 for t in hours]
    assert back["kw"].is_nan().to_list() == [False, True]
    handoff["frame"] = pd.DataFrame({"kw": [1.0, 2.0]}, index=pd.Index([7, 9], name="row"))
    back = host.run("handoff").raise_for_status().frames["result"]
    assert back.to_dict(as_series=False) == {"row": [7, 9], "kw": [1.0, 2.0]}
    handoff["frame"] = pd.DataFrame({"kw": [1.0, 2.0]}, index=pd.Index([7, 9]))
    back = host.run("handoff").raise_for_status().frames["result"]
    assert back.to_dict(as_series=False) == {"kw": [1.0, 2.0]}
