"""Data-model classes and ``algohost.resample``."""

from __future__ import annotations

import datetime
import pydoc
import zoneinfo

import algohost
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import polars as pl
import pytest

UTC = datetime.timezone.utc


def test_data_point_id() -> None:
    a = algohost.DataPointId(7)
    assert a.value == 7
    assert int(a) == 7
    assert [10, 11, 12][algohost.DataPointId(1)] == 11
    assert a == algohost.DataPointId(7)
    assert a != algohost.DataPointId(8)
    assert len({a, algohost.DataPointId(7)}) == 1


def test_flow() -> None:
    flow = algohost.Flow("grid", "site", "electricity")
    assert (flow.from_, flow.to, flow.carrier) == ("grid", "site", "electricity")
    assert flow.to_dict() == {"from": "grid", "to": "site", "carrier": "electricity"}
    assert flow == algohost.Flow("grid", "site", "electricity")


def test_data_point_config_round_trips_through_dicts() -> None:
    point = algohost.DataPointConfig(
        "site.load",
        "kW",
        "power",
        "PT15M",
        time_zone="Europe/Berlin",
        tags={"site": "demo"},
        flow=algohost.Flow("grid", "demo", "electricity"),
        id=1,
    )
    assert point.id == algohost.DataPointId(1)
    assert (point.name, point.unit, point.quantity, point.resolution) == (
        "site.load",
        "kW",
        "power",
        "PT15M",
    )
    assert point.time_zone == "Europe/Berlin"
    assert point.tags == {"site": "demo"}
    as_dict = point.to_dict()
    assert as_dict["flow"] == {"from": "grid", "to": "demo", "carrier": "electricity"}
    assert as_dict["name"] == "site.load"
    assert algohost.DataPointConfig.from_dict(as_dict) == point


def test_data_point_config_defaults() -> None:
    point = algohost.DataPointConfig("x", "kWh", "energy", "PT1H")
    assert point.time_zone == ""
    assert point.tags == {}
    assert point.flow is None


def test_a_dict_without_a_time_zone_gives_none_as_the_constructor_does() -> None:
    given = {"name": "x", "unit": "kWh", "quantity": "energy", "resolution": "PT1H"}
    assert algohost.DataPointConfig.from_dict(given).time_zone == ""
    assert algohost.DataPointConfig.from_dict({**given, "time_zone": None}).time_zone == ""
    assert algohost.DataPointConfig.from_dict(given) == algohost.DataPointConfig(
        "x", "kWh", "energy", "PT1H"
    )
    with pytest.raises(ValueError, match="DataPointConfig: .*Mars/Olympus"):
        algohost.DataPointConfig.from_dict({**given, "time_zone": "Mars/Olympus"})


def test_resample_takes_a_point_without_a_time_zone_as_utc() -> None:
    days = samples([1.0] * 96 * 2)
    given = algohost.DataPointConfig("p", "kW", "power", "PT15M", id=1)
    utc = algohost.DataPointConfig("p", "kW", "power", "PT15M", id=1, time_zone="UTC")
    out = algohost.resample(days, [given], "P1D")
    assert out.equals(algohost.resample(days, [utc], "P1D"))
    assert out["ts"].dt.hour().to_list() == [0, 0]


def test_filters() -> None:
    start = datetime.datetime(2024, 1, 1, tzinfo=UTC)
    filt = algohost.DataPointFilter(
        names=["site.load"],
        ids=[1, algohost.DataPointId(2)],
        start=start,
        resolution="PT1H",
    )
    assert filt.names == ["site.load"]
    assert filt.ids == [algohost.DataPointId(1), algohost.DataPointId(2)]
    assert filt.start == start
    assert filt.end is None
    assert filt.resolution == "PT1H"
    assert filt == algohost.DataPointFilter(
        names=["site.load"], ids=[1, 2], start=start, resolution="PT1H"
    )
    assert filt.to_dict()["names"] == ["site.load"]
    flows = algohost.FlowFilter(from_="grid", carrier="electricity")
    assert (flows.from_, flows.to, flows.carrier) == ("grid", None, "electricity")
    assert flows.to_dict()["from"] == "grid"


def test_help_on_data_point_filter_says_what_each_field_does() -> None:
    shown = pydoc.plain(pydoc.render_doc(algohost.DataPointFilter))
    assert "It does not change `ts`,\n |  which is UTC in every frame." in shown, shown
    for field, doc in [
        ("start", "Samples at or after this instant (UTC)."),
        ("end", "Samples before this instant (UTC)."),
        ("resolution", "The resolution to resample to when reading"),
        ("time_zone", "Where calendar intervals (`P1D` and longer) start at midnight"),
    ]:
        assert f" |  {field}\n |      {doc}" in shown, shown


def samples(values: list[float], minutes: int = 15) -> pl.DataFrame:
    """Long-form samples of data point 1 every ``minutes`` from 2024-01-01."""
    start = datetime.datetime(2024, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "data_point_id": [1] * len(values),
            "ts": [
                start + datetime.timedelta(minutes=minutes * i)
                for i in range(len(values))
            ],
            "value": values,
        },
        schema={
            "data_point_id": pl.Int64,
            "ts": pl.Datetime("us", "UTC"),
            "value": pl.Float64,
        },
    )


@pytest.mark.parametrize(
    ("quantity", "expected"), [("power", [2.5, 6.5]), ("energy", [10.0, 26.0])]
)
def test_resample_down_follows_the_quantity(
    quantity: str, expected: list[float]
) -> None:
    point = algohost.DataPointConfig("p", "kW", quantity, "PT15M", id=1)
    out = algohost.resample(samples([1, 2, 3, 4, 5, 6, 7, 8]), [point], "PT1H")
    assert isinstance(out, pl.DataFrame)
    assert out["value"].to_list() == expected


def test_resample_accepts_pandas() -> None:
    point = algohost.DataPointConfig("p", "kW", "power", "PT15M", id=1)
    frame: pd.DataFrame = samples([1, 2, 3, 4]).to_pandas()
    assert algohost.resample(frame, [point], "PT1H")["value"].to_list() == [2.5]


def test_resample_takes_what_ctx_write_takes() -> None:
    # Int32 ids and ts in a local zone: the same instants, the same result.
    point = algohost.DataPointConfig("p", "kW", "power", "PT15M", id=1)
    local = samples([1, 2, 3, 4, 5, 6, 7, 8]).with_columns(
        pl.col("data_point_id").cast(pl.Int32),
        pl.col("ts").dt.convert_time_zone("Europe/Berlin"),
    )
    out = algohost.resample(local, [point], "PT1H")
    assert out.equals(algohost.resample(samples([1, 2, 3, 4, 5, 6, 7, 8]), [point], "PT1H"))
    assert out["value"].to_list() == [2.5, 6.5]
    naive = samples([1, 2, 3, 4]).with_columns(pl.col("ts").dt.replace_time_zone(None))
    with pytest.raises(algohost.AlgohostError, match="without a time zone"):
        algohost.resample(naive, [point], "PT1H")


def test_resample_makes_up_no_value_for_too_little_coverage() -> None:
    point = algohost.DataPointConfig("p", "kW", "power", "PT15M", id=1)
    out = algohost.resample(samples([1, 2, 3, 4, 5]), [point], "PT1H")
    # the second hour is covered by one of four samples: null or left out
    by_hour = dict(zip(out["ts"].dt.hour().to_list(), out["value"].to_list()))
    assert by_hour.get(0) == 2.5
    assert by_hour.get(1) is None
    relaxed = algohost.resample(
        samples([1, 2, 3, 4, 5]), [point], "PT1H", min_coverage=0.25
    )
    assert relaxed["value"].to_list() == [2.5, 5.0]


def test_resample_refuses_a_bad_resolution() -> None:
    point = algohost.DataPointConfig("p", "kW", "power", "PT15M", id=1)
    with pytest.raises(
        ValueError,
        match="invalid resolution 'hourly': use an ISO 8601 duration such as PT15M",
    ):
        algohost.resample(samples([1.0]), [point], "hourly")


@pytest.mark.parametrize(
    "start",
    [
        datetime.datetime(2026, 3, 1, 1, tzinfo=UTC),
        datetime.datetime(2026, 3, 1, 1, tzinfo=zoneinfo.ZoneInfo("UTC")),
        datetime.datetime(2026, 3, 1, 2, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")),
        datetime.datetime(
            2026, 2, 28, 20, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))
        ),
        pd.Timestamp("2026-03-01 02:00", tz="Europe/Berlin"),
    ],
    ids=["timezone.utc", "ZoneInfo(UTC)", "ZoneInfo(Europe/Berlin)", "UTC-5", "pandas"],
)
def test_any_aware_datetime_is_taken_as_its_utc_instant(start: datetime.datetime) -> None:
    filt = algohost.DataPointFilter(start=start, end=start + datetime.timedelta(days=1))
    assert filt.start == datetime.datetime(2026, 3, 1, 1, tzinfo=UTC)
    assert filt.start is not None and filt.start.tzinfo is UTC
    assert filt.end == datetime.datetime(2026, 3, 2, 1, tzinfo=UTC)


def test_a_naive_datetime_or_an_empty_range_is_refused() -> None:
    with pytest.raises(ValueError) as e:
        algohost.DataPointFilter(start=datetime.datetime(2026, 1, 1))
    assert str(e.value) == (
        "start is a naive datetime (datetime.datetime(2026, 1, 1, 0, 0)), so its time "
        "zone is unknown; add a tzinfo, e.g. .replace(tzinfo=ZoneInfo(\"Europe/Berlin\")) "
        "or tzinfo=timezone.utc"
    )
    with pytest.raises(ValueError) as e:
        algohost.DataPointFilter(end=datetime.date(2026, 1, 1))  # type: ignore[arg-type]
    assert str(e.value) == (
        "end must be a timezone-aware datetime (e.g. datetime(2026, 3, 1, "
        "tzinfo=ZoneInfo(\"Europe/Berlin\"))), got datetime.date(2026, 1, 1)"
    )
    with pytest.raises(ValueError, match=r"start \(.*\) must be before end"):
        algohost.DataPointFilter(
            start=datetime.datetime(2026, 1, 2, tzinfo=UTC),
            end=datetime.datetime(2026, 1, 1, tzinfo=UTC),
        )


def test_bad_definitions_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="DataPointConfig: unknown variant `watts`"):
        algohost.DataPointConfig("p", "kW", "watts", "PT15M")
    with pytest.raises(ValueError, match="DataPointConfig: .*Mars/Olympus"):
        algohost.DataPointConfig("p", "kW", "power", "PT15M", time_zone="Mars/Olympus")
    with pytest.raises(ValueError, match="DataPointFilter: .*Mars/Olympus"):
        algohost.DataPointFilter(time_zone="Mars/Olympus")
    # One name on its own, a common slip: the list to give instead.
    with pytest.raises(TypeError) as raised:
        algohost.DataPointFilter(names="site.load")
    assert str(raised.value) == (
        "names takes a list of data point names, not one string: give names=['site.load']"
    )
    with pytest.raises(TypeError, match=r"names takes a list of data point names \(strings\), not int"):
        algohost.DataPointFilter(names=5)  # type: ignore[arg-type]
    assert algohost.DataPointFilter(names=("site.load",)).names == ["site.load"]


def test_resample_refuses_what_is_not_a_frame() -> None:
    point = algohost.DataPointConfig("p", "kW", "power", "PT15M", id=1)
    with pytest.raises(algohost.AlgohostError, match="expected a frame .* got list"):
        algohost.resample([1, 2, 3], [point], "PT1H")  # type: ignore[arg-type]
