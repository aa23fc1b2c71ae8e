"""The optimisation on hand-checkable inputs and on the demo prices: every
interval within every constraint, and at least the revenue of a greedy rule."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from algohost_price_arbitrage import Battery, OptimisationError, Schedule, optimise
from algohost_price_arbitrage.core import Floats

TOL = 1e-6


def ideal(**overrides: float) -> Battery:
    """A lossless 10 kWh / 10 kW battery usable from empty to full, starting empty."""
    values: dict[str, float] = {
        "capacity_kwh": 10,
        "power_kw": 10,
        "efficiency": 1,
        "soc_min": 0,
        "soc_max": 1,
        "soc_initial": 0,
    }
    values.update(overrides)
    return Battery.model_validate(values)


def assert_feasible(
    schedule: Schedule, battery: Battery, *, end_soc_at_least_initial: bool
) -> None:
    """Every interval respects power limits, SoC bounds and SoC continuity
    with the efficiency; revenue is price × (discharge − charge) × dt."""
    root_eta = math.sqrt(battery.efficiency)
    dt = schedule.dt_hours
    c, d, soc = schedule.charge_kw, schedule.discharge_kw, schedule.soc_kwh
    assert (c >= 0).all() and (d >= 0).all()
    assert (c <= battery.max_charge_kw + TOL).all()
    assert (d <= battery.max_discharge_kw + TOL).all()
    assert not ((c > TOL) & (d > TOL)).any(), "charges and discharges in the same interval"
    assert (soc >= battery.soc_min * battery.capacity_kwh - TOL).all()
    assert (soc <= battery.soc_max * battery.capacity_kwh + TOL).all()
    before = np.concatenate([[schedule.soc_initial_kwh], soc[:-1]])
    np.testing.assert_allclose(soc - before, root_eta * c * dt - d * dt / root_eta, atol=TOL)
    missing = np.isnan(schedule.price_eur_mwh)
    assert (c[missing] == 0).all() and (d[missing] == 0).all()
    price = np.where(missing, 0.0, schedule.price_eur_mwh)
    np.testing.assert_allclose(
        schedule.revenue_eur_per_interval, price / 1000 * dt * (d - c), atol=TOL
    )
    if end_soc_at_least_initial:
        assert soc[-1] >= schedule.soc_initial_kwh - TOL


def greedy_revenue(prices: Floats, dt_hours: float, battery: Battery, block: int) -> float:
    """The greedy baseline: in each block of ``block`` intervals (a day), charge
    at full power in the k cheapest intervals and discharge in the k dearest,
    k being how many full-power intervals fill the usable capacity, when the
    spread pays for the losses; power is cut where the SoC bounds bind."""
    root_eta = math.sqrt(battery.efficiency)
    e_min = battery.soc_min * battery.capacity_kwh
    e_max = battery.soc_max * battery.capacity_kwh
    k = max(1, math.ceil((e_max - e_min) / (battery.max_charge_kw * root_eta * dt_hours)))
    charge, discharge = np.zeros(len(prices)), np.zeros(len(prices))
    stored = battery.soc_initial * battery.capacity_kwh
    for begin in range(0, len(prices), block):
        window = prices[begin : begin + block]
        order = np.argsort(window, kind="stable")
        k_here = min(k, len(window) // 2)
        cheap, dear = set(order[:k_here] + begin), set(order[len(window) - k_here :] + begin)
        if (
            window[order[len(window) - k_here :]].mean() * battery.efficiency
            <= window[order[:k_here]].mean()
        ):
            continue
        for t in range(begin, begin + len(window)):
            if t in cheap:
                charge[t] = max(
                    0.0, min(battery.max_charge_kw, (e_max - stored) / (root_eta * dt_hours))
                )
                stored += charge[t] * root_eta * dt_hours
            elif t in dear:
                discharge[t] = max(
                    0.0, min(battery.max_discharge_kw, (stored - e_min) * root_eta / dt_hours)
                )
                stored -= discharge[t] / root_eta * dt_hours
            assert e_min - TOL <= stored <= e_max + TOL
    return float((prices / 1000 * dt_hours * (discharge - charge)).sum())


# Hand-checkable cases ------------------------------------------------------


def test_two_prices_charge_low_discharge_high() -> None:
    schedule = optimise([20.0, 120.0], 1.0, ideal())
    assert schedule.charge_kw.tolist() == [10.0, 0.0]
    assert schedule.discharge_kw.tolist() == [0.0, 10.0]
    assert schedule.soc_kwh.tolist() == [10.0, 0.0]
    assert schedule.revenue_eur == pytest.approx(1.0)  # 10 kWh × (0.12 − 0.02) EUR/kWh


def test_efficiency_losses_on_both_sides() -> None:
    # √0.81 = 0.9: 10 kW for 1 h stores 9 kWh, which delivers 8.1 kWh.
    schedule = optimise([20.0, 120.0], 1.0, ideal(efficiency=0.81))
    np.testing.assert_allclose(schedule.charge_kw, [10.0, 0.0])
    np.testing.assert_allclose(schedule.discharge_kw, [0.0, 8.1])
    np.testing.assert_allclose(schedule.soc_kwh, [9.0, 0.0], atol=TOL)
    assert schedule.revenue_eur == pytest.approx(-0.2 + 8.1 * 0.12)


def test_a_spread_smaller_than_the_losses_is_not_traded() -> None:
    schedule = optimise([100.0, 110.0], 1.0, ideal(efficiency=0.81))
    assert schedule.charge_kw.tolist() == [0.0, 0.0]
    assert schedule.discharge_kw.tolist() == [0.0, 0.0]
    assert schedule.revenue_eur == 0.0


def test_soc_bounds_and_power_limits() -> None:
    battery = ideal(soc_min=0.1, soc_max=0.9, soc_initial=0.5, power_kw=3)
    schedule = optimise(
        [10.0, 20.0, 100.0, 90.0, 80.0], 1.0, battery, end_soc_at_least_initial=False
    )
    # 4 kWh of room: 3 + 1 kWh charged; 8 kWh above the minimum: 3 + 3 + 2 discharged.
    np.testing.assert_allclose(schedule.charge_kw, [3.0, 1.0, 0.0, 0.0, 0.0], atol=TOL)
    np.testing.assert_allclose(schedule.discharge_kw, [0.0, 0.0, 3.0, 3.0, 2.0], atol=TOL)
    np.testing.assert_allclose(schedule.soc_kwh, [8.0, 9.0, 6.0, 3.0, 1.0], atol=TOL)
    assert schedule.revenue_eur == pytest.approx(-(0.03 + 0.02) + (0.3 + 0.27 + 0.16))


def test_separate_charge_and_discharge_limits() -> None:
    battery = ideal(charge_kw=5, discharge_kw=10)
    schedule = optimise([10.0, 10.0, 100.0], 1.0, battery)
    np.testing.assert_allclose(schedule.charge_kw, [5.0, 5.0, 0.0], atol=TOL)
    np.testing.assert_allclose(schedule.discharge_kw, [0.0, 0.0, 10.0], atol=TOL)


def test_end_soc_at_least_initial() -> None:
    battery = ideal(soc_initial=0.5)
    free = optimise([100.0, 10.0], 1.0, battery, end_soc_at_least_initial=False)
    assert free.revenue_eur == pytest.approx(0.5)  # sells the 5 kWh it holds
    assert free.soc_kwh[-1] == pytest.approx(0.0, abs=TOL)
    bound = optimise([100.0, 10.0], 1.0, battery)
    assert bound.revenue_eur == pytest.approx(0.5 - 0.05)  # and buys them back
    assert bound.soc_kwh[-1] == pytest.approx(5.0)


def test_negative_prices_never_charge_and_discharge_at_once() -> None:
    # A relaxed LP would charge at full power and discharge at the same time
    # to burn energy for money; the binaries forbid that.
    schedule = optimise([-50.0, -50.0], 1.0, ideal(efficiency=0.81), end_soc_at_least_initial=False)
    assert schedule.used_integers
    assert schedule.discharge_kw.tolist() == [0.0, 0.0]
    np.testing.assert_allclose(schedule.charge_kw, [10.0, 1.0 / 0.9], atol=TOL)
    assert schedule.revenue_eur == pytest.approx((10 + 1 / 0.9) * 0.05)
    assert_feasible(schedule, ideal(efficiency=0.81), end_soc_at_least_initial=False)


def test_missing_prices_are_idle() -> None:
    schedule = optimise([10.0, None, float("nan"), 100.0], 1.0, ideal())
    assert schedule.charge_kw.tolist() == [10.0, 0.0, 0.0, 0.0]
    assert schedule.discharge_kw.tolist() == [0.0, 0.0, 0.0, 10.0]
    assert schedule.summary()["intervals_without_price"] == 2


def test_quarter_hours() -> None:
    schedule = optimise([20.0] * 4 + [120.0] * 4, 0.25, ideal())
    assert schedule.revenue_eur == pytest.approx(1.0)
    assert schedule.soc_kwh.tolist()[3] == pytest.approx(10.0)


def test_summary() -> None:
    summary = optimise([20.0, 120.0], 1.0, ideal()).summary()
    assert summary == {
        "revenue_eur": 1.0,
        "energy_charged_kwh": 10.0,
        "energy_discharged_kwh": 10.0,
        "soc_initial_kwh": 0.0,
        "soc_final_kwh": 0.0,
        "intervals": 2,
        "intervals_charging": 1,
        "intervals_discharging": 1,
        "intervals_idle": 0,
        "intervals_without_price": 0,
        "solver": "highs-lp",
    }


@pytest.mark.parametrize(
    ("prices", "dt_hours", "message"),
    [
        ([], 1.0, "no prices to schedule against"),
        ([None, None], 1.0, "all 2 prices are missing"),
        ([1.0, float("inf")], 1.0, "price inf at interval 1 is not a finite number"),
        ([1.0], 0.0, "the interval length must be a positive number of hours, got 0.0"),
        ([1.0], float("nan"), "the interval length must be a positive number of hours"),
    ],
)
def test_bad_inputs(prices: list[float | None], dt_hours: float, message: str) -> None:
    with pytest.raises(OptimisationError, match=message.replace("(", r"\(")):
        optimise(prices, dt_hours, ideal())


# The demo prices ------------------------------------------------------------

DEMO_BATTERY = Battery(
    capacity_kwh=200, power_kw=100, efficiency=0.9, soc_min=0.1, soc_max=0.9, soc_initial=0.5
)


@pytest.mark.parametrize("end_soc_at_least_initial", [False, True])
def test_demo_prices_every_interval_is_feasible(
    demo_prices: pl.DataFrame, end_soc_at_least_initial: bool
) -> None:
    prices = demo_prices.get_column("value").to_numpy()
    assert (prices < 0).any(), "the demo data should exercise negative prices"
    schedule = optimise(
        prices, 1.0, DEMO_BATTERY, end_soc_at_least_initial=end_soc_at_least_initial
    )
    assert schedule.intervals == demo_prices.height
    assert_feasible(schedule, DEMO_BATTERY, end_soc_at_least_initial=end_soc_at_least_initial)
    assert schedule.revenue_eur > 0


@pytest.mark.parametrize(
    "battery",
    [
        DEMO_BATTERY,
        Battery(
            capacity_kwh=100,
            power_kw=25,
            efficiency=0.85,
            soc_min=0.0,
            soc_max=1.0,
            soc_initial=0.0,
        ),
        Battery(capacity_kwh=50, power_kw=100, charge_kw=20, efficiency=1.0, soc_initial=0.1),
    ],
)
def test_demo_prices_earn_at_least_the_greedy_rule(
    demo_prices: pl.DataFrame, battery: Battery
) -> None:
    prices = demo_prices.get_column("value").to_numpy()
    baseline = greedy_revenue(prices, 1.0, battery, block=24)
    schedule = optimise(prices, 1.0, battery, end_soc_at_least_initial=False)
    assert_feasible(schedule, battery, end_soc_at_least_initial=False)
    assert baseline > 0
    assert schedule.revenue_eur >= baseline - TOL
