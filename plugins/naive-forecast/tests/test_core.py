"""The forecast on small synthetic series (exact values, DST days) and on
the demo load."""

from __future__ import annotations

import datetime

import polars as pl
import pytest

from algohost_naive_forecast import forecast_day, next_day, polars_interval

UTC = datetime.timezone.utc
BERLIN = "Europe/Berlin"


def hourly(start: datetime.datetime, end: datetime.datetime, time_zone: str) -> pl.DataFrame:
    """Hourly samples in [start, end) valued day-of-month × 100 + local hour."""
    ts = pl.datetime_range(start, end, "1h", closed="left", time_zone="UTC", eager=True)
    local = ts.dt.convert_time_zone(time_zone)
    return pl.DataFrame(
        {
            "ts": ts,
            "value": local.dt.day().cast(pl.Float64) * 100 + local.dt.hour().cast(pl.Float64),
        }
    )


def local_hours(frame: pl.DataFrame, time_zone: str) -> list[str]:
    """The frame's interval starts as local ``HH:MM`` (with the UTC offset)."""
    return frame.get_column("ts").dt.convert_time_zone(time_zone).dt.strftime("%H:%M%z").to_list()


def test_one_day_back_repeats_yesterday() -> None:
    history = hourly(
        datetime.datetime(2026, 1, 1, tzinfo=UTC), datetime.datetime(2026, 1, 4, tzinfo=UTC), "UTC"
    )
    forecast = forecast_day(history, datetime.date(2026, 1, 4), every="1h", time_zone="UTC")
    assert forecast.frame.columns == ["ts", "value"]
    assert forecast.frame.schema["ts"] == pl.Datetime("us", "UTC")
    assert forecast.frame.get_column("ts").to_list() == [
        datetime.datetime(2026, 1, 4, h, tzinfo=datetime.timezone.utc) for h in range(24)
    ]
    assert forecast.frame.get_column("value").to_list() == [300.0 + h for h in range(24)]
    assert forecast.summary() == {
        "day": "2026-01-04",
        "time_zone": "UTC",
        "days": 1,
        "days_with_data": 1,
        "intervals": 24,
        "intervals_filled": 0,
        "mean": 311.5,
        "min": 300.0,
        "max": 323.0,
    }


def test_mean_over_days() -> None:
    history = hourly(
        datetime.datetime(2026, 1, 1, tzinfo=UTC), datetime.datetime(2026, 1, 4, tzinfo=UTC), "UTC"
    )
    forecast = forecast_day(history, datetime.date(2026, 1, 4), every="1h", time_zone="UTC", days=3)
    assert forecast.frame.get_column("value").to_list() == [200.0 + h for h in range(24)]
    assert forecast.days_with_data == 3


def test_missing_values_are_skipped_and_gaps_filled() -> None:
    history = hourly(
        datetime.datetime(2026, 1, 1, tzinfo=UTC), datetime.datetime(2026, 1, 3, tzinfo=UTC), "UTC"
    )
    # Day 2 loses 05:00 (null value) and 06:00 (no row); day 1 loses 06:00 too.
    history = history.with_columns(
        pl.when(pl.col("ts") == datetime.datetime(2026, 1, 2, 5, tzinfo=UTC))
        .then(None)
        .otherwise(pl.col("value"))
        .alias("value")
    ).filter(pl.col("ts").dt.hour() != 6)
    forecast = forecast_day(history, datetime.date(2026, 1, 3), every="1h", time_zone="UTC", days=2)
    values = forecast.frame.get_column("value").to_list()
    assert values[4] == 150.0 + 4  # mean of 104 and 204
    assert values[5] == 105.0  # day 1 only
    assert values[6] == 105.0  # nothing at 06:00: repeats 05:00
    assert forecast.intervals_filled == 1


def test_spring_forward_day_has_23_hours() -> None:
    history = hourly(
        datetime.datetime(2026, 3, 27, tzinfo=UTC),
        datetime.datetime(2026, 3, 29, tzinfo=UTC),
        BERLIN,
    )
    forecast = forecast_day(history, datetime.date(2026, 3, 29), every="1h", time_zone=BERLIN)
    hours = local_hours(forecast.frame, BERLIN)
    assert len(hours) == 23
    assert hours[:4] == ["00:00+0100", "01:00+0100", "03:00+0200", "04:00+0200"]
    # Matched by wall-clock time: 03:00 CEST gets 03:00 CET of the 28th.
    assert forecast.frame.get_column("value").to_list()[:4] == [2800.0, 2801.0, 2803.0, 2804.0]


def test_day_after_spring_forward_fills_the_skipped_hour() -> None:
    history = hourly(
        datetime.datetime(2026, 3, 28, 23, tzinfo=UTC),
        datetime.datetime(2026, 3, 29, 22, tzinfo=UTC),
        BERLIN,
    )
    assert history.height == 23
    forecast = forecast_day(history, datetime.date(2026, 3, 30), every="1h", time_zone=BERLIN)
    assert forecast.frame.height == 24
    values = forecast.frame.get_column("value").to_list()
    assert values[:4] == [2900.0, 2901.0, 2901.0, 2903.0]  # 02:00 did not exist on the 29th
    assert forecast.intervals_filled == 1


def test_fall_back_day_has_25_hours() -> None:
    history = hourly(
        datetime.datetime(2026, 10, 23, 22, tzinfo=UTC),
        datetime.datetime(2026, 10, 24, 22, tzinfo=UTC),
        BERLIN,
    )
    forecast = forecast_day(history, datetime.date(2026, 10, 25), every="1h", time_zone=BERLIN)
    hours = local_hours(forecast.frame, BERLIN)
    assert len(hours) == 25
    assert hours[1:5] == ["01:00+0200", "02:00+0200", "02:00+0100", "03:00+0100"]
    assert forecast.frame.get_column("value").to_list()[1:5] == [2401.0, 2402.0, 2402.0, 2403.0]


def test_day_after_fall_back_averages_the_repeated_hour() -> None:
    history = hourly(
        datetime.datetime(2026, 10, 24, 22, tzinfo=UTC),
        datetime.datetime(2026, 10, 25, 23, tzinfo=UTC),
        BERLIN,
    )
    # Both 02:00 hours of the 25th are worth 2502; make the second one 2512.
    history = history.with_columns(
        pl.when(pl.col("ts") == datetime.datetime(2026, 10, 25, 1, tzinfo=UTC))
        .then(2512.0)
        .otherwise(pl.col("value"))
        .alias("value")
    )
    forecast = forecast_day(history, datetime.date(2026, 10, 26), every="1h", time_zone=BERLIN)
    assert forecast.frame.height == 24
    assert forecast.frame.get_column("value").to_list()[1:4] == [2501.0, 2507.0, 2503.0]


def test_utc_days_ignore_dst() -> None:
    history = hourly(
        datetime.datetime(2026, 3, 28, tzinfo=UTC),
        datetime.datetime(2026, 3, 29, tzinfo=UTC),
        "UTC",
    )
    forecast = forecast_day(history, datetime.date(2026, 3, 29), every="1h", time_zone="UTC")
    assert forecast.frame.height == 24
    assert forecast.frame.get_column("value").to_list() == [2800.0 + h for h in range(24)]


def test_next_day() -> None:
    # History up to local midnight: the next day is the one that starts there.
    assert next_day(
        datetime.datetime(2026, 5, 31, 21, 45, tzinfo=UTC), every="15m", time_zone=BERLIN
    ) == datetime.date(2026, 6, 1)
    # History ending mid-day: the first full day after it.
    assert next_day(
        datetime.datetime(2026, 5, 31, 10, 0, tzinfo=UTC), every="15m", time_zone=BERLIN
    ) == datetime.date(2026, 6, 1)
    assert next_day(
        datetime.datetime(2026, 5, 31, 22, 0, tzinfo=UTC), every="15m", time_zone="UTC"
    ) == datetime.date(2026, 6, 1)


@pytest.mark.parametrize(
    ("resolution", "interval"), [("PT15M", "15m"), ("PT1H", "60m"), ("PT30S", "30s"), ("P1D", "1d")]
)
def test_polars_interval(resolution: str, interval: str) -> None:
    assert polars_interval(resolution) == interval


@pytest.mark.parametrize(
    ("resolution", "message"),
    [
        ("P1M", "resolution 'P1M' is not an ISO 8601 duration of days, hours, minutes or seconds"),
        ("P2D", "resolution 'P2D' does not fit a day's forecast"),
        ("PT0M", "resolution 'PT0M' does not fit a day's forecast"),
        ("15m", "resolution '15m' is not an ISO 8601 duration"),
    ],
)
def test_bad_resolutions(resolution: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        polars_interval(resolution)


def test_no_history_for_the_day() -> None:
    history = hourly(
        datetime.datetime(2026, 1, 1, tzinfo=UTC), datetime.datetime(2026, 1, 2, tzinfo=UTC), "UTC"
    )
    with pytest.raises(ValueError, match=r"no values in the 2 day\(s\) before 2026-01-10 \(UTC\)"):
        forecast_day(history, datetime.date(2026, 1, 10), every="1h", time_zone="UTC", days=2)


def test_bad_time_zone_and_days() -> None:
    history = hourly(
        datetime.datetime(2026, 1, 1, tzinfo=UTC), datetime.datetime(2026, 1, 2, tzinfo=UTC), "UTC"
    )
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'; use an IANA name"):
        forecast_day(history, datetime.date(2026, 1, 2), every="1h", time_zone="Mars/Olympus")
    with pytest.raises(ValueError, match="days must be at least 1, got 0"):
        forecast_day(history, datetime.date(2026, 1, 2), every="1h", time_zone="UTC", days=0)
    with pytest.raises(ValueError, match="history 'ts' must be timezone-aware"):
        forecast_day(
            history.with_columns(pl.col("ts").dt.replace_time_zone(None)),
            datetime.date(2026, 1, 2),
            every="1h",
            time_zone="UTC",
        )


def test_demo_load_next_day(demo_load: pl.DataFrame) -> None:
    last = demo_load.get_column("ts").max()
    assert isinstance(last, datetime.datetime)
    day = next_day(last, every="15m", time_zone=BERLIN)
    assert day == datetime.date(2026, 6, 1)
    forecast = forecast_day(demo_load, day, every="15m", time_zone=BERLIN)
    assert forecast.frame.height == 96 and forecast.intervals_filled == 0
    yesterday = demo_load.filter(pl.col("ts") >= datetime.datetime(2026, 5, 30, 22, tzinfo=UTC))
    assert forecast.frame.get_column("value").to_list() == yesterday.get_column("value").to_list()
    assert (forecast.frame.get_column("ts") - yesterday.get_column("ts")).unique().to_list() == [
        datetime.timedelta(days=1)
    ]


def test_demo_load_across_spring_forward(demo_load: pl.DataFrame) -> None:
    forecast = forecast_day(
        demo_load, datetime.date(2026, 3, 30), every="15m", time_zone=BERLIN, days=7
    )
    assert forecast.frame.height == 96
    assert forecast.intervals_filled == 0  # 02:00–03:00 exists on the other six days
    dst_day = forecast_day(
        demo_load, datetime.date(2026, 3, 29), every="15m", time_zone=BERLIN, days=7
    )
    assert dst_day.frame.height == 92
