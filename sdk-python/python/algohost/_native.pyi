"""The native module: the Rust host and SDK, bound with pyo3.

This file is the contract between the Rust side (``sdk-python/src`` and
``host/src/python``) and the pure-Python layer (``algohost/*.py``); stubtest
checks it against the compiled module.
"""

import datetime
import logging
import os
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, final

import polars as pl
from typing_extensions import Self

__all__ = [
    "AlgohostError",
    "ValidationError",
    "PluginError",
    "RunFailed",
    "Cancelled",
    "TimedOut",
    "DataPointId",
    "Flow",
    "DataPointConfig",
    "DataPointFilter",
    "FlowFilter",
    "resample",
    "Context",
    "Host",
    "Run",
    "version",
    "init_logging",
    "cli_main",
    "_shutdown",
    "_summary_to_json",
]

class ArrowStreamExportable(Protocol):
    """Anything with the Arrow PyCapsule stream interface: polars and pandas
    DataFrames, pyarrow tables and record batch readers, duckdb results.

    Typing only: not in the runtime module (see stubtest-allowlist.txt)."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

def version() -> str:
    """The algohost version (the Rust workspace's)."""

def init_logging(level: str | None = None) -> None:
    """Forwards the host's ``tracing`` events to Python ``logging`` (loggers
    named after the Rust module path, e.g. ``algohost.runner``). Idempotent."""

def cli_main(argv: Sequence[str]) -> int:
    """Runs the ``algohost`` command line in this process (argv[0] is the
    program name) and returns its exit code. Releases the GIL meanwhile;
    ``sys.stdout`` is ``sys.stderr`` until it returns, so that prints never
    mix into the command's output."""

def _shutdown(grace: float = 10.0) -> None:
    """At interpreter exit (``atexit``): cancels the runs still going, raises
    ``Cancelled`` in their plugins and waits up to ``grace`` seconds for them;
    ends the process with code 1 if one still runs then."""

def _summary_to_json(algorithm: str, summary: object) -> Any:
    """A Python algorithm's summary as plain JSON values, converted as params
    are; ``TypeError`` listing every value that is not JSON at its JSON
    Pointer."""

def resample(
    frame: ArrowStreamExportable | pl.LazyFrame,
    points: Sequence[DataPointConfig],
    to: str,
    *,
    min_coverage: float = 1.0,
    time_zone: str | None = None,
) -> pl.DataFrame:
    """Converts long-form samples (``data_point_id``, ``ts``, ``value``) of
    ``points`` to resolution ``to`` (ISO 8601, e.g. ``PT1H``, ``P1D``); a
    point whose time zone is not given is in UTC."""

class AlgohostError(Exception):
    """Base of every algohost error."""

class ValidationError(AlgohostError, ValueError):
    """Params that do not fit the algorithm's schema. ``errors`` holds every
    error as ``{"pointer": "/limit_kw", "message": "..."}``."""

    errors: list[dict[str, str]]
    def __init__(self, message: str, errors: Iterable[dict[str, str]] = ()) -> None: ...

class PluginError(AlgohostError):
    """An algorithm or plugin that cannot be used (unknown name, bad schema,
    a plugin that failed to load)."""

class RunFailed(AlgohostError):
    """A run that ended ``failed``; ``kind`` is the error kind, ``details``
    holds e.g. the Python traceback, ``run`` the run itself. The plugin's
    traceback (``details["traceback"]``, from a Python plugin or a failed
    context call) is added as a note, shown under this exception's own."""

    kind: str
    details: Any
    run: Run | None
    def __init__(
        self, message: str, kind: str = "failed", details: Any = None, run: Run | None = None
    ) -> None: ...

class Cancelled(AlgohostError):
    """The run was cancelled (raised by ``Context.check`` and for a run that
    ended ``cancelled``, then with the run as ``run``)."""

    run: Run | None
    def __init__(self, message: str = "the run was cancelled", run: Run | None = None) -> None: ...

class TimedOut(AlgohostError):
    """The run passed its deadline (raised by ``Context.check`` and for a run
    that ended ``timed_out``, then with the run as ``run``)."""

    run: Run | None
    def __init__(
        self, message: str = "the run passed its deadline", run: Run | None = None
    ) -> None: ...

@final
class DataPointId:
    def __new__(cls, value: int) -> Self: ...
    @property
    def value(self) -> int: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Flow:
    """``from_`` → ``to`` of a ``carrier`` (``from`` is a Python keyword)."""

    def __new__(cls, from_: str, to: str, carrier: str) -> Self: ...
    @property
    def from_(self) -> str: ...
    @property
    def to(self) -> str: ...
    @property
    def carrier(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...
    def __eq__(self, other: object, /) -> bool: ...
    __hash__: ClassVar[None]  # type: ignore[assignment]

@final
class DataPointConfig:
    """A data point: name, unit, quantity, resolution, time zone, tags, flow.
    An empty ``unit`` or ``time_zone`` (the default) is not given: defining a
    stored data point matches its unit and zone, and a new one is in UTC."""

    def __new__(
        cls,
        name: str,
        unit: str,
        quantity: str,
        resolution: str,
        *,
        time_zone: str = "",
        tags: Mapping[str, str] | None = None,
        flow: Flow | None = None,
        id: int | DataPointId | None = None,
    ) -> Self: ...
    @property
    def id(self) -> DataPointId: ...
    @property
    def name(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def quantity(self) -> str: ...
    @property
    def resolution(self) -> str: ...
    @property
    def time_zone(self) -> str:
        """IANA name, such as ``"Europe/Berlin"``; empty when not given."""
    @property
    def tags(self) -> dict[str, str]: ...
    @property
    def flow(self) -> Flow | None: ...
    def to_dict(self) -> dict[str, Any]: ...
    @staticmethod
    def from_dict(value: Mapping[str, Any]) -> DataPointConfig: ...
    def __eq__(self, other: object, /) -> bool: ...
    __hash__: ClassVar[None]  # type: ignore[assignment]

@final
class DataPointFilter:
    """Which data points, and for reads which samples, to use: every field is
    optional, and those set must all match. ``start`` and ``end`` (tz-aware)
    bound the samples to ``[start, end)``; ``resolution`` (ISO 8601: ``PT1H``,
    ``P1D``, ``P1M``) resamples them when read; ``time_zone`` (IANA, such as
    ``"Europe/Berlin"``) is where calendar intervals (``P1D`` and longer) start
    at midnight, each data point's own zone by default. It does not change
    ``ts``, which is UTC in every frame."""

    def __new__(
        cls,
        *,
        ids: Sequence[int | DataPointId] | None = None,
        names: Sequence[str] | None = None,
        tags: Mapping[str, str] | None = None,
        quantity: str | None = None,
        start: datetime.datetime | None = None,
        end: datetime.datetime | None = None,
        resolution: str | None = None,
        time_zone: str | None = None,
    ) -> Self: ...
    @property
    def ids(self) -> list[DataPointId]:
        """Only these data point ids."""
    @property
    def names(self) -> list[str]:
        """Only these data point names."""
    @property
    def tags(self) -> dict[str, str]:
        """Only data points carrying all of these tags."""
    @property
    def quantity(self) -> str | None:
        """Only data points of this quantity (``power``, ``energy``, ``price``, ``state``)."""
    @property
    def start(self) -> datetime.datetime | None:
        """Samples at or after this instant (UTC)."""
    @property
    def end(self) -> datetime.datetime | None:
        """Samples before this instant (UTC)."""
    @property
    def resolution(self) -> str | None:
        """The resolution to resample to when reading (ISO 8601, such as ``PT1H``)."""
    @property
    def time_zone(self) -> str | None:
        """Where calendar intervals (``P1D`` and longer) start at midnight; each
        data point's own zone when None. ``ts`` stays UTC."""
    def to_dict(self) -> dict[str, Any]: ...
    def __eq__(self, other: object, /) -> bool: ...
    __hash__: ClassVar[None]  # type: ignore[assignment]

@final
class FlowFilter:
    def __new__(
        cls, *, from_: str | None = None, to: str | None = None, carrier: str | None = None
    ) -> Self: ...
    @property
    def from_(self) -> str | None: ...
    @property
    def to(self) -> str | None: ...
    @property
    def carrier(self) -> str | None: ...
    def to_dict(self) -> dict[str, Any]: ...
    def __eq__(self, other: object, /) -> bool: ...
    __hash__: ClassVar[None]  # type: ignore[assignment]

@final
class Context:
    """What a running algorithm gets (the same object for every source)."""

    @property
    def run_id(self) -> str: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def deadline(self) -> datetime.datetime | None:
        """When the run times out (timezone-aware UTC), or None."""
    @property
    def log(self) -> logging.Logger:
        """A logger (``algohost.plugins.<algorithm>``, at DEBUG) bound to this
        run: its records are kept on the run from any thread (a
        ``threading.Thread``, a ``ThreadPoolExecutor``). Records of any
        ``logging`` logger emitted by the run's thread are kept too, at that
        logger's level: WARNING and up for a logger left at Python's default,
        so a plugin module's own ``logging.getLogger(__name__)`` needs
        ``.setLevel(logging.INFO)`` for its ``info`` records."""
    def progress(self, fraction: float, message: str = "") -> None:
        """Reports progress as a fraction in 0..=1; it never goes back.
        ``ValueError`` for anything else (a percentage such as 50, say)."""
    def is_cancelled(self) -> bool: ...
    def check(self) -> None:
        """Raises ``Cancelled`` or ``TimedOut`` when the run should stop."""
    def read(self, filter: DataPointFilter) -> pl.DataFrame:
        """Samples in wide form: ``ts`` and one column per data point name.
        ``ts`` is always UTC (``datetime[μs, UTC]``), also for daily or monthly
        resolutions; for calendar work in local time convert it:
        ``pl.col("ts").dt.convert_time_zone("Europe/Berlin")``."""
    def read_long(self, filter: DataPointFilter) -> pl.DataFrame:
        """Samples in long form: ``data_point_id``, ``ts``, ``value``."""
    def write(self, frame: ArrowStreamExportable | pl.LazyFrame) -> None:
        """Adds or replaces samples (wide, by data point name; or long); a
        LazyFrame is collected, a pandas frame's NaN refused like polars'."""
    def data_point(self, name: str, *, param: str | None = None) -> DataPointConfig:
        """The data point named ``name``; an unknown name raises ``AlgohostError``
        with the close names and the known ones, prefixed ``params.{param}:``
        when ``param`` says which params field named it."""
    def data_points(self, filter: DataPointFilter | None = None) -> list[DataPointConfig]: ...
    def define_data_points(self, points: Sequence[DataPointConfig]) -> list[DataPointConfig]:
        """Creates the data points that do not exist yet (matched by name) and
        returns all of them as stored, with their ids. An existing name keeps
        its definition and tags; defining it as another series (quantity,
        unit, resolution or time zone) raises ``AlgohostError`` naming both; a
        unit or time zone not given (empty) matches the stored one, and a new
        data point without a time zone is in UTC."""
    def _log(
        self, level: str, target: str, message: str, handled: bool | None = None
    ) -> None:
        """Keeps one log record on the run. The logging handler passes
        ``handled``: whether one of the application's handlers had the
        record, so that ``Host.run`` shows it only if none did."""

@final
class Run:
    """One finished (or timed out) execution."""

    @property
    def id(self) -> str: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def status(self) -> str:
        """``succeeded``, ``failed``, ``cancelled`` or ``timed_out``."""
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def progress(self) -> float: ...
    @property
    def summary(self) -> Any: ...
    @property
    def frames(self) -> dict[str, pl.DataFrame]:
        """Output frames by name; an unknown name raises ``KeyError`` listing
        the run's frames. A ``ts`` the host made (as ``resample``'s) is UTC
        (``datetime[μs, UTC]``), also for daily resolutions:
        ``pl.col("ts").dt.convert_time_zone("Europe/Berlin")`` gives local
        time for calendar work."""
    @property
    def error(self) -> dict[str, Any] | None:
        """``{"kind", "message", "details"}`` when the run did not succeed."""
    @property
    def logs(self) -> list[dict[str, Any]]:
        """The log records kept on the run: ``{"ts", "level", "target",
        "message"}`` (``Host.run`` also emitted them to ``logging``)."""
    def raise_for_status(self) -> Run:
        """Returns the run when it succeeded, else raises ``RunFailed``,
        ``Cancelled`` or ``TimedOut``."""
    def to_dict(self) -> dict[str, Any]: ...
    def _repr_html_(self) -> str:
        """The run as a notebook shows it: algorithm, status (with the
        error), duration, summary, frame shapes and warnings."""

@final
class Host:
    """Every algorithm from every source (builtin, dylib, python), with the
    data at ``data`` (a directory, ``postgres://…`` or ``http(s)://…``), plus
    ``algorithms``: functions decorated with ``@algohost.algorithm`` that are
    not installed as plugins (a notebook's, say).

    A ``Host`` has the plugins there are when it is made: a plugin installed
    later needs a new ``Host()``; one whose code changed since Python
    imported it needs ``importlib.reload(its module)`` first, or a restart of
    Python (the notebook's kernel)."""

    def __new__(
        cls,
        *,
        data: str | os.PathLike[str] | None = None,
        plugin_dirs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        algorithms: Sequence[Callable[..., Any]] | None = None,
    ) -> Self: ...
    def algorithms(self) -> list[dict[str, Any]]:
        """Manifests with their ``source``, sorted by name."""
    def describe(self, name: str) -> dict[str, Any]: ...
    def diagnostics(self) -> list[dict[str, Any]]: ...
    def validate(self, name: str, params: Mapping[str, Any] | None = None) -> None:
        """Raises ``ValidationError`` with every error, ``PluginError`` for an
        unknown name."""
    def run(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        data: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        progress: Callable[[float, str], object] | None = None,
    ) -> Run:
        """Validates and runs, blocking (without the GIL) until it ends.
        ``progress`` is called with ``(fraction, message)`` as the plugin
        reports progress (at most every 0.1 s for the same message), on the
        run's thread; an exception it raises goes to ``sys.unraisablehook``
        and the run goes on. The run's log records go to ``logging`` as it
        goes on (a Rust plugin's on ``algohost.run.<algorithm>``), so that
        its warnings reach stderr when logging is not configured. Ctrl-C
        cancels the run and raises ``KeyboardInterrupt`` once it has stopped,
        with the ``Run`` as the interrupt's ``run`` and a note of how it ended;
        a plugin that does not stop within 5 s is given up as at a timeout, and
        a second Ctrl-C raises at once. Without ``timeout`` a Python algorithm
        runs on the calling thread, where Ctrl-C raises in the plugin once it
        is back in Python (not during a long call into C); pass ``timeout``
        for the 5 s give-up."""
    def run_async(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        data: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        progress: Callable[[float, str], object] | None = None,
    ) -> Coroutine[Any, Any, Run]:
        """Like ``run``, as a coroutine for asyncio (``await`` it or wrap it in
        a task); the run starts when it is awaited and never blocks the loop.
        Cancelling the awaiting task cancels the run."""
    def data_points(self, filter: DataPointFilter | None = None) -> list[DataPointConfig]:
        """The data points of the host's data that ``filter`` selects (all of
        them without one), as ``ctx.data_points`` gives them in a run."""
    def read(self, filter: DataPointFilter) -> pl.DataFrame:
        """Samples of the host's data in wide form, as ``ctx.read`` gives
        them in a run: ``ts`` (UTC) and one column per data point name."""
    def write(self, frame: ArrowStreamExportable | pl.LazyFrame) -> None:
        """Adds or replaces samples of the host's data (wide, by data point
        name; or long), as ``ctx.write`` does in a run."""
    def define_data_points(self, points: Sequence[DataPointConfig]) -> list[DataPointConfig]:
        """Creates the data points that do not exist yet in the host's data
        (matched by name) and returns all of them as stored, with their ids,
        as ``ctx.define_data_points`` does in a run."""
