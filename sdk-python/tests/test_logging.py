"""``algohost.init``: Rust logs to Python ``logging``, once per process; and
Python ``logging`` around runs, kept on the run inside it and left as
Python has it outside.

Each test runs in a fresh interpreter: the tracing subscriber and the
run-log handler are global."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_logging_goes_where_python_sends_it_in_a_run_as_outside() -> None:
    # No handler configured: Python's last resort prints warnings on stderr,
    # before, during and after a run; the run keeps its own once.
    out, err = run_python_with_stderr(
        "import logging\n"
        "logging.getLogger('mylib').warning('before')\n"
        + NOOP_RUN
        + "logging.getLogger('mylib').warning('after')\n"
        "logging.getLogger('mylib').info('not shown: below WARNING')\n"
    )
    assert out.strip() == "['inside the run']"
    assert err.splitlines() == [
        "before",
        "inside the run",
        "from a thread of the plugin",
        "after",
    ]


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
    assert err.splitlines() == ["inside the run", "from a thread of the plugin", "shown"]


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
    # WARNING and up reach stderr as any logger's do without a handler
    # configured, once for each run
    assert err.splitlines() == ["plain thread", "executor 7"] * 3


PEAK_SHAVING_RUN = (
    "import algohost\n"
    "host = algohost.Host(data={data!r}, plugin_dirs=[{lib!r}])\n"
    "run = host.run('peak_shaving', {{'limit_kw': 15, 'start': '2026-05-30T22:00:00Z',\n"
    "    'end': '2026-05-31T22:00:00Z', 'battery': {{'capacity_kwh': 20, 'power_kw': 5}}}})\n"
    "print([(r['level'], r['target']) for r in run.logs])\n"
)
CANNOT_KEEP = (
    "the battery cannot keep grid import at or below 15 kW in 40 of 96 intervals; peak "
    "after: 25.410 kW; the lowest limit it can keep here is 21.871 kW intervals_above_limit=40"
)


def test_a_rust_plugins_warning_reaches_stderr_with_no_logging_configured(
    demo_data: Path, peak_shaving_lib: Path
) -> None:
    # As a notebook shows it: what `algohost run` prints, through
    # logging.lastResort; kept on the run once.
    out, err = run_python_with_stderr(
        PEAK_SHAVING_RUN.format(data=str(demo_data), lib=str(peak_shaving_lib))
    )
    assert out.strip() == "[('warn', 'algohost_plugin_peak_shaving')]"
    assert err.splitlines() == [CANNOT_KEEP]


def test_a_rust_plugins_records_follow_the_logging_configuration(
    demo_data: Path, peak_shaving_lib: Path
) -> None:
    run = PEAK_SHAVING_RUN.format(data=str(demo_data), lib=str(peak_shaving_lib))
    _, err = run_python_with_stderr(
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stderr, level=logging.INFO,\n"
        "    format='%(levelname)s %(name)s [%(algohost_target)s]: %(message)s')\n" + run
    )
    assert err.splitlines() == [
        f"WARNING algohost.run.peak_shaving [algohost_plugin_peak_shaving]: {CANNOT_KEEP}"
    ]
    out, err = run_python_with_stderr(
        "import logging\nlogging.getLogger('algohost.run').setLevel(logging.ERROR)\n" + run
    )
    assert (out.strip(), err) == ("[('warn', 'algohost_plugin_peak_shaving')]", "")


def test_a_hosts_record_in_a_python_run_is_shown_live_and_kept_once() -> None:
    # A record that did not come through Python logging (as the host's own,
    # kept on the run's thread) is emitted on algohost.run.<algorithm> while
    # the run goes on, and not kept on the run a second time.
    out, err = run_python_with_stderr(
        "import algohost, asyncio, logging\n"
        "seen = []\n"
        "class Seen(logging.Handler):\n"
        "    def emit(self, record):\n"
        "        seen.append((record.name, record.levelname, record.getMessage()))\n"
        "logging.getLogger('algohost.run').addHandler(Seen())\n"
        "@algohost.algorithm\n"
        "def notes(ctx):\n"
        "    ctx._log('warning', 'algohost.somewhere', 'a notice')\n"
        "    return {'seen_during_the_run': len(seen)}\n"
        "host = algohost.Host(algorithms=[notes])\n"
        "for run in (asyncio.run(host.run_async('notes')), host.run('notes'),\n"
        "            host.run('notes', timeout=60)):\n"
        "    print(run.summary, [r['message'] for r in run.logs])\n"
        "print(seen[0])\n"
    )
    assert out.splitlines() == [
        "{'seen_during_the_run': 1} ['a notice']",
        "{'seen_during_the_run': 2} ['a notice']",
        "{'seen_during_the_run': 3} ['a notice']",
        "('algohost.run.notes', 'WARNING', 'a notice')",
    ]
    # the application's handler is on algohost.run, not the root: the last
    # resort does not print it
    assert err == ""


def test_run_async_and_a_timeout_show_a_plugins_warning_once() -> None:
    # The plugin runs on a thread of the runner's, not the caller's.
    out, err = run_python_with_stderr(
        "import algohost, asyncio, logging\n"
        "@algohost.algorithm\n"
        "def warns(ctx, n: int):\n"
        "    logging.getLogger('mylib').warning('careful %d', n)\n"
        "host = algohost.Host(algorithms=[warns])\n"
        "for run in (asyncio.run(host.run_async('warns', {'n': 1})),\n"
        "            host.run('warns', {'n': 2}, timeout=60)):\n"
        "    print([r['message'] for r in run.logs])\n"
    )
    assert out.splitlines() == ["['careful 1']", "['careful 2']"]
    assert err.splitlines() == ["careful 1", "careful 2"]
