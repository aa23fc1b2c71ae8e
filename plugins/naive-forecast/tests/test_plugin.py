"""``naive_forecast`` through ``algohost.Host`` on the demo data."""

from __future__ import annotations

import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import polars as pl
import pytest

algohost = pytest.importorskip("algohost")

if not any(ep.name == "naive_forecast" for ep in entry_points(group="algohost.algorithms")):
    pytest.skip(
        "naive_forecast is not installed: pip install -e plugins/naive-forecast",
        allow_module_level=True,
    )

UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def host(demo_dir: Path) -> Any:
    return algohost.Host(data=str(demo_dir))


def run(host: Any, params: dict[str, Any]) -> Any:
    result = host.run("naive_forecast", params)
    assert result.status == "succeeded", result.error
    return result


def test_manifest(host: Any) -> None:
    manifest = host.describe("naive_forecast")
    assert manifest["outputs"] == [{"name": "forecast", "columns": ["ts", "value"]}]
    assert manifest["description"].startswith("Seasonal naive forecast of one series")
    assert set(manifest["params_schema"]["properties"]) == {"series", "days", "day", "time_zone"}


def test_next_day_repeats_the_last_day(host: Any, demo_load: pl.DataFrame) -> None:
    result = run(host, {})
    forecast = result.frames["forecast"]
    assert result.summary["day"] == "2026-06-01"
    assert result.summary["series"] == "site.load" and result.summary["unit"] == "kW"
    assert forecast.height == 96
    last_day = demo_load.filter(pl.col("ts") >= datetime.datetime(2026, 5, 30, 22, tzinfo=UTC))
    assert forecast.get_column("value").to_list() == last_day.get_column("value").to_list()
    assert forecast.get_column("ts")[0] == datetime.datetime(2026, 5, 31, 22, tzinfo=UTC)


def test_a_past_day_over_a_week(host: Any, demo_load: pl.DataFrame) -> None:
    result = run(host, {"day": "2026-03-29", "days": 7})
    forecast = result.frames["forecast"]
    assert forecast.height == 92  # spring forward: 23 hours
    assert result.summary["days_with_data"] == 7
    # 00:00 local on the 29th: the mean of 00:00 on the 22nd…28th (23:00 UTC the day before).
    midnights = [datetime.datetime(2026, 3, d, 23, tzinfo=UTC) for d in range(21, 28)]
    expected = demo_load.filter(pl.col("ts").is_in(midnights)).get_column("value").mean()
    assert forecast.get_column("value")[0] == pytest.approx(expected)


def test_utc_days(host: Any) -> None:
    result = run(host, {"day": "2026-03-29", "time_zone": "UTC"})
    assert result.frames["forecast"].height == 96
    assert result.frames["forecast"].get_column("ts")[0] == datetime.datetime(
        2026, 3, 29, tzinfo=UTC
    )


def test_other_series(host: Any) -> None:
    result = run(host, {"series": "market.day_ahead"})
    assert result.frames["forecast"].height == 24


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"series": "site.laod"},
            "params.series: unknown data point 'site.laod' (did you mean 'site.load'?); known names: ",
        ),
        ({"time_zone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_input_fails_with_a_clear_message(
    host: Any, params: dict[str, Any], message: str
) -> None:
    result = host.run("naive_forecast", params)
    assert result.status == "failed"
    assert message in str(result.error)


def test_a_day_without_history_is_invalid_input(host: Any) -> None:
    # The caller's mistake, not the plugin's: `algohost run` exits 2 for it.
    result = host.run("naive_forecast", {"day": "2026-02-01", "days": 7})
    message = (
        "data point 'site.load' has no values in the 7 day(s) before 2026-02-01 "
        "(Europe/Berlin); choose a day that follows the history, or more days"
    )
    assert (result.status, result.error["kind"]) == ("failed", "invalid_input")
    assert result.error["message"] == f"invalid input: {message}"
    assert result.error["details"] == {"errors": [{"pointer": "/day", "message": message}]}


def test_days_must_be_positive(host: Any) -> None:
    with pytest.raises(algohost.ValidationError) as raised:
        host.validate("naive_forecast", {"days": 0})
    assert [e["pointer"] for e in raised.value.errors] == ["/days"]
