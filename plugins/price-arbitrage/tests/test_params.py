"""Params validation: every bad input names what is wrong."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from algohost_price_arbitrage import Battery, Params


def test_defaults_mirror_peak_shaving() -> None:
    params = Params.model_validate({"battery": {"capacity_kwh": 100, "power_kw": 50}})
    assert params.price == "market.day_ahead"
    assert params.end_soc_at_least_initial
    battery = params.battery
    assert (battery.efficiency, battery.soc_min, battery.soc_max, battery.soc_initial) == (
        0.9,
        0.1,
        0.9,
        0.5,
    )
    assert (battery.max_charge_kw, battery.max_discharge_kw) == (50, 50)


@pytest.mark.parametrize(
    ("battery", "message"),
    [
        ({"efficiency": 0}, "efficiency\n  Input should be greater than 0"),
        ({"efficiency": 1.2}, "efficiency\n  Input should be less than or equal to 1"),
        ({"capacity_kwh": 0}, "capacity_kwh\n  Input should be greater than 0"),
        ({"power_kw": -1}, "power_kw\n  Input should be greater than or equal to 0"),
        ({"soc_min": 0.6, "soc_max": 0.4}, r"soc_min \(0.6\) must not exceed soc_max \(0.4\)"),
        (
            {"soc_initial": 0.95},
            r"soc_initial \(0.95\) must lie between soc_min \(0.1\) and soc_max \(0.9\)",
        ),
        ({"capacity": 10}, "capacity\n  Extra inputs are not permitted"),
    ],
)
def test_bad_battery(battery: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        Battery.model_validate({"capacity_kwh": 10, "power_kw": 5, **battery})


def test_start_must_be_before_end() -> None:
    with pytest.raises(
        pydantic.ValidationError, match=r"start \(2026-03-02T00:00:00\+00:00\) must be before end"
    ):
        Params.model_validate(
            {
                "battery": {"capacity_kwh": 1, "power_kw": 1},
                "start": "2026-03-02T00:00:00Z",
                "end": "2026-03-01T00:00:00Z",
            }
        )


def test_start_needs_an_offset() -> None:
    with pytest.raises(pydantic.ValidationError, match="start .* needs a UTC offset"):
        Params.model_validate(
            {"battery": {"capacity_kwh": 1, "power_kw": 1}, "start": "2026-03-02T00:00:00"}
        )


def test_schema_documents_every_field() -> None:
    schema = Params.model_json_schema()
    battery = schema["$defs"]["Battery"]["properties"]
    assert battery["efficiency"]["exclusiveMinimum"] == 0 and battery["efficiency"]["maximum"] == 1
    assert all("description" in p for p in [*schema["properties"].values(), *battery.values()])
