"""Resolutions and price units."""

from __future__ import annotations

import pytest

from algohost_price_arbitrage.units import eur_per_mwh_factor, resolution_hours


@pytest.mark.parametrize(
    ("resolution", "hours"), [("PT15M", 0.25), ("PT1H", 1.0), ("PT30S", 1 / 120), ("PT2H30M", 2.5)]
)
def test_resolution_hours(resolution: str, hours: float) -> None:
    assert resolution_hours(resolution) == pytest.approx(hours)


@pytest.mark.parametrize("resolution", ["P1D", "P1M", "PT", "15min", "PT0M"])
def test_calendar_or_bad_resolutions_are_refused(resolution: str) -> None:
    with pytest.raises(ValueError, match="resolution"):
        resolution_hours(resolution)


@pytest.mark.parametrize(
    ("unit", "factor"), [("EUR/MWh", 1.0), ("EUR/kWh", 1000.0), ("ct/kWh", 10.0), ("€/MWh", 1.0)]
)
def test_price_units(unit: str, factor: float) -> None:
    assert eur_per_mwh_factor(unit) == pytest.approx(factor)


@pytest.mark.parametrize("unit", ["USD/MWh", "EUR", "kW"])
def test_unsupported_price_units(unit: str) -> None:
    with pytest.raises(
        ValueError, match=f"price unit '{unit}' is not supported; use a currency per energy"
    ):
        eur_per_mwh_factor(unit)
