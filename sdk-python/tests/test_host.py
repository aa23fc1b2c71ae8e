"""``algohost.Host``: discovery, describe, validate, run and run_async."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import json
import re
import subprocess
import sys
import time
import zoneinfo
from pathlib import Path
from collections.abc import Callable, Coroutine
from typing import Any

import algohost
import fixture_plugins
import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import polars as pl
import pydantic
import pytest
from conftest import run_python


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
            "message": "Additional properties are not allowed ('nope' was unexpected); "
            "the properties here are efficiency, limit_kw",
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


BUSY_PAST_ITS_TIMEOUT = (
    "import algohost, asyncio, sys, time\n"
    "@algohost.algorithm\n"
    "def busy(ctx, seconds: float = 5.0):\n"
    "    try:\n"
    "        end = time.monotonic() + seconds\n"
    "        while time.monotonic() < end:\n"
    "            time.sleep(0.05)\n"
    "            ctx.progress(0.5, 'working')\n"
    "            ctx.log.info('working')\n"
    "    except BaseException as e:\n"
    "        print('the plugin stopped:', repr(e), flush=True)\n"
    "        raise\n"
    "algohost.init('debug')\n"
    "host = algohost.Host(algorithms=[busy])\n"
    "if sys.argv[1] == 'run':\n"
    "    run = host.run('busy', timeout=0.3)\n"
    "else:\n"
    "    run = asyncio.run(host.run_async('busy', timeout=0.3))\n"
    "print(run.status, flush=True)\n"
)


@pytest.mark.parametrize("how", ["run", "run_async"])
def test_the_program_ends_cleanly_while_a_timed_out_plugin_still_runs(how: str) -> None:
    # The plugin ignores cancellation and goes on calling its context; at
    # exit it gets algohost.Cancelled, instead of the interpreter crashing
    # under it (Fatal Python error: PyGILState_Release, exit code 134).
    result = subprocess.run(
        [sys.executable, "-c", BUSY_PAST_ITS_TIMEOUT, how],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout.splitlines()) == (
        0,
        ["timed_out", "the plugin stopped: Cancelled('the run was cancelled')"],
    ), result.stderr
    assert "Fatal Python error" not in result.stderr
    # it stopped at once: no word of waiting for it
    assert "waiting up to" not in result.stderr


ENDS_RIGHT_AFTER_RUN_ASYNC = (
    "import asyncio, algohost\n"
    "@algohost.algorithm(version='0.1.0')\n"
    "def quick(ctx) -> dict:\n"
    "    return {'ok': 1}\n"
    "host = algohost.Host(algorithms=[quick])\n"
    "print(asyncio.run(host.run_async('quick', {})).status)\n"
)


def test_a_program_ending_right_after_run_async_exits_cleanly() -> None:
    # run_async's future was settled from a thread exit::shutdown did not
    # wait for, which finalization then crashed under (Fatal Python error:
    # PyGILState_Release, exit code 134) about one run in five: 30 runs.
    def end() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", ENDS_RIGHT_AFTER_RUN_ASYNC],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: end(), range(30)))
    crashed = [r for r in results if r.returncode != 0 or r.stderr]
    assert not crashed, (
        f"{len(crashed)} of {len(results)} runs failed, the first with exit code "
        f"{crashed[0].returncode}:\n{crashed[0].stderr}"
    )
    assert {r.stdout for r in results} == {"succeeded\n"}


def test_a_plugin_stuck_past_the_exit_grace_ends_the_process_with_code_1() -> None:
    code = (
        "import algohost, time\n"
        "@algohost.algorithm\n"
        "def stuck(ctx):\n"
        "    time.sleep(30)\n"
        "host = algohost.Host(algorithms=[stuck])\n"
        "print(host.run('stuck', timeout=0.1).status, flush=True)\n"
        "algohost._native._shutdown(0.5)  # what atexit calls, with 10 s\n"
        "print('not reached')\n"
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (1, "timed_out\n"), result.stderr
    assert result.stderr == (
        "algohost: waiting up to 0.5s for 1 run(s) still in their plugin (given up at their "
        "timeout or cancelled, and not checking ctx.is_cancelled()) to stop before Python "
        "exits: finalizing under a Python plugin would crash it, so one still running then "
        "ends the process with exit code 1\n"
        "algohost: 1 Python plugin(s) of runs given up at their timeout or cancelled "
        "still run 0.5s after the program ended (they do not check ctx.is_cancelled()); "
        "exiting now with code 1 without finalizing Python, which would crash under them\n"
    )
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("start", [asyncio.ensure_future, asyncio.create_task])
async def test_cancelling_the_awaiting_task_cancels_the_run(
    host: algohost.Host,
    start: Callable[[Coroutine[Any, Any, algohost.Run]], asyncio.Future[algohost.Run]],
) -> None:
    fixture_plugins.EVENTS["started"].clear()
    fixture_plugins.EVENTS["stopped"].clear()
    task = start(host.run_async("polls_cancel", {"seconds": 20}))
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


def test_frames_the_outputs_do_not_declare_fail_the_run() -> None:
    @algohost.algorithm(outputs=["schedule: ts, battery_kw"])
    def plan(ctx: algohost.Context, frame: str = "schedule") -> algohost.Output:
        """Returns one frame under the name it is given."""
        return algohost.Output(frames={frame: pl.DataFrame({"ts": [1], "battery_kw": [2.0]})})

    host = algohost.Host(algorithms=[plan])
    assert host.run("plan").raise_for_status().frames["schedule"].columns == ["ts", "battery_kw"]
    run = host.run("plan", {"frame": "schedul"})
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["message"] == (
        "the algorithm returned a frame 'schedul', which its outputs do not declare "
        "(they declare: schedule); declare it or rename the frame"
    )


class DispatchBattery(pydantic.BaseModel):
    soc_min: float = 0.1
    soc_max: float = 0.9

    @pydantic.model_validator(mode="after")
    def ordered(self) -> DispatchBattery:
        if self.soc_min >= self.soc_max:
            raise ValueError("soc_min must be below soc_max")
        return self


class DispatchParams(pydantic.BaseModel):
    batteries: list[DispatchBattery]
    limit_kw: float

    @pydantic.field_validator("limit_kw")
    @classmethod
    def not_zero(cls, limit_kw: float) -> float:
        if limit_kw == 0:
            raise ValueError("limit_kw must not be 0")
        return limit_kw


def test_params_a_pydantic_validator_refuses_fail_the_run_as_invalid_input() -> None:
    @algohost.algorithm
    def dispatch(ctx: algohost.Context, params: DispatchParams) -> dict[str, int]:
        """Counts the batteries."""
        return {"batteries": len(params.batteries)}

    host = algohost.Host(algorithms=[dispatch])
    params = {"batteries": [{}, {"soc_min": 0.9, "soc_max": 0.1}], "limit_kw": 0}
    run = host.run("dispatch", params)
    assert run.status == "failed"
    assert run.error == {
        "kind": "invalid_input",
        "message": "invalid input: invalid params for 'dispatch' (2 errors):\n"
        "  /batteries/1: soc_min must be below soc_max\n"
        "  /limit_kw: limit_kw must not be 0",
        "details": {
            "errors": [
                {"pointer": "/batteries/1", "message": "soc_min must be below soc_max"},
                {"pointer": "/limit_kw", "message": "limit_kw must not be 0"},
            ]
        },
    }
    with pytest.raises(algohost.RunFailed) as e:
        run.raise_for_status()
    assert e.value.kind == "invalid_input"
    assert host.run("dispatch", {"batteries": [{}], "limit_kw": 5}).summary == {"batteries": 1}


def test_a_function_that_is_not_decorated_is_refused() -> None:
    def plain(ctx: algohost.Context) -> None:
        """Not an algorithm."""

    with pytest.raises(TypeError, match="decorate it with @algohost.algorithm"):
        algohost.Host(algorithms=[plain])

    @algohost.algorithm
    def alone(ctx: algohost.Context) -> None:
        """Passed without a list."""

    with pytest.raises(TypeError) as e:
        algohost.Host(algorithms=alone)  # type: ignore[arg-type]
    assert str(e.value) == (
        "algorithms must be a list of functions decorated with @algohost.algorithm "
        "(algorithms=[f]), got a function"
    )


def test_bad_timeouts_params_and_data_say_what_to_pass(host: algohost.Host, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"timeout must be a number of seconds from 0.001 to 2592000 \(30 days\), got -1"):
        host.run("resample", {}, timeout=-1)
    with pytest.raises(ValueError, match=r"from 0.001 to 2592000 \(30 days\), got 0"):
        host.run("resample", {}, timeout=0)
    with pytest.raises(algohost.ValidationError) as e:
        host.run("resample", {"names": object()})
    assert e.value.errors == [
        {
            "pointer": "/names",
            "message": "an object is not a JSON value; params are dicts, lists, str, "
            "int, float, bool and None",
        }
    ]
    with pytest.raises(TypeError, match=r"params of 'resample' must be a dict \(a JSON object\), got a list"):
        host.run("resample", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(algohost.AlgohostError, match="cannot open the data at"):
        host.run("resample", {}, data="ftp://nowhere")
    with pytest.raises(algohost.AlgohostError, match="no such data directory '.*demo-dta'"):
        algohost.Host(data=str(tmp_path / "demo-dta"))
    assert not (tmp_path / "demo-dta").exists()


def test_params_that_are_not_json_are_refused_with_their_pointers(
    host: algohost.Host,
) -> None:
    params = {
        "limit_kw": float("nan"),
        "efficiency": float("inf"),
        "start": datetime.datetime(2026, 3, 1),
        "every": datetime.timedelta(hours=1),
        "names": {"site.load"},
        "a/b": {1: "x"},
        "big": 10**30,
    }
    with pytest.raises(algohost.ValidationError) as e:
        host.validate("echo", params)
    assert e.value.errors == [
        {"pointer": "/limit_kw", "message": "NaN is not allowed: NaN/inf are not JSON numbers"},
        {"pointer": "/efficiency", "message": "inf is not allowed: NaN/inf are not JSON numbers"},
        {
            "pointer": "/start",
            "message": "a datetime.datetime without a time zone (2026-03-01T00:00:00) is "
            'ambiguous; give it one, e.g. datetime(2026, 3, 1, tzinfo=ZoneInfo("Europe/Berlin")) '
            "or value.replace(tzinfo=timezone.utc)",
        },
        {
            "pointer": "/every",
            "message": "a datetime.timedelta is not a JSON value; pass an ISO 8601 duration "
            'such as "PT1H" or a number of seconds',
        },
        {"pointer": "/names", "message": "a set is not a JSON value; pass a list"},
        {"pointer": "/a~1b", "message": "the key 1 is an int; keys of JSON objects are str"},
        {
            "pointer": "/big",
            "message": "1000000000000000000000000000000 does not fit a 64-bit integer; "
            "pass a float if it is a quantity",
        },
    ]
    assert str(e.value).startswith(
        "invalid params for 'echo' (7 errors):\n"
        "  /limit_kw: NaN is not allowed: NaN/inf are not JSON numbers\n"
    )


def test_nat_and_numpy_datetimes_are_refused_with_their_pointers(host: algohost.Host) -> None:
    params = {
        "start": pd.NaT,
        "end": np.datetime64("NaT"),
        "at": np.datetime64("2026-03-01T00:00"),
        "at_ns": np.datetime64("2026-03-01T00:00:00.000000000"),
    }
    with pytest.raises(algohost.ValidationError) as e:
        host.validate("echo", params)
    naive = (
        "has no time zone, so its instant is ambiguous; pass a datetime with one, e.g. "
        'pd.Timestamp(value, tz="UTC") or an ISO 8601 string with an offset such as '
        '"2026-03-01T00:00:00Z"'
    )
    assert e.value.errors == [
        {"pointer": "/start", "message": "NaT is not a time; pass None"},
        {"pointer": "/end", "message": "NaT is not a time; pass None"},
        {"pointer": "/at", "message": f"a numpy.datetime64 (2026-03-01T00:00) {naive}"},
        {
            "pointer": "/at_ns",
            "message": f"a numpy.datetime64 (2026-03-01T00:00:00.000000000) {naive}",
        },
    ]


def test_dates_and_datetimes_with_a_time_zone_are_params_as_iso_text() -> None:
    @algohost.algorithm
    def window(
        ctx: algohost.Context, start: datetime.datetime, day: datetime.date
    ) -> algohost.Output:
        """Echoes the window it got."""
        return algohost.Output(summary={"start": start.isoformat(), "day": day.isoformat()})

    host = algohost.Host(algorithms=[window])
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    run = host.run(
        "window",
        {"start": datetime.datetime(2026, 3, 1, 6, 30, tzinfo=berlin), "day": datetime.date(2026, 3, 1)},
    ).raise_for_status()
    assert run.params == {"start": "2026-03-01T06:30:00+01:00", "day": "2026-03-01"}
    assert run.summary == {"start": "2026-03-01T06:30:00+01:00", "day": "2026-03-01"}


def test_numpy_scalars_and_pydantic_models_are_params(host: algohost.Host) -> None:
    class Battery(pydantic.BaseModel):
        capacity_kwh: float

    run = host.run(
        "model_params",
        {"limit_kw": np.int64(3), "battery": Battery(capacity_kwh=np.float64(4.5))},
    ).raise_for_status()
    assert run.params == {"limit_kw": 3, "battery": {"capacity_kwh": 4.5}}
    assert run.summary == {"type": "ModelParams", "capacity_kwh": 4.5}

    @algohost.algorithm
    def any_params(ctx: algohost.Context, params: dict[str, Any]) -> dict[str, Any]:
        """Returns its params."""
        return {name: type(value).__name__ for name, value in params.items()}

    run = (
        algohost.Host(algorithms=[any_params])
        .run(
            "any_params",
            {
                "n": np.int32(2),
                "flag": np.bool_(True),
                "x": np.float32(0.5),
                "one": np.array([5]),
                "grid": np.array([[1, 2], [3, 4]]),
            },
        )
        .raise_for_status()
    )
    # Arrays stay lists, even of one element.
    assert run.params == {"n": 2, "flag": True, "x": 0.5, "one": [5], "grid": [[1, 2], [3, 4]]}
    assert run.summary == {"n": "int", "flag": "bool", "x": "float", "one": "list", "grid": "list"}


def test_a_summary_takes_numpy_scalars_and_datetimes_with_a_time_zone_as_params_do() -> None:
    @algohost.algorithm
    def stats(ctx: algohost.Context) -> dict[str, Any]:
        """What a pandas computation gives without .item()."""
        series = pd.Series([1.0, np.nan, 3.2])
        return {
            "peak": series.max(),
            "missing": series.isna().sum(),
            "at": pd.Timestamp("2026-05-20", tz="UTC"),
        }

    run = algohost.Host(algorithms=[stats]).run("stats").raise_for_status()
    assert run.summary == {"peak": 3.2, "missing": 1, "at": "2026-05-20T00:00:00+00:00"}


def test_a_missing_frame_names_the_frames_of_the_run(host: algohost.Host) -> None:
    run = host.run("frames_out", {"rows": 2})
    assert isinstance(run.frames, dict)
    with pytest.raises(KeyError) as e:
        run.frames["number"]
    assert e.value.args[0] == (
        f"run {run.id} of 'frames_out' has no frame 'number'; its frames: letters, numbers"
    )
    assert run.frames.get("number") is None
    failed = host.run("raises")
    with pytest.raises(KeyError) as e:
        failed.frames["result"]
    assert e.value.args[0] == (
        f"run {failed.id} of 'raises' has no frame 'result': it ended failed, so it "
        "has none (ValueError: boom from plugin)"
    )


def test_run_repr_shows_the_frames_or_the_error(host: algohost.Host) -> None:
    run = host.run("frames_out", {"rows": 2})
    assert repr(run) == (
        f'Run(id="{run.id}", algorithm="frames_out", status="succeeded", '
        'frames=["letters", "numbers"])'
    )
    failed = host.run("raises")
    assert repr(failed) == (
        f'Run(id="{failed.id}", algorithm="raises", status="failed", progress=0, '
        'error="ValueError: boom from plugin")'
    )


@algohost.algorithm
def warns_then_fails(ctx: algohost.Context, fail: bool = False) -> algohost.Output:
    """Logs two warnings and an error, then returns a frame or raises."""
    ctx.log.warning("first <warning>")
    ctx.log.warning("second warning")
    ctx.log.error("an error & more")
    if fail:
        raise ValueError("limit < 0 & <b>not bold</b>")
    return algohost.Output(
        summary={"note": "a <b>", "peak": 3.5, "text": "x" * 1000},
        frames={"result": pl.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6]})},
    )


def test_run_html_shows_status_duration_summary_frames_and_warnings() -> None:
    host = algohost.Host(algorithms=[warns_then_fails])
    run = host.run("warns_then_fails").raise_for_status()
    html = run._repr_html_()
    assert "<code>warns_then_fails</code>" in html
    assert "<strong>succeeded</strong>" in html
    assert re.search(r"<th[^>]*>duration</th><td[^>]*>\d+(\.\d+)? m?s</td>", html)
    assert "<code>{&quot;note&quot;:&quot;a &lt;b&gt;&quot;,&quot;peak&quot;:3.5," in html
    assert "x" * 400 not in html and "…" in html
    assert "<code>result</code> (3 × 2)" in html
    assert "2 warnings, 1 error" in html
    assert "<li>warn: first &lt;warning&gt;</li><li>warn: second warning</li>" in html
    assert "<li>error: an error &amp; more</li>" in html
    assert "error</th>" not in html
    assert repr(run).startswith('Run(id="')


def test_run_html_of_a_failed_run_shows_its_error_escaped() -> None:
    host = algohost.Host(algorithms=[warns_then_fails])
    html = host.run("warns_then_fails", {"fail": True})._repr_html_()
    assert "<strong>failed</strong>" in html
    assert (
        "<code>exception</code>: <span style=\"white-space: pre-wrap\">ValueError: "
        "limit &lt; 0 &amp; &lt;b&gt;not bold&lt;/b&gt;</span>"
    ) in html
    assert "<b>not bold" not in html
    assert "<th style=\"text-align: left\">frames</th><td style=\"text-align: left\">none" in html


def test_functions_named_like_a_registered_algorithm_are_refused() -> None:
    @algohost.algorithm
    def resample(ctx: algohost.Context) -> None:
        """Shadows the builtin."""

    with pytest.raises(algohost.PluginError) as e:
        algohost.Host(algorithms=[resample])
    assert str(e.value) == (
        "Host(algorithms=[...]): cannot register test_host:test_functions_named_like_a_"
        "registered_algorithm_are_refused.<locals>.resample as 'resample': the builtin "
        'algorithm has that name already; give yours another with @algohost.algorithm(name="my_resample")'
    )

    @algohost.algorithm(name="echo")
    def my_echo(ctx: algohost.Context) -> None:
        """Shadows an installed plugin."""

    with pytest.raises(algohost.PluginError, match="the Python algorithm echo = fixture_plugins:echo has that name"):
        algohost.Host(algorithms=[my_echo])

    @algohost.algorithm
    def twice(ctx: algohost.Context) -> None:
        """Passed twice: registered once."""

    assert "twice" in {a["name"] for a in algohost.Host(algorithms=[twice, twice]).algorithms()}


def test_functions_whose_schema_does_not_compile_are_refused() -> None:
    @algohost.algorithm(params={"type": "object", "properties": {"n": {"type": "integr"}}})
    def bad_schema(ctx: algohost.Context, params: dict[str, object]) -> None:
        """Its schema names a type that does not exist."""

    with pytest.raises(algohost.PluginError) as e:
        algohost.Host(algorithms=[bad_schema])
    message = str(e.value)
    assert message.startswith(
        "Host(algorithms=[...]): cannot register test_host:test_functions_whose_schema_"
        "does_not_compile_are_refused.<locals>.bad_schema as 'bad_schema': the params "
        "schema of 'bad_schema' does not compile: "
    )
    assert message.endswith("; fix the schema (JSON Schema 2020-12; no remote or file $ref)")


def test_ctrl_c_cancels_the_run_and_raises_keyboard_interrupt() -> None:
    out = run_python(
        "import algohost, os, signal, threading, time\n"
        "stopped = []\n"
        "@algohost.algorithm\n"
        "def waits(ctx, seconds: float = 30):\n"
        "    try:\n"
        "        end = time.monotonic() + seconds\n"
        "        while time.monotonic() < end:\n"
        "            ctx.check()\n"
        "            time.sleep(0.01)\n"
        "    finally:\n"
        "        stopped.append(True)\n"
        "host = algohost.Host(algorithms=[waits])\n"
        "for timeout in (None, 60):\n"
        "    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()\n"
        "    started = time.monotonic()\n"
        "    try:\n"
        "        host.run('waits', timeout=timeout)\n"
        "    except KeyboardInterrupt as e:\n"
        "        print(timeout, 'KeyboardInterrupt', time.monotonic() - started < 10,\n"
        "              [n.split(\"'\", 1)[1] for n in getattr(e, '__notes__', [])])\n"
        "status = host.run('waits', {'seconds': 0}).status\n"
        "print(len(stopped), status)\n"
    )
    notes = "[\"waits' was cancelled\"]" if sys.version_info >= (3, 11) else "[]"
    assert out.splitlines() == [
        f"None KeyboardInterrupt True {notes}",
        f"60 KeyboardInterrupt True {notes}",
        "3 succeeded",
    ]


def test_ctrl_c_during_a_call_into_c_cancels_waits_then_gives_up_and_twice_raises_at_once() -> None:
    # with timeout= a Python plugin runs on a thread of its own; one stuck in
    # a call into C (here time.sleep) never sees the cancel
    out = run_python(
        "import algohost, os, signal, threading, time\n"
        "@algohost.algorithm\n"
        "def blocks(ctx, seconds: float = 1):\n"
        "    time.sleep(seconds)\n"
        "    return {'slept': seconds}\n"
        "host = algohost.Host(algorithms=[blocks])\n"
        "def run(seconds, *ctrl_c):\n"
        "    for after in ctrl_c:\n"
        "        threading.Timer(after, os.kill, (os.getpid(), signal.SIGINT)).start()\n"
        "    started = time.monotonic()\n"
        "    try:\n"
        "        host.run('blocks', {'seconds': seconds}, timeout=600)\n"
        "    except KeyboardInterrupt as e:\n"
        "        run = e.run\n"
        "        print(round(time.monotonic() - started), run.status, run.summary,\n"
        "              [n.split(\"'\", 1)[1] for n in e.__notes__])\n"
        "run(2, 0.3)\n"
        "run(7, 0.3, 0.6)\n"
        "run(7, 0.3)\n"
    )
    assert out.splitlines() == [
        # it returned while waited for: its result is kept on the interrupt
        "2 succeeded {'slept': 2.0} [\"blocks' succeeded before its plugin saw the cancel;"
        " the Run is this KeyboardInterrupt's .run\"]",
        # a second Ctrl-C: at once
        "1 cancelled None [\"blocks' was cancelled; interrupted again, so not waiting"
        " for its plugin to stop (it runs on, on its thread, until it returns)\"]",
        # no check within the grace period: given up, as at a timeout
        "5 cancelled None [\"blocks' was cancelled; its plugin did not stop within 5s"
        " (it does not call ctx.check()) and was given up, as at a timeout (it runs on,"
        " on its thread, until it returns)\"]",
    ]


def test_a_plugin_raising_keyboard_interrupt_interrupts_the_caller(
    host: algohost.Host,
) -> None:
    with pytest.raises(KeyboardInterrupt):
        host.run("interrupts")
    # on a run's own thread (with a timeout) there is no caller to interrupt
    run = host.run("interrupts", timeout=10)
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["message"] == "KeyboardInterrupt: interrupted inside the plugin"


async def test_run_async_is_a_coroutine_that_starts_the_run_when_awaited(
    host: algohost.Host,
) -> None:
    fixture_plugins.EVENTS["started"].clear()
    coroutine = host.run_async("polls_cancel", {"seconds": 0.1})
    assert asyncio.iscoroutine(coroutine)
    assert repr(coroutine).startswith("<coroutine object Host.run_async at ")
    await asyncio.sleep(0.3)
    assert not fixture_plugins.EVENTS["started"].is_set()
    task = asyncio.create_task(coroutine)
    run = await task
    assert run.status == "succeeded"
    assert fixture_plugins.EVENTS["started"].is_set()


async def test_run_async_reads_the_params_when_called(host: algohost.Host) -> None:
    params = {"limit_kw": 1}
    coroutines = []
    for limit in (1, 2, 3):
        params["limit_kw"] = limit
        coroutines.append(host.run_async("echo", params))
    runs = await asyncio.gather(*coroutines)
    assert [r.summary["limit_kw"] for r in runs] == [1.0, 2.0, 3.0]


def test_data_and_plugin_dirs_take_paths(
    demo_data: Path, peak_shaving_lib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(demo_data.parent))
    params = {"names": ["site.load"], "resolution": "P1D"}
    by_str = algohost.Host(data=str(demo_data)).run("resample", params).raise_for_status()
    for data in (demo_data, f"~/{demo_data.name}"):
        run = algohost.Host(data=data).run("resample", params).raise_for_status()
        assert run.frames["resampled"].equals(by_str.frames["resampled"])
    run = algohost.Host().run("resample", params, data=demo_data).raise_for_status()
    assert run.frames["resampled"].equals(by_str.frames["resampled"])
    for dirs in (peak_shaving_lib, str(peak_shaving_lib), [peak_shaving_lib]):
        assert names(algohost.Host(plugin_dirs=dirs))["peak_shaving"] == "dylib"


def test_paths_of_the_wrong_type_say_what_to_pass() -> None:
    with pytest.raises(TypeError) as e:
        algohost.Host(data=5)  # type: ignore[arg-type]
    assert str(e.value) == (
        "data (a directory, postgres://... or http://...) must be a path "
        "(str or os.PathLike), got an int"
    )
    with pytest.raises(TypeError) as e:
        algohost.Host(plugin_dirs=5)  # type: ignore[arg-type]
    assert str(e.value) == (
        "plugin_dirs must be a path or a list of paths (str or os.PathLike), got an int"
    )


def test_a_missing_data_directory_is_refused_saying_an_empty_one_is_a_start(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "new-data"
    with pytest.raises(algohost.AlgohostError) as e:
        algohost.Host(data=missing)
    assert str(e.value) == (
        f"cannot open the data at {missing}: invalid input: no such data directory "
        f"'{missing}'; give a directory of algohost data (for example one made by "
        f"`algohost demo-data {missing}` or `algohost data import --to {missing}`), a "
        f'postgres:// or an http:// URL; or, to start without data, create it empty '
        f'(os.makedirs("{missing}")): runs then add the data points they define'
    )
    assert not missing.exists()
    missing.mkdir()
    assert algohost.Host(data=missing).run("echo", {"limit_kw": 1}).status == "succeeded"


def test_a_host_without_data_says_how_to_give_it_some() -> None:
    run = algohost.Host().run("resample", {"names": ["site.load"], "resolution": "PT1H"})
    assert run.error == {
        "kind": "data",
        "message": "data: this run reads or writes data but none was given: pass "
        "Host(data=...) or host.run(..., data=...): a directory (for example the demo "
        "data made by `algohost demo-data DIR`), postgres://... or http://HOST:PORT "
        "(another `algohost serve`)",
    }


NO_DATA = (
    "data: this run reads or writes data but none was given: pass Host(data=...) or "
    "host.run(..., data=...): a directory (for example the demo data made by "
    "`algohost demo-data DIR`), postgres://... or http://HOST:PORT (another "
    "`algohost serve`)"
)

LOAD_DAY = algohost.DataPointFilter(
    names=["site.load"],
    start=datetime.datetime(2026, 2, 2, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")),
    end=datetime.datetime(2026, 2, 3, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")),
)


@algohost.algorithm
def reads_load_day(ctx: algohost.Context) -> algohost.Output:
    """Reads LOAD_DAY as a run does, for the host's own read to match."""
    return algohost.Output(frames={"day": ctx.read(LOAD_DAY)})


def test_host_data_points_lists_the_hosts_data(data_dir: Path) -> None:
    host = algohost.Host(data=data_dir)
    points = host.data_points()
    assert [p.name for p in points][:2] == ["site.load", "site.pv"]
    (load,) = host.data_points(algohost.DataPointFilter(names=["site.load"]))
    assert (load.id.value, load.unit, load.resolution, load.time_zone) == (
        1,
        "kW",
        "PT15M",
        "Europe/Berlin",
    )


def test_host_read_gives_what_ctx_read_gives_in_a_run(data_dir: Path) -> None:
    host = algohost.Host(data=data_dir, algorithms=[reads_load_day])
    day = host.read(LOAD_DAY)
    assert day.shape == (96, 2)
    assert day.columns == ["ts", "site.load"]
    assert day["ts"].dtype == pl.Datetime("us", "UTC")
    assert day["ts"][0] == datetime.datetime(2026, 2, 1, 23, tzinfo=datetime.timezone.utc)
    in_run = host.run("reads_load_day").raise_for_status().frames["day"]
    assert day.equals(in_run)


def test_host_defines_writes_and_reads_back(data_dir: Path) -> None:
    host = algohost.Host(data=data_dir)
    (stored,) = host.define_data_points(
        [algohost.DataPointConfig("forecast.load", "kW", "power", "PT1H")]
    )
    assert (stored.name, stored.time_zone) == ("forecast.load", "UTC")
    hours = pd.date_range("2026-02-02", periods=3, freq="h", tz="UTC")
    host.write(pl.DataFrame({"ts": hours, "forecast.load": [10.0, 20.0, 30.0]}))
    back = host.read(algohost.DataPointFilter(names=["forecast.load"]))
    assert back["forecast.load"].to_list() == [10.0, 20.0, 30.0]
    assert back["ts"].to_list() == list(hours.to_pydatetime())
    # A new Host over the same data sees it too: it was stored.
    assert algohost.Host(data=data_dir).read(
        algohost.DataPointFilter(names=["forecast.load"])
    ).equals(back)


def test_host_write_refuses_as_ctx_write_does(data_dir: Path) -> None:
    host = algohost.Host(data=data_dir)
    hours = pd.date_range("2026-02-02", periods=2, freq="h", tz="UTC")
    with pytest.raises(algohost.AlgohostError) as e:
        host.write(pl.DataFrame({"ts": hours, "nope": [1.0, 2.0]}))
    assert str(e.value) == (
        "data: unknown data point 'nope': define it first with define_data_points(...), or "
        "drop the column"
    )
    with pytest.raises(algohost.AlgohostError) as e:
        host.write(pl.DataFrame({"ts": hours, "nope": [1.0, 2.0], "nix": [3.0, 4.0]}))
    assert str(e.value) == (
        "data: unknown data points 'nope', 'nix': define them first with "
        "define_data_points(...), or drop the columns"
    )
    with pytest.raises(algohost.AlgohostError, match=re.escape("(in pandas: the column's")):
        host.write(pd.DataFrame({"ts": hours, "site.load": [1.0, np.nan]}))


def test_host_without_data_raises_what_a_run_gets() -> None:
    host = algohost.Host()
    calls: list[Callable[[], object]] = [
        host.data_points,
        lambda: host.read(LOAD_DAY),
        lambda: host.write(
            pl.DataFrame({"ts": [LOAD_DAY.start], "site.load": [1.0]})
        ),
        lambda: host.define_data_points(
            [algohost.DataPointConfig("x", "kW", "power", "PT1H")]
        ),
    ]
    for call in calls:
        with pytest.raises(algohost.AlgohostError) as e:
            call()
        assert str(e.value) == NO_DATA


@pytest.mark.parametrize(
    "documented",
    [
        algohost.Host,
        algohost.Host.run,
        algohost.Host.run_async,
        algohost.Host.validate,
        algohost.Host.describe,
        algohost.Host.algorithms,
        algohost.Host.diagnostics,
        algohost.Host.data_points,
        algohost.Host.read,
        algohost.Host.write,
        algohost.Host.define_data_points,
        algohost.Run,
        algohost.Run.frames,
        algohost.Run.status,
        algohost.Run.error,
        algohost.Run.raise_for_status,
        algohost.Context,
        algohost.Context.read,
        algohost.Context.write,
        algohost.Context.progress,
        algohost.Context.check,
        algohost.Context.log,
    ],
    ids=lambda o: getattr(o, "__qualname__", repr(o)),
)
def test_the_api_is_documented_at_run_time(documented: object) -> None:
    # help() and Jupyter's Shift-Tab show __doc__, not the .pyi
    doc = documented.__doc__
    assert doc is not None and len(doc.strip()) > 20, doc


@pytest.mark.parametrize("timeout", [None, 60.0])
def test_progress_reaches_a_callback_while_the_run_goes_on(
    host: algohost.Host, timeout: float | None
) -> None:
    # Without a timeout the plugin runs on this thread, with one on another:
    # the callback hears the same either way.
    heard: list[tuple[float, str]] = []
    run = host.run(
        "logs", timeout=timeout, progress=lambda f, m: heard.append((f, m))
    ).raise_for_status()
    # (A fraction never goes back; the message is the latest.)
    assert heard == [(0.25, "a quarter"), (0.5, "half"), (0.5, "going back is ignored")]
    assert run.progress == 1.0


async def test_run_async_reports_progress_too(host: algohost.Host) -> None:
    heard: list[tuple[float, str]] = []
    run = await host.run_async("logs", progress=lambda f, m: heard.append((f, m)))
    assert run.status == "succeeded"
    assert heard == [(0.25, "a quarter"), (0.5, "half"), (0.5, "going back is ignored")]


def test_a_progress_callback_that_fails_does_not_fail_the_run(
    host: algohost.Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    unraisable: list[str] = []
    monkeypatch.setattr(
        sys, "unraisablehook", lambda u: unraisable.append(repr(u.exc_value))
    )

    def broken(fraction: float, message: str) -> None:
        raise RuntimeError(f"no display for {message}")

    assert host.run("logs", progress=broken).status == "succeeded"
    assert unraisable == [
        "RuntimeError('no display for a quarter')",
        "RuntimeError('no display for half')",
        "RuntimeError('no display for going back is ignored')",
    ]
    with pytest.raises(TypeError, match="progress must be a callable taking"):
        host.run("logs", progress="tqdm")  # type: ignore[arg-type]
