"""The exception hierarchy: one base, builtins where they fit."""

from __future__ import annotations

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
