"""``algohost.init``: Rust logs to Python ``logging``, once per process; and
Python ``logging`` around runs, kept on the run inside it and left as
Python has it outside.

Each test runs in a fresh interpreter: the tracing subscriber and the
run-log handler are global."""

from __future__ import annotations

import subprocess
import sys

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


def run_python_with_stderr(code: str) -> tuple[str, str]:
    """Runs ``code`` in a fresh interpreter; its stdout and stderr."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr


NOOP_RUN = (
    "import algohost, logging, threading\n"
    "@algohost.algorithm\n"
    "def noop(ctx):\n"
    "    logging.getLogger('mylib').warning('inside the run')\n"
    "    thread = threading.Thread(\n"
    "        target=lambda: logging.getLogger('mylib').warning('from a thread of the plugin')\n"
    "    )\n"
    "    thread.start()\n"
    "    thread.join()\n"
    "run = algohost.Host(algorithms=[noop]).run('noop')\n"
    "print([r['message'] for r in run.logs if r['target'] == 'mylib'])\n"
)


def test_logging_outside_runs_goes_where_python_sends_it() -> None:
    # No handler configured: Python's last resort prints warnings on stderr,
    # after a run as before it.
    out, err = run_python_with_stderr(
        "import logging\n"
        "logging.getLogger('mylib').warning('before')\n"
        + NOOP_RUN
        + "logging.getLogger('mylib').warning('after')\n"
        "logging.getLogger('mylib').info('not shown: below WARNING')\n"
    )
    assert out.strip() == "['inside the run']"
    assert err.splitlines() == ["before", "from a thread of the plugin", "after"]


def test_logging_outside_runs_reaches_the_applications_handlers_once() -> None:
    out, err = run_python_with_stderr(
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stderr, format='app: %(name)s %(message)s')\n"
        + NOOP_RUN
        + "logging.getLogger('mylib').warning('after')\n"
    )
    assert out.strip() == "['inside the run']"
    # the application's handlers see the run's records too, as without algohost
    assert err.splitlines() == [
        "app: mylib inside the run",
        "app: mylib from a thread of the plugin",
        "app: mylib after",
    ]


def test_a_logger_that_does_not_propagate_keeps_its_own_handler() -> None:
    _, err = run_python_with_stderr(
        "import logging, sys\n"
        "quiet = logging.getLogger('quiet')\n"
        "quiet.propagate = False\n"
        "quiet.addHandler(logging.NullHandler())\n"
        + NOOP_RUN
        + "quiet.warning('swallowed by its NullHandler')\n"
        "logging.getLogger('quiet.child').warning('swallowed too')\n"
        "logging.getLogger('loud').warning('shown')\n"
    )
    assert err.splitlines() == ["from a thread of the plugin", "shown"]


def test_a_module_logger_keeps_info_on_the_run_once_its_level_is_set() -> None:
    # As README and Context.log say: ctx.log keeps DEBUG and up; a module's
    # own logger passes what its level lets through (WARNING by default).
    out = run_python(
        "import algohost, logging\n"
        "log = logging.getLogger('mypkg.plugin')\n"
        "@algohost.algorithm\n"
        "def chatty(ctx):\n"
        "    ctx.log.debug('ctx debug')\n"
        "    log.info('module info')\n"
        "    log.warning('module warning')\n"
        "host = algohost.Host(algorithms=[chatty])\n"
        "def kept():\n"
        "    run = host.run('chatty')\n"
        "    return [(r['level'], r['message']) for r in run.logs]\n"
        "print(kept())\n"
        "logging.getLogger('mypkg').setLevel(logging.INFO)\n"
        "print(kept())\n"
    )
    default, lowered = out.splitlines()
    assert default == "[('debug', 'ctx debug'), ('warn', 'module warning')]"
    assert lowered == (
        "[('debug', 'ctx debug'), ('info', 'module info'), ('warn', 'module warning')]"
    )


def test_ctx_log_keeps_records_on_its_run_from_any_thread() -> None:
    out, err = run_python_with_stderr(
        "import algohost, logging, threading, concurrent.futures as cf\n"
        "@algohost.algorithm\n"
        "def fits(ctx):\n"
        "    ctx.log.info('run thread')\n"
        "    thread = threading.Thread(target=lambda: ctx.log.warning('plain thread'))\n"
        "    thread.start()\n"
        "    thread.join()\n"
        "    with cf.ThreadPoolExecutor(2) as pool:\n"
        "        pool.submit(ctx.log.error, 'executor %d', 7).result()\n"
        "    ctx.log.debug('debug')\n"
        "host = algohost.Host(algorithms=[fits])\n"
        "runs = [host.run('fits') for _ in range(2)]\n"
        "logging.getLogger('algohost.plugins').setLevel(logging.INFO)\n"
        "runs.append(host.run('fits'))\n"
        "for run in runs:\n"
        "    print([(r['level'], r['target'], r['message']) for r in run.logs])\n"
    )
    kept = [
        ("info", "algohost.plugins.fits", "run thread"),
        ("warn", "algohost.plugins.fits", "plain thread"),
        ("error", "algohost.plugins.fits", "executor 7"),
    ]
    with_debug = str([*kept, ("debug", "algohost.plugins.fits", "debug")])
    assert out.splitlines() == [with_debug, with_debug, str(kept)]
    assert err == ""
