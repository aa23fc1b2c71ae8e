"""``algohost.Context`` inside a Python plugin: identity, deadline, logging,
progress and data through the run's adapter."""

from __future__ import annotations

import datetime
from pathlib import Path

import algohost
import algohost._frames
import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import polars as pl
import pytest


def test_identity_and_cancellation_state(host: algohost.Host) -> None:
    run = host.run("context_info").raise_for_status()
    assert run.summary == {
        "run_id": run.id,
        "algorithm": "context_info",
        "deadline": None,
        "deadline_is_aware": False,
        "is_cancelled": False,
        "check": "passed",
        "log_name": "algohost.plugins.context_info",
    }


def test_deadline_follows_the_timeout(host: algohost.Host) -> None:
    before = datetime.datetime.now(datetime.timezone.utc)
    run = host.run("context_info", timeout=60).raise_for_status()
    assert run.summary["deadline_is_aware"] is True
    deadline = datetime.datetime.fromisoformat(run.summary["deadline"])
    assert before + datetime.timedelta(seconds=59) < deadline
    assert deadline < before + datetime.timedelta(seconds=62)


def test_ctx_log_and_the_logging_module_are_kept_on_the_run(
    host: algohost.Host,
) -> None:
    run = host.run("logs").raise_for_status()
    records = [(r["level"], r["target"], r["message"]) for r in run.logs]
    assert ("info", "algohost.plugins.logs", "info through ctx.log") in records
    assert ("debug", "algohost.plugins.logs", "debug through ctx.log") in records
    assert any(
        target == "fixture_plugins"
        and message == "warning through logging: 42"
        and level.startswith("warn")
        for level, target, message in records
    )


def test_progress_never_goes_back(host: algohost.Host) -> None:
    run = host.run("logs").raise_for_status()
    assert run.progress >= 0.5


@pytest.mark.parametrize(
    ("fraction", "message"),
    [
        (50, "progress is a fraction from 0 to 1, got 50; did you mean 0.5?"),
        (100, "progress is a fraction from 0 to 1, got 100; did you mean 1?"),
        (-1, "progress is a fraction from 0 to 1, got -1"),
        (250, "progress is a fraction from 0 to 1, got 250"),
        (float("nan"), "progress is a fraction from 0 to 1, got NaN"),
    ],
)
def test_progress_that_is_not_a_fraction_is_refused(fraction: float, message: str) -> None:
    @algohost.algorithm
    def percent(ctx: algohost.Context) -> dict[str, str]:
        """Reports a percentage."""
        try:
            ctx.progress(fraction, "half")
        except ValueError as e:
            return {"error": str(e)}
        return {"error": "none"}

    run = algohost.Host(algorithms=[percent]).run("percent").raise_for_status()
    assert run.summary == {"error": message}


def test_read_data_points_in_wide_and_long_form(host: algohost.Host) -> None:
    run = host.run("reads", {"names": ["site.load", "site.pv"]}).raise_for_status()
    assert run.summary["points"] == ["site.load", "site.pv"]
    assert set(run.summary["all"]) == {"site.load", "site.pv", "market.day_ahead"}
    wide = run.frames["wide"]
    assert wide.columns == ["ts", "site.load", "site.pv"]
    assert wide.schema["ts"] == pl.Datetime("us", "UTC")
    long = run.frames["long"]
    assert long.columns == ["data_point_id", "ts", "value"]
    assert long.schema["value"] == pl.Float64
    assert set(long["data_point_id"].unique().to_list()) == {1, 2}
    assert long.height == wide["site.load"].count() + wide["site.pv"].count()


def test_define_write_and_read_back(data_dir: Path) -> None:
    host = algohost.Host(data=str(data_dir))
    run = host.run(
        "writes", {"name": "test.power", "values": [1.0, 2.0, 3.0]}
    ).raise_for_status()
    assert isinstance(run.summary["id"], int)
    back = run.frames["back"]
    assert back["test.power"].to_list() == [1.0, 2.0, 3.0]
    assert back["ts"].to_list() == [
        datetime.datetime(2024, 1, 1, hour, tzinfo=datetime.timezone.utc)
        for hour in range(3)
    ]
    again = host.run("reads", {"names": ["test.power"]}).raise_for_status()
    assert again.frames["wide"]["test.power"].to_list() == [1.0, 2.0, 3.0]


def test_writing_a_series_says_to_write_a_frame(data_dir: Path) -> None:
    @algohost.algorithm
    def writes_a_series(ctx: algohost.Context) -> None:
        """Writes one column."""
        ctx.write(pl.Series("site.load", [1.0]))

    run = algohost.Host(data=data_dir, algorithms=[writes_a_series]).run("writes_a_series")
    assert run.error is not None
    assert run.error["message"] == (
        "AlgohostError: expected a frame, got a Series (a single column); pass a "
        "DataFrame (series.to_frame())"
    )


HOURS = pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC")
FRAMES: dict[str, object] = {
    "lazy": pl.DataFrame({"ts": HOURS, "test.power": [1.0, 2.0, 3.0]}).lazy(),
    "pandas_unnamed_index": pd.DataFrame({"test.power": [4.0, 5.0, 6.0]}, index=HOURS),
    "pandas_ts_and_index": pd.DataFrame({"ts": HOURS, "test.power": [1.0] * 3}, index=HOURS),
    "polars_nan": pl.DataFrame({"ts": HOURS, "test.power": [1.0, float("nan"), 3.0]}),
    "pandas_nan": pd.DataFrame({"ts": HOURS, "test.power": [1.0, np.nan, 3.0]}),
}


@algohost.algorithm
def writes_frame(ctx: algohost.Context, case: str) -> dict[str, list[float]]:
    """Writes FRAMES[case] to test.power and reads it back."""
    ctx.define_data_points([algohost.DataPointConfig("test.power", "kW", "power", "PT1H")])
    ctx.write(FRAMES[case])  # type: ignore[arg-type]
    back = ctx.read(algohost.DataPointFilter(names=["test.power"]))
    return {"values": back["test.power"].to_list()}


@pytest.mark.parametrize(
    ("case", "values"),
    [("lazy", [1.0, 2.0, 3.0]), ("pandas_unnamed_index", [4.0, 5.0, 6.0])],
)
def test_a_lazy_frame_is_collected_and_an_unnamed_pandas_time_index_is_ts(
    data_dir: Path, case: str, values: list[float]
) -> None:
    host = algohost.Host(data=data_dir, algorithms=[writes_frame])
    assert host.run("writes_frame", {"case": case}).raise_for_status().summary == {
        "values": values
    }


@pytest.mark.parametrize(
    ("case", "hint"),
    [
        ("polars_nan", "(fill_nan(None) in polars)"),
        (
            "pandas_nan",
            '(in pandas: the column\'s .astype("Float64") makes NaN pd.NA, which is null; '
            "or drop the row with df.dropna())",
        ),
    ],
)
def test_nan_is_refused_with_the_fix_in_the_words_of_the_frames_library(
    data_dir: Path, case: str, hint: str
) -> None:
    host = algohost.Host(data=data_dir, algorithms=[writes_frame])
    run = host.run("writes_frame", {"case": case})
    assert run.error is not None
    assert (run.error["kind"], run.error["message"]) == (
        "invalid_input",
        "invalid input: sample of 'test.power' at 2024-01-01T01:00:00Z is NaN, which is "
        f"not a value; write null for a missing value {hint}",
    )


def test_the_pandas_fix_for_nan_works() -> None:
    # What the hint says gives nulls, which a write takes.
    frame = FRAMES["pandas_nan"]
    assert isinstance(frame, pd.DataFrame)
    fixed = algohost._frames.from_pandas(frame.astype({"test.power": "Float64"}))
    assert fixed["test.power"].to_list() == [1.0, None, 3.0]


def test_a_pandas_frame_with_ts_and_an_unnamed_time_index_says_which_to_drop(
    data_dir: Path,
) -> None:
    host = algohost.Host(data=data_dir, algorithms=[writes_frame])
    run = host.run("writes_frame", {"case": "pandas_ts_and_index"})
    assert run.error is not None
    assert (run.error["kind"], run.error["message"]) == (
        "failed",
        "the pandas DataFrame has both a column 'ts' and an unnamed "
        "DatetimeIndex; drop the index (df.reset_index(drop=True)) or make it the ts "
        '(df.drop(columns="ts").rename_axis("ts"))',
    )


MIXED = pd.DataFrame(
    {
        "ts": pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC"),
        "value": [1.0, "x", 3, 4],
    }
)
MIXED_MESSAGE = (
    "column 'value' of the pandas DataFrame (dtype object) holds values that make no one "
    "column type: Could not convert 'x' with type str: tried to convert to double; make "
    "them one: pd.to_numeric(df['value'], errors=\"coerce\").astype(\"Float64\") for "
    "numbers (what is not one becomes null), df['value'].astype(str) for text"
)


@algohost.algorithm(outputs=["forecast: ts, value"])
def returns_mixed(ctx: algohost.Context) -> pd.DataFrame:
    """Returns a frame with a column of numbers and a string."""
    return MIXED


@algohost.algorithm
def writes_mixed(ctx: algohost.Context) -> None:
    """Writes a frame with a column of numbers and a string."""
    ctx.write(MIXED.rename(columns={"value": "site.load"}))


def test_the_fix_for_a_pandas_column_of_mixed_types_works() -> None:
    fixed = MIXED.assign(
        value=pd.to_numeric(MIXED["value"], errors="coerce").astype("Float64")
    )
    back = algohost._frames.from_pandas(fixed)
    assert back["value"].to_list() == [1.0, None, 3.0, 4.0]


def test_a_pandas_column_of_mixed_types_is_named_with_its_frame() -> None:
    host = algohost.Host(algorithms=[returns_mixed, writes_mixed])
    run = host.run("returns_mixed")
    assert run.error is not None
    assert (run.error["kind"], run.error["message"]) == (
        "failed",
        f"output frame 'forecast': {MIXED_MESSAGE}",
    )
    run = host.run("writes_mixed")
    assert run.error is not None
    assert (run.error["kind"], run.error["message"]) == (
        "failed",
        MIXED_MESSAGE.replace("'value'", "'site.load'"),
    )


def test_a_context_kept_after_its_run_writes_no_data(data_dir: Path) -> None:
    kept: list[algohost.Context] = []

    @algohost.algorithm
    def keeps_its_context(ctx: algohost.Context) -> None:
        """Returns at once, leaving its context to whoever holds it."""
        kept.append(ctx)

    host = algohost.Host(data=data_dir, algorithms=[keeps_its_context])
    run = host.run("keeps_its_context").raise_for_status()
    frame = pl.DataFrame(
        {
            "ts": [datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)],
            "site.load": [1.0],
        }
    )
    with pytest.raises(algohost.AlgohostError) as e:
        kept[0].write(frame)
    assert str(e.value) == (
        f"run {run.id} of 'keeps_its_context' has ended: a context kept after its run (by a "
        "thread the plugin left running) writes no data; write before the algorithm returns"
    )
    back = host.run("reads", {"names": ["site.load"]}).raise_for_status()
    assert datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc) not in (
        back.frames["wide"]["ts"].to_list()
    )


@algohost.algorithm
def defines(ctx: algohost.Context, unit: str = "kW") -> dict[str, str]:
    """Defines site.load (stored in Europe/Berlin) and a new point, neither
    with a time zone, and gives the zones they have."""
    stored = ctx.define_data_points(
        [
            algohost.DataPointConfig("site.load", unit, "power", "PT15M"),
            algohost.DataPointConfig("test.new", "kW", "power", "PT15M"),
        ]
    )
    return {p.name: p.time_zone for p in stored}


def test_a_definition_without_a_time_zone_takes_the_stored_one(data_dir: Path) -> None:
    host = algohost.Host(data=data_dir, algorithms=[defines])
    run = host.run("defines").raise_for_status()
    assert run.summary == {"site.load": "Europe/Berlin", "test.new": "UTC"}
    # test.new is stored in UTC now: defined again, it keeps that zone
    again = host.run("defines").raise_for_status()
    assert again.summary == {"site.load": "Europe/Berlin", "test.new": "UTC"}


def test_a_clash_without_a_time_zone_names_the_stored_zone_not_utc(data_dir: Path) -> None:
    host = algohost.Host(data=data_dir, algorithms=[defines])
    run = host.run("defines", {"unit": "MW"})
    assert run.error is not None
    assert "site.load' exists as power in kW at PT15M (Europe/Berlin)" in run.error["message"]
    assert "not power in MW at PT15M (Europe/Berlin)" in run.error["message"]
    assert "UTC" not in run.error["message"]
