"""Discovery of Python algorithms: the ``algohost.algorithms`` entry points.

The host's Python source calls :func:`discover` for every registry it builds
(each ``algohost.Host()``), so that a plugin installed since the last one is
found; modules imported before are not imported again. Every entry point
either yields an :class:`~algohost._algorithm.AlgorithmSpec` or a
diagnostic (why it cannot be used and what to do about it); discovery itself
never raises, so one broken package cannot take the host down.

An entry point whose name differs from the algorithm's name is a diagnostic
too: the entry-point name is what a package advertises, so two names for one
algorithm would only confuse (and could hide a duplicate).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import traceback
from typing import TypeAlias

from algohost._algorithm import AlgorithmSpec, spec_of

__all__ = ["ENTRY_POINT_GROUP", "Discovered", "discover"]

ENTRY_POINT_GROUP = "algohost.algorithms"

_IMPORTLIB_DIR = os.path.dirname(importlib.__file__) + os.sep

Discovered: TypeAlias = tuple[str, AlgorithmSpec | None, str | None, str | None]
"""``(entry point as "name = module:attr", spec, reason, hint)``: a spec and two
Nones, or None and the diagnostic's reason and what to do."""


def discover() -> list[Discovered]:
    """Imports every entry point of group ``algohost.algorithms``.

    Import errors (any ``Exception``, and ``SystemExit``) are caught and
    reported with their type, text and the line that raised; only
    ``KeyboardInterrupt`` is let through, so that Ctrl-C still stops the
    process.
    """
    # Packages installed since the last scan: new folders on sys.path entries.
    importlib.invalidate_caches()
    try:
        entry_points = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    except Exception as e:  # noqa: BLE001  (a malformed entry_points.txt on sys.path)
        return [
            (
                ENTRY_POINT_GROUP,
                None,
                f"cannot read the installed entry points: {_exception_text(e)}",
                "reinstall the package with the broken metadata (see the error above)",
            )
        ]
    return [_load(ep) for ep in entry_points]


def _load(ep: importlib.metadata.EntryPoint) -> Discovered:
    """One entry point: its spec, or a diagnostic."""
    label = f"{ep.name} = {ep.value}"
    package = _distribution(ep)
    try:
        obj = ep.load()
    except (Exception, SystemExit) as e:  # noqa: BLE001  (never raise: a diagnostic)
        return (
            label,
            None,
            f"failed to import: {_exception_text(e)}",
            _import_hint(ep, e, package),
        )
    spec = spec_of(obj)
    if spec is None:
        reason = (
            f"`{ep.value}` is not decorated with @algohost.algorithm "
            f"(it is {_article(type(obj).__name__)})"
        )
        hint = (
            "decorate the function with @algohost.algorithm, or point the entry "
            "point at a decorated function (in the "
            f'[project.entry-points."{ENTRY_POINT_GROUP}"] table of {package}\'s '
            "pyproject.toml)"
        )
        return (label, None, reason, hint)
    if spec.name != ep.name:
        reason = (
            f"the entry point is named `{ep.name}` but the algorithm is named "
            f"`{spec.name}`"
        )
        hint = (
            f"rename the entry point to `{spec.name} = {ep.value}` in {package}'s "
            f'pyproject.toml, or pass name="{ep.name}" to @algohost.algorithm'
        )
        return (label, None, reason, hint)
    return (label, spec, None, None)


def _distribution(ep: importlib.metadata.EntryPoint) -> str:
    """``name version`` of the package declaring the entry point, if known."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "the package"
    try:
        return f"package {dist.name} {dist.version}"
    except Exception:  # noqa: BLE001  (broken metadata: fall back to a generic name)
        return "the package"


def _import_hint(
    ep: importlib.metadata.EntryPoint, error: BaseException, package: str
) -> str:
    """What to do about an entry point that failed to import."""
    if isinstance(error, ModuleNotFoundError) and error.name:
        if error.name == ep.module or ep.module.startswith(f"{error.name}."):
            return (
                f"module `{ep.module}` is not installed: fix the entry point "
                f"`{ep.name} = {ep.value}` or reinstall {package}"
            )
        return f"install `{error.name}` (a dependency of {package}), or uninstall {package}"
    if isinstance(error, AttributeError) and ep.attr:
        return f"module `{ep.module}` has no `{ep.attr}`: fix the entry point or the module"
    return (
        f'fix the error in `{ep.module}` (check with `python -c "import {ep.module}"`), '
        f"or uninstall {package}"
    )


def _exception_text(error: BaseException) -> str:
    """``Type: message (at file:line)``, with the innermost non-frozen frame."""
    text = f"{type(error).__name__}: {error}"
    location = _location(error)
    return f"{text} (at {location})" if location else text


def _location(error: BaseException) -> str | None:
    """Where an exception was raised: the last traceback line outside the
    import machinery and this loader (an entry point naming a module or
    attribute that is not there has none), or a ``SyntaxError``'s own
    position."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{error.filename}:{error.lineno}"
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith(("<frozen", _IMPORTLIB_DIR))
        and frame.filename != __file__
    ]
    if not frames:
        return None
    last = frames[-1]
    return f"{last.filename}:{last.lineno} in {last.name}"


def _article(noun: str) -> str:
    """``an int``, ``a str``."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
