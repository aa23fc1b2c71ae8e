"""Shared fixtures.

The test plugins (``fixture_plugins.py``) are declared here, at import time,
before anything creates a ``Host`` (which scans the ``algohost.algorithms``
entry points): a fake distribution
(``algohost_test_plugins-0.0.0.dist-info`` with an ``entry_points.txt``) in a
temporary directory put on ``sys.path``.
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
SDK_DIR = TESTS_DIR.parent
TEST_DIST = "algohost_test_plugins"


def _install_fixture_plugins() -> Path:
    """Writes the fake distribution and puts it (and this folder) on sys.path."""
    sys.path.insert(0, str(TESTS_DIR))
    from fixture_plugins import ENTRY_POINTS

    root = Path(tempfile.mkdtemp(prefix="algohost-test-plugins-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    dist_info = root / f"{TEST_DIST}-0.0.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {TEST_DIST}\nVersion: 0.0.0\n", encoding="utf-8"
    )
    lines = [f"{name} = fixture_plugins:{name}" for name in ENTRY_POINTS]
    (dist_info / "entry_points.txt").write_text(
        "[algohost.algorithms]\n" + "\n".join(lines) + "\n", encoding="utf-8"
    )
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    return root


FIXTURE_PLUGINS_DIR = _install_fixture_plugins()

import algohost


def target_dir() -> Path:
    """Cargo's target directory: ``CARGO_TARGET_DIR`` or the Makefile's default."""
    configured = os.environ.get("CARGO_TARGET_DIR")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "algohost" / "target"


def find_algohost_bin() -> Path | None:
    """The Rust ``algohost`` binary: ``ALGOHOST_BIN``, or the debug build."""
    configured = os.environ.get("ALGOHOST_BIN")
    if configured:
        return Path(configured)
    candidate = target_dir() / "debug" / "algohost"
    return candidate if candidate.is_file() else None


def find_peak_shaving_lib() -> Path | None:
    """The ``peak_shaving`` dylib plugin from the debug build, if built."""
    for name in (
        "libalgohost_plugin_peak_shaving.so",
        "libalgohost_plugin_peak_shaving.dylib",
        "algohost_plugin_peak_shaving.dll",
    ):
        candidate = target_dir() / "debug" / name
        if candidate.is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def algohost_bin() -> Path:
    """The Rust ``algohost`` binary (skips the test when it is not built)."""
    found = find_algohost_bin()
    if found is None:
        pytest.skip(
            "the algohost binary is not built: run `cargo build` or set ALGOHOST_BIN"
        )
    return found


@pytest.fixture(scope="session")
def peak_shaving_lib() -> Path:
    """The ``peak_shaving`` dylib (skips the test when it is not built)."""
    found = find_peak_shaving_lib()
    if found is None:
        pytest.skip(
            "the peak_shaving plugin is not built: run `cargo build -p algohost-plugin-peak-shaving`"
        )
    return found


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The deterministic demo dataset, generated once by the in-process CLI.

    Read-only: tests that write use ``data_dir``."""
    target = tmp_path_factory.mktemp("demo-data")
    code = algohost._native.cli_main(["algohost", "demo-data", str(target)])
    assert code == 0, f"`algohost demo-data {target}` exited with {code}"
    return target


@pytest.fixture
def data_dir(demo_data: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the demo dataset."""
    target = tmp_path / "data"
    shutil.copytree(demo_data, target)
    return target


@pytest.fixture(scope="session")
def host(demo_data: Path) -> algohost.Host:
    """A host over the demo data, shared by the tests that only run."""
    return algohost.Host(data=str(demo_data))


@pytest.fixture
def handoff() -> Iterator[dict[str, object]]:
    """``fixture_plugins.HANDOFF``, emptied after the test."""
    import fixture_plugins

    yield fixture_plugins.HANDOFF
    fixture_plugins.HANDOFF.clear()


def run_python(
    code: str, *, env: dict[str, str] | None = None, timeout: float = 120
) -> str:
    """Runs ``code`` in a fresh interpreter (this one's) and returns its stdout;
    fails the test with stderr when it exits non-zero."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result.stdout
