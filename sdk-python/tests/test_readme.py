"""Every ``python`` block of the README and of the example plugin's README
runs, in order, in a directory with the demo data as ``demo-data``."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READMES = [ROOT / "README.md", ROOT / "examples" / "python-plugin" / "README.md"]


def python_blocks(readme: Path) -> list[str]:
    """The bodies of the fenced ``python`` blocks."""
    return re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(readme: Path, demo_data: Path, tmp_path: Path) -> None:
    blocks = python_blocks(readme)
    assert blocks, f"{readme} has no python block"
    shutil.copytree(demo_data, tmp_path / "demo-data")
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        namespace: dict[str, object] = {"__name__": "readme"}
        for block in blocks:
            exec(compile(block, str(readme), "exec"), namespace)
    finally:
        os.chdir(cwd)
    if readme == READMES[0]:
        run = namespace["run"]
        assert getattr(run, "status") == "succeeded"
        spec = getattr(namespace["rolling_mean"], "__algohost__")
        assert spec.manifest["name"] == "rolling_mean"
        assert spec.manifest["outputs"] == [{"name": "smoothed", "columns": ["ts", "value"]}]
