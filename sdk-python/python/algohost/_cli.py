"""The ``algohost`` console command: the Rust CLI inside this Python process,
so that Python plugins run in-process (DESIGN.md section 4, front door 1)."""

import sys

from algohost import _native


def main() -> None:
    """Runs ``algohost`` with this process's arguments and exits with its code."""
    sys.exit(_native.cli_main(sys.argv))
