"""The ``price_arbitrage`` algorithm: reads the price through the run's
context, calls :func:`~algohost_price_arbitrage.core.optimise` and returns the
schedule frame and a summary."""

from __future__ import annotations

import datetime

import algohost
import numpy as np
import polars as pl

from algohost_price_arbitrage.core import Floats, Schedule, optimise
from algohost_price_arbitrage.params import Params
from algohost_price_arbitrage.units import eur_per_mwh_factor, resolution_hours

SCHEDULE_COLUMNS = ["ts", "price_eur_mwh", "charge_kw", "discharge_kw", "soc_kwh", "revenue_eur"]


@algohost.algorithm(
    version="0.1.0",
    idempotent=True,
    outputs=[f"schedule: {', '.join(SCHEDULE_COLUMNS)}"],
)
def price_arbitrage(ctx: algohost.Context, params: Params) -> algohost.Output:
    """Schedules a battery against a price series, such as the day-ahead
    price, for the greatest trading revenue: a linear program solved by HiGHS, with
    the battery's power limits, capacity, state-of-charge bounds and
    round-trip efficiency, and optionally ending at least as full as it
    started. Intervals without a price are idle. Returns the schedule (charge
    and discharge power in kW at the grid side, SoC at the end of each
    interval, revenue) and the total revenue in EUR."""
    ctx.progress(0.0, "reading the price")
    ts, prices, dt_hours = read_prices(ctx, params)
    missing = int(np.isnan(prices).sum())
    if missing:
        ctx.log.warning(
            "price data point '%s' has no value in %d of %d intervals; the battery idles through them",
            params.price,
            missing,
            len(prices),
        )
    ctx.check()
    ctx.progress(0.2, f"optimising {len(prices)} intervals")
    schedule = optimise(
        prices,
        dt_hours,
        params.battery,
        end_soc_at_least_initial=params.end_soc_at_least_initial,
        time_limit_s=_seconds_left(ctx.deadline),
    )
    ctx.check()
    ctx.progress(0.9, "writing the schedule")
    summary = schedule.summary()
    ctx.log.info(
        "revenue %.2f EUR over %d intervals (%d charging, %d discharging)",
        schedule.revenue_eur,
        schedule.intervals,
        summary["intervals_charging"],
        summary["intervals_discharging"],
    )
    frame = schedule_frame(ts, schedule)
    ctx.progress(1.0, "done")
    return algohost.Output(summary=summary, frames={"schedule": frame})


def read_prices(ctx: algohost.Context, params: Params) -> tuple[pl.Series, Floats, float]:
    """The interval starts, the prices in EUR/MWh (NaN where missing) and the
    interval length in hours of the selected range."""
    point = ctx.data_point(params.price, param="price")
    if point.quantity != "price":
        raise invalid(
            "/price",
            f"data point '{point.name}' measures {point.quantity}, not price; set params.price to a price data point",
        )
    resolution = params.resolution or point.resolution
    try:
        dt_hours = resolution_hours(resolution)
    except ValueError as e:
        raise invalid("/resolution", str(e)) from None
    try:
        factor = eur_per_mwh_factor(point.unit)
    except ValueError as e:
        raise invalid("/price", f"data point '{point.name}': {e}") from None
    wide = ctx.read(
        algohost.DataPointFilter(
            names=[point.name],
            start=params.start,
            end=params.end,
            resolution=None if resolution == point.resolution else resolution,
        )
    )
    if wide.height == 0 or point.name not in wide.columns:
        raise invalid(
            "/start" if params.start is not None else "/price",
            f"no samples of price data point '{point.name}' in the selected range; check start and end",
        )
    wide = wide.sort("ts")
    values = wide.get_column(point.name).cast(pl.Float64).fill_nan(None).to_numpy()
    prices = np.asarray(values, dtype=np.float64) * factor
    return wide.get_column("ts"), prices, dt_hours


def invalid(pointer: str, message: str) -> algohost.ValidationError:
    """Input the run cannot use, blamed on the params field at ``pointer``:
    the run fails as invalid input (exit code 2), not as the plugin's own
    failure."""
    return algohost.ValidationError(message, [{"pointer": pointer, "message": message}])


def schedule_frame(ts: pl.Series, schedule: Schedule) -> pl.DataFrame:
    """The ``schedule`` output frame (columns as in :data:`SCHEDULE_COLUMNS`)."""
    price = pl.Series("price_eur_mwh", schedule.price_eur_mwh).fill_nan(None)
    return pl.DataFrame(
        [
            ts.alias("ts"),
            price,
            pl.Series("charge_kw", schedule.charge_kw),
            pl.Series("discharge_kw", schedule.discharge_kw),
            pl.Series("soc_kwh", schedule.soc_kwh),
            pl.Series("revenue_eur", schedule.revenue_eur_per_interval),
        ]
    )


def _seconds_left(deadline: datetime.datetime | None) -> float | None:
    """Seconds until the run's deadline, for the solver's time limit."""
    if deadline is None:
        return None
    return (deadline - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
