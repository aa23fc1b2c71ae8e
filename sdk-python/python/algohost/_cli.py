"""The ``algohost`` console command: the Rust CLI inside this Python process,
so that Python plugins run in-process (DESIGN.md section 4, front door 1)."""

import os
import sys

from algohost import _native


def main() -> None:
    """Runs ``algohost`` with this process's arguments and exits with its code.

    The process ends as the native binary's does, without finalizing the
    interpreter: a plugin given up at its timeout may still be running
    Python on another thread, and finalizing under it aborts the process
    (``Fatal Python error: PyGILState_Release``).
    """
    code = _native.cli_main(sys.argv)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
