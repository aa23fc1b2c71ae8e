"""Shared fixtures: the deterministic demo dataset, generated once per session
by the ``algohost`` command (pip's console script or the cargo binary), or
taken from ``ALGOHOST_DEMO_DATA``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest


def _algohost_command() -> str | None:
    """The ``algohost`` executable: ``$ALGOHOST``, PATH, beside this Python, the cargo build."""
    explicit = os.environ.get("ALGOHOST")
    if explicit:
        return explicit
    found = shutil.which("algohost")
    if found:
        return found
    beside = Path(sys.executable).with_name("algohost")
    if beside.exists():
        return str(beside)
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/algohost/target"))
    binary = target / "debug" / "algohost"
    return str(binary) if binary.exists() else None


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the demo data (catalog.json + samples/*.parquet)."""
    given = os.environ.get("ALGOHOST_DEMO_DATA")
    if given:
        return Path(given)
    command = _algohost_command()
    if command is None:
        pytest.skip("no demo data: set ALGOHOST_DEMO_DATA, or install algohost / build the CLI")
    directory = tmp_path_factory.mktemp("demo")
    subprocess.run([command, "demo-data", str(directory)], check=True, capture_output=True)
    return directory


@pytest.fixture(scope="session")
def demo_load(demo_dir: Path) -> pl.DataFrame:
    """The demo site load (``ts``, ``value`` in kW, PT15M, Europe/Berlin),
    read straight from the files adapter's layout, without the host."""
    catalog = json.loads((demo_dir / "catalog.json").read_text())
    point = next(p for p in catalog["data_points"] if p["name"] == "site.load")
    assert point["resolution"] == "PT15M" and point["time_zone"] == "Europe/Berlin"
    return pl.read_parquet(demo_dir / "samples" / f"{point['id']}.parquet").sort("ts")
