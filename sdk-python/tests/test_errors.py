"""The exception hierarchy: one base, builtins where they fit."""

from __future__ import annotations

from pathlib import Path

import algohost
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
