"""The examples in the package's docstrings run."""

from __future__ import annotations

import doctest
import types

import algohost
import pytest
from algohost import _algorithm, _frames, _logging, _plugins


@pytest.mark.parametrize(
    "module", [algohost, _algorithm, _frames, _logging, _plugins], ids=lambda m: m.__name__
)
def test_docstring_examples(module: types.ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
