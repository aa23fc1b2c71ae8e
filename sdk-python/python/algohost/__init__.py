"""algohost: write algorithms once in Rust or Python; run them from a
notebook, the shell or HTTP.

Drive the host::

    import algohost
    host = algohost.Host(data="demo-data")
    run = host.run("resample", {"names": ["site.load"], "resolution": "PT1H"})
    run.frames["resampled"]

Write a plugin::

    @algohost.algorithm(version="1.0.0")
    def peak(ctx: algohost.Context, limit_kw: float) -> dict[str, float]:
        \"\"\"Highest load above a limit.\"\"\"
        ...

and declare it in the ``algohost.algorithms`` entry-point group of its
package. ``algohost._native`` (the Rust host, bound with pyo3) is private;
everything public is re-exported here.
"""

import threading

from algohost._algorithm import AlgorithmSpec, Output, algorithm
from algohost._native import (
    AlgohostError,
    Cancelled,
    Context,
    DataPointConfig,
    DataPointFilter,
    DataPointId,
    Flow,
    FlowFilter,
    Host,
    PluginError,
    Run,
    RunFailed,
    TimedOut,
    ValidationError,
    resample,
    version,
)
from algohost._native import init_logging as _init_logging

__all__ = [
    "AlgohostError",
    "AlgorithmSpec",
    "Cancelled",
    "Context",
    "DataPointConfig",
    "DataPointFilter",
    "DataPointId",
    "Flow",
    "FlowFilter",
    "Host",
    "Output",
    "PluginError",
    "Run",
    "RunFailed",
    "TimedOut",
    "ValidationError",
    "algorithm",
    "init",
    "resample",
    "version",
]

_init_lock = threading.Lock()
_initialised = False


def init(level: str | None = None) -> None:
    """Forwards the host's Rust logs (``tracing``) to Python ``logging``, under
    loggers named after the Rust module path (e.g. ``algohost.runner``).

    ``level`` (``"info"``, ``"debug"``, …) caps what is forwarded; by default
    the host decides. Calling it again does nothing::

        import algohost
        algohost.init()
    """
    global _initialised
    with _init_lock:
        if _initialised:
            return
        _init_logging(level)
        _initialised = True
