"""``naive_forecast``: a seasonal naive forecast of one series for the next
day, with polars only.

The forecast is a pure function (:func:`forecast_day`) that needs neither
the host nor algohost; the algorithm around it (``naive_forecast``, in
:mod:`algohost_naive_forecast.plugin`) reads the series through the run's
context and returns the ``forecast`` frame and a summary.
"""

from typing import TYPE_CHECKING, Any

from algohost_naive_forecast.core import (
    Forecast,
    NoHistory,
    forecast_day,
    next_day,
    polars_interval,
)
from algohost_naive_forecast.params import Params

if TYPE_CHECKING:
    from algohost_naive_forecast.plugin import naive_forecast

__all__ = [
    "Forecast",
    "NoHistory",
    "Params",
    "forecast_day",
    "naive_forecast",
    "next_day",
    "polars_interval",
]


def __getattr__(name: str) -> Any:
    # The algorithm imports algohost; load it only when asked for, so that the
    # forecast stays usable (and testable) without the host.
    if name == "naive_forecast":
        from algohost_naive_forecast.plugin import naive_forecast

        return naive_forecast
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
