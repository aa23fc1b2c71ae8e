"""Python ``logging`` inside a run: records are kept on the run.

While a Python algorithm runs, its :class:`~algohost.Context` is the *current*
context (a :class:`contextvars.ContextVar`, so it follows the run's thread and
nothing else). A handler on the root logger forwards every record emitted
meanwhile to ``ctx._log(level, logger name, message)``. Any other record
(outside a run, or from a thread the plugin started) goes where Python would
have sent it without this handler: to the application's own handlers, or,
when there are none, to :data:`logging.lastResort` (stderr, ``WARNING`` and
up). Installing the handler thus changes nothing outside runs.

``ctx.log`` is a :class:`RunLogger`: the logger
``algohost.plugins.<algorithm>`` bound to its run, whose records are kept on
that run from whatever thread logs them. The ``algohost.plugins`` logger is
set to ``DEBUG`` so that ``ctx.log.debug`` and ``ctx.log.info`` are kept on
the run even when the root logger stays at its default ``WARNING``. Other
loggers keep their configured levels.

Records marked ``algohost_rust`` are Rust ``tracing`` events forwarded by
:func:`algohost.init`; the host keeps those on the run itself, so the handler
skips them instead of storing them twice. Records marked ``algohost_run`` are
a run's own records, which ``Host.run`` emits to ``logging`` as the run goes
on (on ``algohost.run.<algorithm>``, or, for a record of the plugin's own
``logging`` that no handler of the application's had, on its own logger):
they are kept on the run already, so the handler passes them on as it passes
records outside a run. ``ctx._log`` is told whether a handler of the
application's had a record, so that ``Host.run`` does not show it twice.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from algohost._native import Context

PLUGINS_LOGGER = "algohost.plugins"
"""Parent of the loggers ``Context.log`` returns."""

_current_context: contextvars.ContextVar[Context | None] = contextvars.ContextVar(
    "algohost_current_context", default=None
)
_install_lock = threading.Lock()
_installed: RunLogHandler | None = None


def current_context() -> Context | None:
    """The context of the run executing in this thread (or task), if any."""
    return _current_context.get()


def enter(ctx: Context) -> contextvars.Token[Context | None]:
    """Makes ``ctx`` the current context; undo with :func:`leave`."""
    return _current_context.set(ctx)


def leave(token: contextvars.Token[Context | None]) -> None:
    """Restores the context that was current before :func:`enter`."""
    _current_context.reset(token)


class RunLogHandler(logging.Handler):
    """Forwards records emitted during a run to the run's context.

    Recursion (a record emitted while forwarding one, e.g. by code that
    ``ctx._log`` calls) is dropped rather than forwarded again.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.setFormatter(logging.Formatter("%(message)s"))
        self._forwarding = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        ctx = _current_context.get()
        if (
            ctx is None
            or getattr(record, "algohost_rust", False)
            or getattr(record, "algohost_run", False)
        ):
            self._fall_through(record)
            return
        if getattr(self._forwarding, "active", False):
            return
        self._forwarding.active = True
        try:
            ctx._log(
                record.levelname.lower(),
                record.name,
                self.format(record),
                handled=self._is_handled_elsewhere(record),
            )
        except Exception:  # noqa: BLE001  (logging must not break the run)
            self.handleError(record)
        finally:
            self._forwarding.active = False

    def _is_handled_elsewhere(self, record: logging.LogRecord) -> bool:
        """Whether :meth:`logging.Logger.callHandlers` finds a handler for
        ``record`` besides this one."""
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None:
            if any(h is not self for h in logger.handlers):
                return True
            logger = logger.parent if logger.propagate else None
        return False

    def _fall_through(self, record: logging.LogRecord) -> None:
        """What :meth:`logging.Logger.callHandlers` does for ``record`` when
        no handler is found: this handler does not count as one."""
        if self._is_handled_elsewhere(record):
            return
        if logging.lastResort is not None:
            if record.levelno >= logging.lastResort.level:
                logging.lastResort.handle(record)
        elif logging.raiseExceptions:
            manager = logging.Logger.manager
            if not manager.emittedNoHandlerWarning:
                sys.stderr.write(
                    f'No handlers could be found for logger "{record.name}"\n'
                )
                manager.emittedNoHandlerWarning = True


class RunLogger(logging.Logger):
    """``Context.log``: the logger ``name`` (``algohost.plugins.<algorithm>``,
    its parent, whose level and handlers it follows) bound to the run of
    ``ctx``, so that its records are kept on that run from any thread, not
    only the run's own.

    It is not registered with ``logging.getLogger``: each run has its own,
    and its level and handlers are those of ``name``, which ``setLevel``,
    ``addHandler`` and ``removeHandler`` change.
    """

    def __init__(self, ctx: Context, name: str) -> None:
        super().__init__(name)
        self.parent = logging.getLogger(name)
        self._ctx = ctx

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802  (logging's name)
        # Not cached, as Logger does: only registered loggers' caches are
        # cleared when a level changes.
        return self.manager.disable < level and level >= self.getEffectiveLevel()

    def setLevel(self, level: int | str) -> None:  # noqa: N802
        """Sets the level of ``algohost.plugins.<algorithm>`` for every run."""
        self._shared().setLevel(level)

    def addHandler(self, hdlr: logging.Handler) -> None:  # noqa: N802
        """Adds a handler to ``algohost.plugins.<algorithm>`` for every run."""
        self._shared().addHandler(hdlr)

    def removeHandler(self, hdlr: logging.Handler) -> None:  # noqa: N802
        """Removes a handler from ``algohost.plugins.<algorithm>``."""
        self._shared().removeHandler(hdlr)

    def _shared(self) -> logging.Logger:
        """The registered logger of this name (the parent)."""
        return logging.getLogger(self.name)

    def handle(self, record: logging.LogRecord) -> None:
        """Handles ``record`` with this logger's run as the current one."""
        token = enter(self._ctx)
        try:
            super().handle(record)
        finally:
            leave(token)


def install() -> RunLogHandler:
    """Installs the handler on the root logger once per process and sets the
    ``algohost.plugins`` logger to ``DEBUG``; later calls return the same
    handler."""
    global _installed
    if _installed is not None:
        return _installed
    with _install_lock:
        if _installed is None:
            handler = RunLogHandler()
            logging.getLogger().addHandler(handler)
            logging.getLogger(PLUGINS_LOGGER).setLevel(logging.DEBUG)
            _installed = handler
        return _installed
