"""``lpir inspect``: what a model holds, as a table or JSON."""

from __future__ import annotations

import argparse
import json

from lpir.cli.common import add_command, read
from lpir.progress import progress


def run(args: argparse.Namespace) -> int:
    from lpir import inspect_model
    from lpir.analysis.report import format_report
    model = read(args.model)
    report = inspect_model(model, sparsity=not args.no_sparsity,
                           progress=lambda xs: progress(xs, desc="reading weights"))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    print(format_report(report))
    if report.fake_quantize:
        from lpir.runtime.lowering import lower_to_integer
        print(f"\nin integer mode (lpir run --integer; OpenVINO's CPU rules): {lower_to_integer(model, rewrite=False)[1]}")
    return 0


def register(subparsers) -> None:
    p = add_command(subparsers, "inspect", run,
                    "Show inputs, ops, weights by type, quantization, low-precision layers and sparsity.",
                    "lpir inspect model.xml --json > report.json")
    p.add_argument("model", help="an OpenVINO IR .xml or an ONNX .onnx")
    p.add_argument("--json", action="store_true", help="print the report as JSON (schema in README)")
    p.add_argument("--no-sparsity", action="store_true", help="skip reading weights to count zeros")
