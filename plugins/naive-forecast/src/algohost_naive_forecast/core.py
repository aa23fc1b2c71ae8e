"""The forecast itself: a pure function from a history frame to the next
day's values, with polars only (no numpy, no host).

Seasonal naive by local wall-clock time: the value at 14:15 on the forecast
day is the mean of the values at 14:15 on each of the ``days`` calendar days
before it, in the series' time zone. Days are calendar days, so the forecast
of a DST day has 23 or 25 hours worth of intervals:

* spring forward (23 h): the skipped hour is not forecast; a day after it
  finds no source for the hour that was skipped (02:00–03:00) in that day;
* fall back (25 h): both occurrences of the repeated hour get the value of
  that wall-clock time; a source day with the hour twice contributes the mean
  of both.

A target interval without any source value (a gap in the history, or the
hour a DST switch skipped) takes the previous forecast value (or the next
one, at the start of the day); the forecast counts them as filled.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from dataclasses import dataclass

import polars as pl

_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")

#: The output frame's columns.
COLUMNS = ("ts", "value")


class NoHistory(ValueError):
    """The history has no value on the days the forecast averages: the
    caller asked for a day the data does not cover."""


@dataclass(frozen=True)
class Forecast:
    """One day's forecast.

    >>> import datetime, polars as pl
    >>> from algohost_naive_forecast import forecast_day
    >>> start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    >>> history = pl.DataFrame({
    ...     "ts": pl.datetime_range(start, start + datetime.timedelta(days=2), "12h",
    ...                             closed="left", time_zone="UTC", eager=True),
    ...     "value": [1.0, 2.0, 3.0, 4.0],
    ... })
    >>> forecast = forecast_day(history, datetime.date(2026, 1, 3), every="12h", time_zone="UTC", days=2)
    >>> forecast.frame.get_column("value").to_list()
    [2.0, 3.0]
    """

    #: ``ts`` (interval start, ``Datetime[us, UTC]``) and ``value``.
    frame: pl.DataFrame
    #: The forecast calendar day, in ``time_zone``.
    day: datetime.date
    #: The time zone whose calendar days and wall-clock times are matched.
    time_zone: str
    #: How many days back were averaged (the ``days`` param).
    days: int
    #: How many of those days had at least one value.
    days_with_data: int
    #: Intervals without any source value, filled from their neighbour.
    intervals_filled: int

    def summary(self) -> dict[str, object]:
        """The run's JSON summary: the day, its size and the forecast's range."""
        values = self.frame.get_column("value")
        return {
            "day": self.day.isoformat(),
            "time_zone": self.time_zone,
            "days": self.days,
            "days_with_data": self.days_with_data,
            "intervals": self.frame.height,
            "intervals_filled": self.intervals_filled,
            "mean": _rounded(values.mean()),
            "min": _rounded(values.min()),
            "max": _rounded(values.max()),
        }


def polars_interval(resolution: str) -> str:
    """A polars interval for an ISO 8601 resolution of at most a day.

    >>> polars_interval("PT15M"), polars_interval("PT1H"), polars_interval("P1D")
    ('15m', '60m', '1d')
    """
    match = _DURATION.fullmatch(resolution)
    if match is None or not any(match.groups()) or resolution.endswith("T"):
        raise ValueError(
            f"resolution {resolution!r} is not an ISO 8601 duration of days, hours, minutes "
            "or seconds such as PT15M, PT1H or P1D"
        )
    d, h, m, s = (int(g) if g else 0 for g in match.groups())
    if d and (h or m or s) or d > 1 or (d, h, m, s) == (0, 0, 0, 0):
        raise ValueError(
            f"resolution {resolution!r} does not fit a day's forecast; use one of at most a day "
            "such as PT15M, PT1H or P1D"
        )
    if d:
        return "1d"
    seconds = h * 3600 + m * 60 + s
    if seconds > 86400:
        raise ValueError(f"resolution {resolution!r} is longer than a day; use at most P1D")
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def next_day(last_ts: datetime.datetime, *, every: str, time_zone: str) -> datetime.date:
    """The first calendar day (in ``time_zone``) that starts after the
    interval beginning at ``last_ts`` has ended: the day to forecast when the
    history ends with that interval."""
    end = (
        pl.Series([last_ts])
        .cast(pl.Datetime("us", "UTC"))
        .dt.convert_time_zone(_checked_zone(time_zone))
        .dt.offset_by(every)
        .item()
    )
    assert isinstance(end, datetime.datetime)
    if end.time() == datetime.time(0, 0):
        return end.date()
    return end.date() + datetime.timedelta(days=1)


def day_start(day: datetime.date, time_zone: str) -> datetime.datetime:
    """Local midnight of ``day`` in ``time_zone``, as an aware UTC datetime."""
    local = datetime.datetime.combine(day, datetime.time(), zoneinfo.ZoneInfo(time_zone))
    return local.astimezone(datetime.timezone.utc)


def forecast_day(
    history: pl.DataFrame,
    day: datetime.date,
    *,
    every: str,
    time_zone: str,
    days: int = 1,
) -> Forecast:
    """Forecasts ``day`` (a calendar day in ``time_zone``) at intervals of
    ``every`` (a polars interval such as ``"15m"``) as the mean of the same
    wall-clock time on the ``days`` days before it.

    ``history`` has ``ts`` (timezone-aware datetimes) and ``value`` columns;
    rows outside those ``days`` days are ignored, null values are skipped.
    """
    zone = _checked_zone(time_zone)
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    missing = [c for c in COLUMNS if c not in history.columns]
    if missing:
        raise ValueError(f"the history needs columns 'ts' and 'value'; missing {missing}")
    if not isinstance(history.schema["ts"], pl.Datetime) or history.schema["ts"].time_zone is None:
        raise ValueError(
            f"history 'ts' must be timezone-aware datetimes, got {history.schema['ts']}; "
            "use .dt.replace_time_zone('UTC') on naive UTC timestamps"
        )

    targets = pl.datetime_range(
        day_start(day, zone),
        day_start(day + datetime.timedelta(days=1), zone),
        every,
        closed="left",
        time_zone=zone,
        eager=True,
    ).alias("local")
    first_source = day - datetime.timedelta(days=days)
    sources = (
        history.lazy()
        .select(
            pl.col("ts").dt.convert_time_zone(zone).alias("local"), pl.col("value").cast(pl.Float64)
        )
        .filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan())
        .with_columns(
            pl.col("local").dt.date().alias("date"), pl.col("local").dt.time().alias("time")
        )
        .filter(pl.col("date").is_between(first_source, day, closed="left"))
        # A fall-back day has its repeated hour twice: one value per wall-clock time and day.
        .group_by("date", "time")
        .agg(pl.col("value").mean())
        .collect()
    )
    days_with_data = sources.get_column("date").n_unique()
    by_time = sources.group_by("time").agg(pl.col("value").mean())
    frame = (
        targets.to_frame()
        .with_columns(pl.col("local").dt.time().alias("time"))
        .join(by_time, on="time", how="left", maintain_order="left")
    )
    filled = frame.get_column("value").null_count()
    if filled == frame.height:
        raise NoHistory(
            f"no values in the {days} day(s) before {day.isoformat()} ({zone}); "
            "choose a day that follows the history, or more days"
        )
    frame = frame.select(
        pl.col("local").dt.convert_time_zone("UTC").dt.cast_time_unit("us").alias("ts"),
        pl.col("value").forward_fill().backward_fill(),
    )
    return Forecast(
        frame=frame,
        day=day,
        time_zone=zone,
        days=days,
        days_with_data=days_with_data,
        intervals_filled=filled,
    )


def _checked_zone(time_zone: str) -> str:
    """``time_zone`` when it is an IANA time zone name, else a clear error."""
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {time_zone!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None
    return time_zone


def _rounded(value: object) -> float | None:
    """A summary number to 6 decimals (None for an empty forecast)."""
    return round(value, 6) if isinstance(value, (int, float)) else None
