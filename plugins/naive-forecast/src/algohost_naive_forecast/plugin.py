"""The ``naive_forecast`` algorithm: reads the series through the run's
context, calls :func:`~algohost_naive_forecast.core.forecast_day` and returns
the ``forecast`` frame and a summary. A series without data to forecast from
is the caller's mistake: it raises :class:`algohost.ValidationError`, so that
the run ends as invalid input (exit code 2 of ``algohost run``)."""

from __future__ import annotations

import datetime

import algohost
import polars as pl

from algohost_naive_forecast.core import (
    NoHistory,
    day_start,
    forecast_day,
    next_day,
    polars_interval,
)
from algohost_naive_forecast.params import Params


@algohost.algorithm(version="0.1.0", idempotent=True, outputs=["forecast: ts, value"])
def naive_forecast(ctx: algohost.Context, params: Params) -> algohost.Output:
    """Seasonal naive forecast of one series for a day: the value at each
    wall-clock time is the mean of the same time on the `days` days before
    (days=1: tomorrow equals today). Days are calendar days in the series'
    time zone, so a DST day has 23 or 25 hours. Defaults to the first day
    after the last sample."""
    point = ctx.data_point(params.series, param="series")
    every = polars_interval(point.resolution)
    time_zone = params.time_zone or point.time_zone
    ctx.progress(0.1, f"reading {point.name}")
    day = params.day
    if day is None:
        history = _read(ctx, point.name)
        if history.height == 0:
            raise _invalid("/series", f"data point '{point.name}' has no samples to forecast from")
        last = history.get_column("ts").max()
        assert isinstance(last, datetime.datetime)
        day = next_day(last, every=every, time_zone=time_zone)
    else:
        start = day_start(day - datetime.timedelta(days=params.days), time_zone)
        history = _read(ctx, point.name, start=start, end=day_start(day, time_zone))
    ctx.check()
    ctx.progress(0.5, f"forecasting {day.isoformat()}")
    try:
        forecast = forecast_day(history, day, every=every, time_zone=time_zone, days=params.days)
    except NoHistory as e:
        pointer = "/day" if params.day is not None else "/series"
        raise _invalid(pointer, f"data point '{point.name}' has {e}") from None
    if forecast.intervals_filled:
        ctx.log.warning(
            "%d of %d intervals of %s had no value on the %d day(s) before; "
            "they repeat their neighbour",
            forecast.intervals_filled,
            forecast.frame.height,
            day.isoformat(),
            params.days,
        )
    summary = {"series": point.name, "unit": point.unit, **forecast.summary()}
    ctx.progress(1.0, "done")
    return algohost.Output(summary=summary, frames={"forecast": forecast.frame})


def _read(
    ctx: algohost.Context,
    name: str,
    *,
    start: datetime.datetime | None = None,
    end: datetime.datetime | None = None,
) -> pl.DataFrame:
    """The series as ``ts``, ``value`` (all of it, or ``[start, end)``)."""
    wide = ctx.read(algohost.DataPointFilter(names=[name], start=start, end=end))
    if name not in wide.columns:
        return pl.DataFrame(schema={"ts": pl.Datetime("us", "UTC"), "value": pl.Float64})
    return wide.select(pl.col("ts"), pl.col(name).cast(pl.Float64).alias("value"))


def _invalid(pointer: str, message: str) -> algohost.ValidationError:
    """Input the data cannot serve, as invalid input at ``pointer``."""
    return algohost.ValidationError(message, [{"pointer": pointer, "message": message}])
