"""The ``lpir`` command: one module per subcommand, each a thin call of the public API.

Errors a user can cause are :class:`~lpir.errors.LpirError`; they are printed on one line and
the command exits with code 2 (``--debug`` shows the traceback). Anything else is a bug and
propagates with its traceback. A subcommand is a module with ``register(subparsers)``; adding
one is adding its module to ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lpir.cli import compare, compress, convert, demo, inspect, quantize, run, sparsify
from lpir.errors import LpirError

EXIT_USER_ERROR = 2
COMMANDS = (inspect, convert, compress, quantize, run, sparsify, compare, demo)


def build_parser() -> argparse.ArgumentParser:
    from lpir import __version__
    parser = argparse.ArgumentParser(
        prog="lpir", description="Low-precision models in OpenVINO IR: inspect, convert, compress, quantize, run.",
        epilog="example:\n  lpir inspect model.xml", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"lpir {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lpir`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LpirError as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split("\n"))
        print(f"lpir {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
