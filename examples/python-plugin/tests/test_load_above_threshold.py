"""The example plugin: the README shows exactly the code and pyproject that
ship, and the installed plugin runs through ``algohost.Host``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def block(language: str, index: int = 0) -> str:
    """The ``index``-th fenced code block of ``language`` in the README."""
    blocks: list[str] = re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)
    return blocks[index]


def test_readme_shows_the_shipped_code() -> None:
    assert block("python") == (ROOT / "load_above_threshold" / "__init__.py").read_text()
    assert block("toml") == (ROOT / "pyproject.toml").read_text()


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Any:
    algohost = pytest.importorskip("algohost")
    data = os.environ.get("ALGOHOST_DEMO_DATA")
    if not data:
        beside = Path(sys.executable).with_name("algohost")
        command = shutil.which("algohost") or (str(beside) if beside.exists() else None)
        if command is None:
            pytest.skip("no demo data: set ALGOHOST_DEMO_DATA or install algohost")
        data = str(tmp_path_factory.mktemp("demo"))
        subprocess.run([command, "demo-data", data], check=True, capture_output=True)
    found = algohost.Host(data=data)
    if "load_above_threshold" not in {a["name"] for a in found.algorithms()}:
        pytest.skip("the example is not installed: pip install ./examples/python-plugin")
    return found


def test_runs_on_the_demo_data(host: Any) -> None:
    run = host.run("load_above_threshold", {"threshold_kw": 60})
    assert run.status == "succeeded", run.error
    assert run.summary["intervals"] == 11516
    assert 0 < run.summary["share_above"] < 1
    assert run.summary["peak_kw"] == 80.0
    assert "intervals above 60.0 kW" in run.logs[-1]["message"]
    everything = host.run("load_above_threshold", {"threshold_kw": 0})
    assert everything.summary["share_above"] == 1.0


def test_threshold_is_required(host: Any) -> None:
    import algohost

    with pytest.raises(algohost.ValidationError) as raised:
        host.validate("load_above_threshold", {})
    assert "threshold_kw" in str(raised.value)
