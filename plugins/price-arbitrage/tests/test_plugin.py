"""``price_arbitrage`` through ``algohost.Host``: the manifest, a run on the
demo data (the same schedule as calling ``optimise`` directly), options and
the messages of bad input."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from algohost_price_arbitrage import Battery, optimise

algohost = pytest.importorskip("algohost")

if not any(ep.name == "price_arbitrage" for ep in entry_points(group="algohost.algorithms")):
    pytest.skip(
        "price_arbitrage is not installed: pip install -e plugins/price-arbitrage",
        allow_module_level=True,
    )

BATTERY = {"capacity_kwh": 200, "power_kw": 100}


@pytest.fixture(scope="module")
def host(demo_dir: Path) -> Any:
    return algohost.Host(data=str(demo_dir))


def run(host: Any, params: dict[str, Any]) -> Any:
    result = host.run("price_arbitrage", params)
    assert result.status == "succeeded", result.error
    return result


def test_manifest(host: Any) -> None:
    manifest = host.describe("price_arbitrage")
    assert manifest["version"] == "0.1.0"
    assert manifest["description"].startswith("Schedules a battery against a price series")
    assert manifest["outputs"] == [
        {
            "name": "schedule",
            "columns": [
                "ts",
                "price_eur_mwh",
                "charge_kw",
                "discharge_kw",
                "soc_kwh",
                "revenue_eur",
            ],
        }
    ]
    assert manifest["params_schema"]["properties"]["price"]["default"] == "market.day_ahead"


def test_demo_run_matches_the_optimisation(host: Any, demo_prices: pl.DataFrame) -> None:
    result = run(host, {"battery": BATTERY})
    schedule = result.frames["schedule"]
    assert schedule.columns == [
        "ts",
        "price_eur_mwh",
        "charge_kw",
        "discharge_kw",
        "soc_kwh",
        "revenue_eur",
    ]
    assert schedule.get_column("ts").to_list() == demo_prices.get_column("ts").to_list()
    direct = optimise(demo_prices.get_column("value").to_numpy(), 1.0, Battery(**BATTERY))
    assert result.summary == direct.summary()
    np.testing.assert_allclose(schedule.get_column("soc_kwh").to_numpy(), direct.soc_kwh)
    assert schedule.get_column("soc_kwh").min() >= 0.1 * 200 - 1e-6
    assert schedule.get_column("soc_kwh").max() <= 0.9 * 200 + 1e-6
    assert result.summary["revenue_eur"] > 0
    assert result.summary["soc_final_kwh"] >= result.summary["soc_initial_kwh"] - 1e-6
    assert result.progress == 1.0


def test_range_and_resolution(host: Any) -> None:
    week = {"start": "2026-03-02T00:00:00Z", "end": "2026-03-09T00:00:00Z"}
    hourly = run(host, {"battery": BATTERY, **week})
    assert hourly.frames["schedule"].height == 7 * 24
    quarter = run(host, {"battery": BATTERY, **week, "resolution": "PT15M"})
    frame = quarter.frames["schedule"]
    assert frame.height == 7 * 96
    # The price repeats over the four quarter hours of each hour.
    assert (
        frame.get_column("price_eur_mwh").to_list()[:4]
        == [hourly.frames["schedule"].get_column("price_eur_mwh")[0]] * 4
    )
    # A finer schedule can do at least what the hourly one does.
    assert quarter.summary["revenue_eur"] >= hourly.summary["revenue_eur"] - 1e-6


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"price": "market.day_ahed"},
            "params.price: unknown data point 'market.day_ahed' (did you mean 'market.day_ahead'?)",
        ),
        ({"price": "site.load"}, "data point 'site.load' measures power, not price"),
        (
            {"battery": {**BATTERY, "soc_initial": 0.95}},
            "soc_initial (0.95) must lie between soc_min (0.1) and soc_max (0.9)",
        ),
        ({"resolution": "P1D"}, "resolution 'P1D' is not a fixed ISO 8601 duration"),
        (
            {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"},
            "no samples of price data point 'market.day_ahead' in the selected range",
        ),
    ],
)
def test_bad_input_fails_with_a_clear_message(
    host: Any, params: dict[str, Any], message: str
) -> None:
    result = host.run("price_arbitrage", {"battery": BATTERY, **params})
    assert result.status == "failed"
    assert message in str(result.error)
    # Input the run cannot use, not the plugin's own failure (exit code 2).
    assert result.error["kind"] == "invalid_input", result.error


def test_schema_errors_name_the_field(host: Any) -> None:
    with pytest.raises(algohost.ValidationError) as raised:
        host.validate(
            "price_arbitrage", {"battery": {"capacity_kwh": 10, "power_kw": 5, "efficiency": 2}}
        )
    assert any(e["pointer"] == "/battery/efficiency" for e in raised.value.errors)
