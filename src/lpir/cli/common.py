"""What several subcommands share: reading a model, parsing NAME=VALUE flags, argument types."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from lpir.errors import ValidationError


def read(path: str):
    """The model at ``path``, with a one-line error when the file does not exist."""
    import lpir
    if not Path(path).exists():
        raise ValidationError(f"{path}: no such file")
    return lpir.read_model(path)


def parse_assignment(text: str, flag: str) -> tuple[str, str]:
    name, sep, value = text.rpartition("=")
    if not sep or not name or not value:
        raise ValidationError(f"{flag} {text!r}: expected NAME=VALUE")
    return name, value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def add_command(subparsers, name: str, run: Callable[[argparse.Namespace], int], summary: str,
                example: str) -> argparse.ArgumentParser:
    """A subcommand with ``--help`` that ends with an example, and ``--debug``."""
    parser = subparsers.add_parser(name, help=summary, description=summary, epilog=f"example:\n  {example}",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of errors")
    parser.set_defaults(func=run)
    return parser
