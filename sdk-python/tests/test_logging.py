"""``algohost.init``: Rust logs to Python ``logging``, once per process.

Each test runs in a fresh interpreter: the tracing subscriber is global."""

from __future__ import annotations

from conftest import run_python


def test_init_is_idempotent() -> None:
    out = run_python(
        "import algohost\nalgohost.init()\nalgohost.init('debug')\nprint('ok')"
    )
    assert out.strip() == "ok"


def test_init_after_the_cli_ran_in_process() -> None:
    out = run_python(
        "import algohost, algohost._native\n"
        "algohost._native.cli_main(['algohost', 'list'])\n"
        "algohost.init()\n"
        "print('ok')"
    )
    assert out.strip().endswith("ok")


def test_init_with_a_filter_that_is_not_one_says_so() -> None:
    out = run_python(
        "import algohost._native as n\n"
        "try:\n"
        "    n.init_logging('info,[')\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    assert "'info,[' is not a log level or filter" in out
