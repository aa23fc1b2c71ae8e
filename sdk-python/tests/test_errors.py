"""The exception hierarchy: one base, builtins where they fit."""

from __future__ import annotations

import inspect
import sys
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import algohost
import fixture_plugins
import polars as pl
import pytest


@pytest.mark.parametrize(
    "error",
    [
        algohost.ValidationError,
        algohost.PluginError,
        algohost.RunFailed,
        algohost.Cancelled,
        algohost.TimedOut,
    ],
)
def test_every_error_is_an_algohost_error(error: type[Exception]) -> None:
    assert issubclass(error, algohost.AlgohostError)
    assert issubclass(algohost.AlgohostError, Exception)


def test_validation_error_is_a_value_error() -> None:
    assert issubclass(algohost.ValidationError, ValueError)


def test_a_validation_error_can_be_caught_as_value_error(host: algohost.Host) -> None:
    with pytest.raises(ValueError, match="/limit_kw"):
        host.validate("echo", {"limit_kw": "many"})


def test_unknown_algorithms_raise_plugin_error(host: algohost.Host) -> None:
    with pytest.raises(
        algohost.PluginError, match="unknown algorithm 'no_such_algorithm'"
    ):
        host.run("no_such_algorithm")


def test_run_failed_carries_kind_details_and_run(host: algohost.Host) -> None:
    run = host.run("raises")
    with pytest.raises(algohost.RunFailed) as e:
        run.raise_for_status()
    assert e.value.kind == "exception"
    assert e.value.details["exception"] == "ValueError"
    assert e.value.run is not None and e.value.run.status == "failed"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are 3.11+")
def test_run_failed_shows_the_plugins_traceback(host: algohost.Host) -> None:
    with pytest.raises(algohost.RunFailed) as e:
        host.run("raises").raise_for_status()
    shown = "".join(traceback.format_exception(e.value))
    # what a notebook or a script shows: where in the plugin it failed
    assert (
        "algohost.RunFailed: run "
        f"{e.value.run.id if e.value.run else ''} of 'raises' failed: "
        "ValueError: boom from plugin\n"
        "the plugin's traceback (also in .details['traceback']):\n"
        "Traceback (most recent call last):\n"
    ) in shown, shown
    assert (
        f'  File "{fixture_plugins.__file__}", '
        f"line {_line_in(fixture_plugins.raises, 'raise ValueError')}, in raises\n"
    ) in shown, shown
    assert shown.endswith("ValueError: boom from plugin\n"), shown
    # a failure with no traceback (not a Python plugin's) gets no note
    bare = algohost.RunFailed("run x of 'y' failed: oops", "failed", {"n": 1})
    assert not hasattr(bare, "__notes__")


def test_cancelled_and_timed_out_carry_the_run_too(host: algohost.Host) -> None:
    run = host.run("polls_cancel", {"seconds": 10}, timeout=0.2)
    with pytest.raises(algohost.TimedOut) as timed_out:
        run.raise_for_status()
    assert timed_out.value.run is run
    assert str(timed_out.value) == (
        f"run {run.id} of 'polls_cancel' timed out: the run did not finish within its "
        "timeout of 0.2s"
    )

    @algohost.algorithm
    def gives_up(ctx: algohost.Context) -> None:
        """Stops as if cancelled."""
        raise algohost.Cancelled()

    run = algohost.Host(algorithms=[gives_up]).run("gives_up")
    with pytest.raises(algohost.Cancelled) as cancelled:
        run.raise_for_status()
    assert cancelled.value.run is run
    assert str(cancelled.value) == (
        f"run {run.id} of 'gives_up' cancelled: the run was cancelled"
    )
    assert algohost.Cancelled().run is None
    assert str(algohost.TimedOut()) == "the run passed its deadline"


def test_a_plugin_raising_timed_out_without_a_deadline_fails_saying_so() -> None:
    @algohost.algorithm
    def slow_service(ctx: algohost.Context) -> None:
        """Its own time limit ran out."""
        raise algohost.TimedOut("the price service did not answer within 5 s")

    run = algohost.Host(algorithms=[slow_service]).run("slow_service")
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["kind"] == "exception"
    assert run.error["message"] == (
        "TimedOut: the price service did not answer within 5 s"
    )


def test_errors_of_context_calls_keep_their_kind(demo_data: Path) -> None:
    @algohost.algorithm
    def reads_a_typo(ctx: algohost.Context) -> None:
        """Reads a data point that does not exist."""
        ctx.read(algohost.DataPointFilter(names=["site.lod"]))

    host = algohost.Host(data=demo_data, algorithms=[reads_a_typo])
    python = host.run("reads_a_typo")
    rust = host.run("resample", {"names": ["site.lod"], "resolution": "PT1H"})
    assert python.error is not None and rust.error is not None
    assert python.error["kind"] == "invalid_input"
    assert python.error["message"] == (
        "invalid input: unknown data point name 'site.lod' (did you mean 'site.load'?); "
        "known names: market.day_ahead, site.load, site.pv"
    )
    assert rust.error["kind"] == "invalid_input"


def _line_in(function: Callable[..., object], code: str) -> int:
    """The line of this file where ``function`` holds ``code`` (once)."""
    lines, first = inspect.getsourcelines(function)
    found = [first + i for i, line in enumerate(lines) if code in line]
    assert len(found) == 1, f"{code!r} is on lines {found}"
    return found[0]


def test_a_context_call_that_fails_the_run_says_where_in_the_plugin(
    data_dir: Path,
) -> None:
    unknown = pl.DataFrame(
        {"ts": [datetime(2024, 1, 1, tzinfo=timezone.utc)], "site.nope": [1.0]}
    )
    nameless = algohost.DataPointConfig("", "kW", "power", "PT1H")

    @algohost.algorithm
    def bad_calls(ctx: algohost.Context, call: str) -> None:
        """Makes one context call that raises."""
        if call == "read":
            ctx.read(algohost.DataPointFilter(names=["site.lod"]))
        elif call == "write":
            ctx.write(unknown)
        else:
            ctx.define_data_points([nameless])

    host = algohost.Host(data=data_dir, algorithms=[bad_calls])
    for call, code, kind, message in [
        (
            "read",
            'ctx.read(algohost.DataPointFilter(names=["site.lod"]))',
            "invalid_input",
            "invalid input: unknown data point name 'site.lod' (did you mean "
            "'site.load'?); known names: market.day_ahead, site.load, site.pv",
        ),
        (
            "write",
            "ctx.write(unknown)",
            "data",
            "data: unknown data point 'site.nope': define it first with "
            "define_data_points(...), or drop the column",
        ),
        (
            "define",
            "ctx.define_data_points([nameless])",
            "invalid_input",
            "invalid input: a data point needs a non-empty name, such as 'site.load'",
        ),
    ]:
        run = host.run("bad_calls", {"call": call})
        with pytest.raises(algohost.RunFailed) as failed:
            run.raise_for_status()
        # The kind and message of the context call's error, and where the
        # plugin made the call, as for an exception of the plugin's own.
        assert (failed.value.kind, str(failed.value)) == (
            kind,
            f"run {run.id} of 'bad_calls' failed: {message}",
        )
        assert failed.value.details["exception"] == "AlgohostError"
        traceback = failed.value.details["traceback"]
        assert traceback.startswith("Traceback (most recent call last):\n"), traceback
        assert (
            f'  File "{__file__}", line {_line_in(bad_calls, code)}, in bad_calls\n'
            f"    {code}\n"
        ) in traceback, traceback
        assert traceback.endswith(f"\nalgohost.AlgohostError: {message}\n"), traceback
        assert run.error == {
            "kind": kind,
            "message": message,
            "details": failed.value.details,
        }


def test_context_errors_caught_by_the_plugin_stay_caught(demo_data: Path) -> None:
    @algohost.algorithm
    def falls_back(ctx: algohost.Context) -> dict[str, str]:
        """Catches the unknown name and goes on."""
        try:
            ctx.read(algohost.DataPointFilter(names=["site.lod"]))
        except algohost.AlgohostError as e:
            return {"caught": type(e).__name__}
        return {"caught": "nothing"}

    run = algohost.Host(data=demo_data, algorithms=[falls_back]).run("falls_back")
    assert run.raise_for_status().summary == {"caught": "AlgohostError"}
