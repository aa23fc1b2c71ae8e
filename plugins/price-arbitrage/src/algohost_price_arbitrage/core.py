"""The optimisation itself: a pure function from prices to a battery
schedule, with no I/O and no host, so that it can be tested on plain lists.

A linear program solved by HiGHS (through ``scipy.optimize.milp``). Per
interval t of ``dt`` hours there are three variables: charge power ``c[t]``
and discharge power ``d[t]`` in kW at the grid side, and the stored energy
``s[t]`` in kWh at the end of the interval. The round-trip efficiency η is
split evenly, as in ``peak_shaving``::

    s[t] = s[t-1] + √η·c[t]·dt − d[t]·dt/√η        (s[-1] = initial energy)
    0 ≤ c[t] ≤ charge limit,  0 ≤ d[t] ≤ discharge limit
    soc_min·capacity ≤ s[t] ≤ soc_max·capacity
    s[last] ≥ s[-1]                                  (optional)

and the objective maximises Σ price[t]/1000 · (d[t] − c[t]) · dt (prices in
EUR/MWh, powers in kW, so revenue is in EUR).

Charging and discharging in the same interval never pays when the price is
≥ 0 (it only loses energy), and such intervals are netted after solving
without changing the stored energy. At a negative price, burning energy that
way would earn money, which a real battery cannot do; there a binary per
interval forbids it, which makes the problem a small MILP.

An interval whose price is missing (None or NaN) is idle: no charge, no
discharge, the stored energy carries over.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from algohost_price_arbitrage.params import Battery

Floats = npt.NDArray[np.float64]

#: Powers below this many kW are reported as 0: solver noise, not a decision.
POWER_TOLERANCE_KW = 1e-7


class OptimisationError(ValueError):
    """The prices or the battery do not allow a schedule, or HiGHS failed."""


@dataclass(frozen=True)
class Schedule:
    """A battery schedule, one value per interval.

    >>> from algohost_price_arbitrage import Battery, optimise
    >>> battery = Battery(capacity_kwh=10, power_kw=10, efficiency=1, soc_min=0, soc_max=1, soc_initial=0)
    >>> schedule = optimise([20.0, 120.0], 1.0, battery)
    >>> schedule.charge_kw.tolist(), schedule.discharge_kw.tolist(), schedule.soc_kwh.tolist()
    ([10.0, 0.0], [0.0, 10.0], [10.0, 0.0])
    >>> round(schedule.revenue_eur, 6)
    1.0
    """

    #: Price in EUR/MWh per interval (NaN where it was missing).
    price_eur_mwh: Floats
    #: Charge power in kW at the grid side (≥ 0).
    charge_kw: Floats
    #: Discharge power in kW at the grid side (≥ 0).
    discharge_kw: Floats
    #: Stored energy in kWh at the end of each interval.
    soc_kwh: Floats
    #: Revenue per interval in EUR: price · (discharge − charge) · dt.
    revenue_eur_per_interval: Floats
    #: Interval length in hours.
    dt_hours: float
    #: Stored energy in kWh before the first interval.
    soc_initial_kwh: float
    #: Whether binaries were needed (negative prices), i.e. a MILP was solved.
    used_integers: bool

    @property
    def revenue_eur(self) -> float:
        """Total revenue in EUR (negative: the schedule costs money)."""
        return float(self.revenue_eur_per_interval.sum())

    @property
    def intervals(self) -> int:
        """The number of intervals."""
        return len(self.charge_kw)

    def summary(self) -> dict[str, float | int | str]:
        """Totals of the schedule, rounded to 6 decimals (µEUR, mWh): the run's
        JSON summary."""
        charging = self.charge_kw > 0
        discharging = self.discharge_kw > 0
        totals: dict[str, float | int | str] = {
            "revenue_eur": self.revenue_eur,
            "energy_charged_kwh": float(self.charge_kw.sum() * self.dt_hours),
            "energy_discharged_kwh": float(self.discharge_kw.sum() * self.dt_hours),
            "soc_initial_kwh": self.soc_initial_kwh,
            "soc_final_kwh": float(self.soc_kwh[-1]),
            "intervals": self.intervals,
            "intervals_charging": int(charging.sum()),
            "intervals_discharging": int(discharging.sum()),
            "intervals_idle": int((~charging & ~discharging).sum()),
            "intervals_without_price": int(np.isnan(self.price_eur_mwh).sum()),
            "solver": "highs-milp" if self.used_integers else "highs-lp",
        }
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in totals.items()}


def optimise(
    prices: Sequence[float | None] | Floats,
    dt_hours: float,
    battery: Battery,
    *,
    end_soc_at_least_initial: bool = True,
    time_limit_s: float | None = None,
) -> Schedule:
    """Schedules ``battery`` for the greatest revenue against ``prices``
    (EUR/MWh, one per interval of ``dt_hours`` hours).

    ``end_soc_at_least_initial`` requires the stored energy at the end to be
    at least the initial one. ``time_limit_s`` bounds the solver's run time;
    reaching it without an optimal schedule is an ``OptimisationError``.
    """
    if not (math.isfinite(dt_hours) and dt_hours > 0):
        raise OptimisationError(
            f"the interval length must be a positive number of hours, got {dt_hours}"
        )
    price = np.array([np.nan if p is None else p for p in prices], dtype=np.float64)
    n = len(price)
    if n == 0:
        raise OptimisationError(
            "no prices to schedule against; check the price data point and start/end"
        )
    if np.isinf(price).any():
        i = int(np.flatnonzero(np.isinf(price))[0])
        raise OptimisationError(f"price {price[i]} at interval {i} is not a finite number")
    known = ~np.isnan(price)
    if not known.any():
        raise OptimisationError(
            f"all {n} prices are missing; choose a range where the price has values"
        )

    root_eta = math.sqrt(battery.efficiency)
    e_min = battery.soc_min * battery.capacity_kwh
    e_max = battery.soc_max * battery.capacity_kwh
    e_initial = battery.soc_initial * battery.capacity_kwh
    # EUR per kW over one interval (price/1000 EUR per kWh times dt hours).
    eur_per_kw = np.where(known, price, 0.0) / 1000.0 * dt_hours
    negative = known & (price < 0)
    binaries = np.flatnonzero(negative)
    m = len(binaries)

    # Variables: c[0..n], d[0..n], s[0..n], u[0..m] (u = 1: charging allowed).
    c, d, s, u = 0, n, 2 * n, 3 * n
    size = 3 * n + m
    objective = np.zeros(size)
    objective[c : c + n] = eur_per_kw
    objective[d : d + n] = -eur_per_kw

    charge_ub = np.where(known, battery.max_charge_kw, 0.0)
    discharge_ub = np.where(known, battery.max_discharge_kw, 0.0)
    lower = np.concatenate([np.zeros(2 * n), np.full(n, e_min), np.zeros(m)])
    upper = np.concatenate([charge_ub, discharge_ub, np.full(n, e_max), np.ones(m)])
    if end_soc_at_least_initial:
        lower[s + n - 1] = max(e_min, e_initial)

    # Energy balance, one row per interval:
    # s[t] − s[t-1] − √η·dt·c[t] + dt/√η·d[t] = (t == 0 ? e_initial : 0)
    rows = np.arange(n)
    balance = sparse.coo_array(
        (
            np.concatenate(
                [
                    np.ones(n),
                    -np.ones(n - 1),
                    np.full(n, -root_eta * dt_hours),
                    np.full(n, dt_hours / root_eta),
                ]
            ),
            (
                np.concatenate([rows, rows[1:], rows, rows]),
                np.concatenate([s + rows, s + rows[:-1], c + rows, d + rows]),
            ),
        ),
        shape=(n, size),
    )
    rhs = np.zeros(n)
    rhs[0] = e_initial
    constraints = [LinearConstraint(balance.tocsr(), rhs, rhs)]
    if m:
        # c[t] − P_c·u[k] ≤ 0 and d[t] + P_d·u[k] ≤ P_d: one direction at a time.
        k = np.arange(m)
        exclusive = sparse.coo_array(
            (
                np.concatenate(
                    [
                        np.ones(m),
                        np.full(m, -battery.max_charge_kw),
                        np.ones(m),
                        np.full(m, battery.max_discharge_kw),
                    ]
                ),
                (
                    np.concatenate([k, k, m + k, m + k]),
                    np.concatenate([c + binaries, u + k, d + binaries, u + k]),
                ),
            ),
            shape=(2 * m, size),
        )
        upper_rhs = np.concatenate([np.zeros(m), np.full(m, battery.max_discharge_kw)])
        constraints.append(LinearConstraint(exclusive.tocsr(), -np.inf, upper_rhs))
    integrality = np.zeros(size)
    integrality[u:] = 1

    options: dict[str, float | bool] = {"disp": False}
    if time_limit_s is not None:
        options["time_limit"] = max(time_limit_s, 0.001)
    result = milp(
        objective,
        integrality=integrality,
        bounds=Bounds(lower, upper),
        constraints=constraints,
        options=options,
    )
    if result.x is None or result.status != 0:
        raise OptimisationError(
            f"HiGHS found no optimal schedule: {result.message} (status {result.status})"
        )
    x: Floats = np.asarray(result.x, dtype=np.float64)

    charge = np.clip(x[c : c + n], 0.0, charge_ub)
    discharge = np.clip(x[d : d + n], 0.0, discharge_ub)
    charge, discharge = _net_simultaneous(charge, discharge, battery.efficiency)
    charge[charge < POWER_TOLERANCE_KW] = 0.0
    discharge[discharge < POWER_TOLERANCE_KW] = 0.0
    soc = e_initial + np.cumsum(root_eta * dt_hours * charge - dt_hours / root_eta * discharge)
    return Schedule(
        price_eur_mwh=price,
        charge_kw=charge,
        discharge_kw=discharge,
        soc_kwh=soc,
        revenue_eur_per_interval=eur_per_kw * (discharge - charge),
        dt_hours=dt_hours,
        soc_initial_kwh=e_initial,
        used_integers=m > 0,
    )


def _net_simultaneous(
    charge: Floats, discharge: Floats, efficiency: float
) -> tuple[Floats, Floats]:
    """Removes charging and discharging in the same interval without changing
    the stored energy: lowering c by δ and d by η·δ keeps √η·c − d/√η, and
    earns price·(1 − η)·δ ≥ 0 more where the price is ≥ 0. Where the price is
    negative, binaries already forbid the overlap, so δ is 0 there."""
    delta = np.minimum(charge, discharge / efficiency)
    return charge - delta, np.maximum(discharge - efficiency * delta, 0.0)
