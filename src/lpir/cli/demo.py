"""``lpir demo``: the whole tour on the bundled real model."""

from __future__ import annotations

import argparse

from lpir.cli.common import add_command
from lpir.progress import progress


def run(args: argparse.Namespace) -> int:
    from lpir.demo import run_demo
    run_demo(workdir=args.workdir, progress=progress)
    return 0


def register(subparsers) -> None:
    p = add_command(subparsers, "demo", run,
                    "Import a real ONNX text-direction classifier, convert it to IR, run it on real text, quantize it to INT8, inspect it.",
                    "lpir demo")
    p.add_argument("--workdir", help="keep the converted model here (default: a temporary folder)")
