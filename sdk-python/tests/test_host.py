"""``algohost.Host``: discovery, describe, validate, run and run_async."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import algohost
import fixture_plugins
import polars as pl
import pytest


def names(host: algohost.Host) -> dict[str, str]:
    """Algorithm name → source kind."""
    return {a["name"]: a["source"]["kind"] for a in host.algorithms()}


def test_algorithms_lists_builtin_and_python_sources(host: algohost.Host) -> None:
    listed = names(host)
    assert listed["resample"] == "builtin"
    for name in fixture_plugins.ENTRY_POINTS:
        assert listed[name] == "python"
    assert list(listed) == sorted(listed)
    assert host.diagnostics() == []


def test_dylib_plugins_come_from_the_plugin_path(
    peak_shaving_lib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALGOHOST_PLUGIN_PATH", str(peak_shaving_lib))
    assert names(algohost.Host())["peak_shaving"] == "dylib"
    monkeypatch.delenv("ALGOHOST_PLUGIN_PATH")
    assert "peak_shaving" not in names(algohost.Host())
    assert (
        names(algohost.Host(plugin_dirs=[str(peak_shaving_lib)]))["peak_shaving"]
        == "dylib"
    )


def test_describe_gives_the_manifest(host: algohost.Host) -> None:
    manifest = host.describe("echo")
    assert manifest["version"] == "1.0.0"
    assert (
        manifest["description"]
        == "Returns its params and what it knows about its context."
    )
    assert manifest["idempotent"] is True
    assert manifest["params_schema"]["required"] == ["limit_kw"]
    assert manifest["source"]["kind"] == "python"
    with pytest.raises(algohost.PluginError, match="unknown algorithm 'echoo'"):
        host.describe("echoo")


def test_validate_reports_every_error_with_its_pointer(host: algohost.Host) -> None:
    host.validate("echo", {"limit_kw": 5})
    with pytest.raises(algohost.ValidationError) as e:
        host.validate("echo", {"limit_kw": "x", "nope": 1})
    assert sorted(e.value.errors, key=lambda err: err["pointer"]) == [
        {
            "pointer": "",
            "message": "Additional properties are not allowed ('nope' was unexpected)",
        },
        {"pointer": "/limit_kw", "message": '"x" is not of type "number"'},
    ]
    assert "/limit_kw" in str(e.value)
    assert isinstance(e.value, ValueError)


def test_validate_an_unknown_algorithm(host: algohost.Host) -> None:
    with pytest.raises(algohost.PluginError, match="unknown algorithm 'nope'"):
        host.validate("nope", {})


def test_run_refuses_invalid_params_before_the_plugin_runs(host: algohost.Host) -> None:
    with pytest.raises(algohost.ValidationError) as e:
        host.run("schema_params", {"n": 0})
    assert [err["pointer"] for err in e.value.errors] == ["/n"]


def test_run_a_python_algorithm(host: algohost.Host) -> None:
    run = host.run("echo", {"limit_kw": 3})
    assert run.status == "succeeded"
    assert run.algorithm == "echo"
    assert run.version == "1.0.0"
    assert run.params == {"limit_kw": 3}
    assert run.summary == {
        "limit_kw": 3.0,
        "efficiency": 0.95,
        "is_context": True,
        "run_id": run.id,
        "algorithm": "echo",
    }
    assert run.error is None
    assert run.raise_for_status() is run


def test_params_reach_the_function_as_declared(host: algohost.Host) -> None:
    run = host.run("model_params", {"limit_kw": 1, "battery": {"capacity_kwh": 4}})
    assert run.summary == {"type": "ModelParams", "capacity_kwh": 4.0}
    assert host.run("schema_params", {"n": 2}).summary == {"type": "dict", "n": 2}


def test_run_returns_frames_as_polars_dataframes(host: algohost.Host) -> None:
    run = host.run("frames_out", {"rows": 4})
    assert run.summary == {"rows": 4}
    assert set(run.frames) == {"numbers", "letters"}
    assert isinstance(run.frames["numbers"], pl.DataFrame)
    assert run.frames["numbers"]["x"].to_list() == [0.0, 1.0, 2.0, 3.0]
    assert run.frames["letters"]["y"].to_list() == ["a", "b", "c", "a"]


def test_run_a_rust_algorithm(host: algohost.Host) -> None:
    run = host.run(
        "resample", {"names": ["site.load"], "resolution": "P1D"}
    ).raise_for_status()
    frame = run.frames["resampled"]
    assert isinstance(frame, pl.DataFrame)
    assert frame.height > 0


def test_a_rust_algorithm_gives_the_same_output_from_python_and_the_cli(
    host: algohost.Host,
    demo_data: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    params = {"names": ["site.load"], "resolution": "P1D"}
    from_python = host.run("resample", params).raise_for_status()
    capfd.readouterr()
    argv = [
        "algohost",
        "run",
        "resample",
        "--data",
        str(demo_data),
        "--params",
        json.dumps(params),
    ]
    assert algohost._native.cli_main([*argv, "--output", str(tmp_path)]) == 0
    printed = capfd.readouterr().out
    assert json.loads(printed[: printed.rindex("}") + 1]) == from_python.summary
    from_cli = pl.read_parquet(tmp_path / "resampled.parquet")
    assert from_cli.equals(from_python.frames["resampled"])


async def test_run_async_does_not_block_the_event_loop(host: algohost.Host) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    run = await host.run_async("ignores_cancel", {"seconds": 0.5})
    ticker.cancel()
    assert run.status == "succeeded"
    assert run.summary == {"slept": 0.5}
    assert ticks >= 10


async def test_run_async_runs_concurrently(host: algohost.Host) -> None:
    started = time.monotonic()
    runs = await asyncio.gather(
        *(host.run_async("ignores_cancel", {"seconds": 0.5}) for _ in range(2))
    )
    assert [r.status for r in runs] == ["succeeded", "succeeded"]
    assert time.monotonic() - started < 0.95


@pytest.mark.parametrize(
    ("name", "message", "exception", "raised_in"),
    [
        ("raises", "ValueError: boom from plugin", "ValueError", "fixture_plugins.py"),
        (
            "exits",
            "SystemExit: the plugin called sys.exit(3)",
            "SystemExit",
            "fixture_plugins.py",
        ),
        ("interrupts", "KeyboardInterrupt", "KeyboardInterrupt", "fixture_plugins.py"),
        (
            "bad_return",
            "algorithm `bad_return` returned an int",
            "TypeError",
            "_algorithm.py",
        ),
    ],
)
def test_a_failing_python_plugin_gives_a_failed_run(
    host: algohost.Host, name: str, message: str, exception: str, raised_in: str
) -> None:
    run = host.run(name)
    assert run.status == "failed"
    assert run.error is not None
    assert message in run.error["message"]
    assert run.error["details"]["exception"] == exception
    assert raised_in in run.error["details"]["traceback"]
    with pytest.raises(algohost.RunFailed) as e:
        run.raise_for_status()
    assert message in str(e.value)
    assert e.value.run is not None and e.value.run.id == run.id
    assert "Traceback" in json.dumps(e.value.details)
    # the host keeps serving
    assert host.run("echo", {"limit_kw": 1}).status == "succeeded"


def test_a_plugin_polling_check_ends_timed_out_at_its_deadline(
    host: algohost.Host,
) -> None:
    fixture_plugins.EVENTS["stopped"].clear()
    started = time.monotonic()
    run = host.run("polls_cancel", {"seconds": 10}, timeout=0.3)
    assert run.status == "timed_out"
    assert time.monotonic() - started < 5
    assert fixture_plugins.EVENTS["stopped"].wait(5)
    # at the deadline the runner cancels the run, so check() may say either
    assert isinstance(
        fixture_plugins.SEEN["stopped"], (algohost.Cancelled, algohost.TimedOut)
    )
    assert fixture_plugins.SEEN["is_cancelled"] is True
    with pytest.raises(algohost.TimedOut):
        run.raise_for_status()


def test_a_plugin_ignoring_cancellation_ends_timed_out_while_others_go_on(
    host: algohost.Host,
) -> None:
    started = time.monotonic()
    run = host.run("ignores_cancel", {"seconds": 3}, timeout=0.3)
    assert run.status == "timed_out"
    assert run.error is not None and run.error["kind"] == "timed_out"
    assert time.monotonic() - started < 2
    # the ignoring run still sleeps on its thread; others go on meanwhile
    assert host.run("echo", {"limit_kw": 2}).status == "succeeded"
    assert time.monotonic() - started < 2.5


async def test_cancelling_the_awaiting_task_cancels_the_run(
    host: algohost.Host,
) -> None:
    fixture_plugins.EVENTS["started"].clear()
    fixture_plugins.EVENTS["stopped"].clear()
    task = asyncio.ensure_future(host.run_async("polls_cancel", {"seconds": 20}))
    assert await asyncio.to_thread(fixture_plugins.EVENTS["started"].wait, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(fixture_plugins.EVENTS["stopped"].wait, 10)
    assert isinstance(fixture_plugins.SEEN["stopped"], algohost.Cancelled)
    assert fixture_plugins.SEEN["is_cancelled"] is True


def test_functions_given_to_the_host_run_without_being_installed(demo_data: Path) -> None:
    @algohost.algorithm(version="0.2.0")
    def notebook_peak(ctx: algohost.Context, series: str = "site.load") -> dict[str, float]:
        """Highest value of a series."""
        frame = ctx.read(algohost.DataPointFilter(names=[series]))
        return {"peak": float(frame[series].max())}  # type: ignore[arg-type]

    host = algohost.Host(data=str(demo_data), algorithms=[notebook_peak])
    listed = {a["name"]: a for a in host.algorithms()}
    assert listed["notebook_peak"]["source"]["kind"] == "python"
    assert listed["notebook_peak"]["source"]["entry_point"].endswith(
        ":test_functions_given_to_the_host_run_without_being_installed.<locals>.notebook_peak"
    )
    run = host.run("notebook_peak").raise_for_status()
    assert run.summary["peak"] > 0
    with pytest.raises(algohost.ValidationError):
        host.run("notebook_peak", {"series": 3})


def test_a_function_that_is_not_decorated_is_refused() -> None:
    def plain(ctx: algohost.Context) -> None:
        """Not an algorithm."""

    with pytest.raises(TypeError, match="decorate it with @algohost.algorithm"):
        algohost.Host(algorithms=[plain])


def test_bad_timeouts_params_and_data_say_what_to_pass(host: algohost.Host, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds, got -1"):
        host.run("resample", {}, timeout=-1)
    with pytest.raises(ValueError, match="params must be a dict of JSON values"):
        host.run("resample", {"names": object()})
    with pytest.raises(algohost.AlgohostError, match="cannot open the data at"):
        host.run("resample", {}, data="ftp://nowhere")
    with pytest.raises(algohost.AlgohostError, match="no such data directory '.*demo-dta'"):
        algohost.Host(data=str(tmp_path / "demo-dta"))
    assert not (tmp_path / "demo-dta").exists()
