"""``price_arbitrage``: schedules a battery against a day-ahead price with a
linear program (HiGHS), for the greatest trading revenue.

The optimisation is a pure function (:func:`optimise`) that needs neither
the host nor algohost; the algorithm around it (``price_arbitrage``, in
:mod:`algohost_price_arbitrage.plugin`) reads the price through the run's
context and returns the schedule frame and a summary.
"""

from typing import TYPE_CHECKING, Any

from algohost_price_arbitrage.core import OptimisationError, Schedule, optimise
from algohost_price_arbitrage.params import Battery, Params

if TYPE_CHECKING:
    from algohost_price_arbitrage.plugin import price_arbitrage

__all__ = ["Battery", "OptimisationError", "Params", "Schedule", "optimise", "price_arbitrage"]


def __getattr__(name: str) -> Any:
    # The algorithm imports algohost; load it only when asked for, so that the
    # optimisation stays usable (and testable) without the host.
    if name == "price_arbitrage":
        from algohost_price_arbitrage.plugin import price_arbitrage

        return price_arbitrage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
