"""``lpir compare``: where a quantized model departs from its reference, layer by layer."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from lpir.cli.common import add_command, positive_int, read
from lpir.errors import ValidationError
from lpir.progress import progress


def load_samples(path: str) -> list[dict[str, np.ndarray]]:
    """Samples from an .npz (one sample: arrays by input name) or a folder of them (one each)."""
    source = Path(path)
    files = sorted(source.glob("*.npz")) if source.is_dir() else [source]
    if not files or not all(f.is_file() for f in files):
        raise ValidationError(f"--data {path}: no .npz file{' in the folder' if source.is_dir() else ''}")
    samples = []
    for file in files:
        try:
            with np.load(file, allow_pickle=False) as data:
                samples.append({name: data[name] for name in data.files})
        except (OSError, ValueError, EOFError) as exc:
            raise ValidationError(f"--data {file}: cannot load as .npz ({exc or 'empty file'})") from None
    return samples


def format_comparison(report, top: int) -> str:
    from lpir.analysis.report import table
    lines = [f"{report.samples} sample(s); {len(report.layers)} layers compared "
             f"({len(report.only_in_reference)} only in the reference, {len(report.only_in_candidate)} only in the candidate)"]
    rows = []
    for out in report.outputs:
        rows.append((out["name"], out["sqnr_db"], out["cosine"], out["max_abs_error_of_range"],
                     out.get("top1_agreement")))
    lines += ["", table(["output", "SQNR dB", "cosine", "max err/range", "top-1 agreement"], rows)]
    worst = [(layer.name + (" <- error jumps" if layer.name == report.jump else ""), layer.op_type,
              layer.stats.to_dict()["sqnr_db"], layer.stats.cosine, layer.stats.to_dict()["max_abs_error_of_range"],
              ", ".join(f"{q.to_dict()['clipped_share']:.2%}" for q in layer.quantized_inputs) or None)
             for layer in report.worst(top)]
    lines += ["", f"worst {len(worst)} layers", table(["layer", "op", "SQNR dB", "cosine", "max err/range",
                                                       "clipped inputs"], worst, limit=None)]
    if report.jump:
        lines.append(f"\nthe error first jumps at layer '{report.jump}'")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import lpir
    samples = load_samples(args.data)
    report = lpir.compare_models(read(args.reference), read(args.candidate), samples,
                                 progress=lambda xs: progress(xs, total=len(samples), desc="comparing"))
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_comparison(report, args.top))
    if args.html:
        from lpir.analysis.compare_html import write_html
        write_html(report, Path(args.html), title=f"{Path(args.candidate).name} against {Path(args.reference).name}",
                   top=args.top)
        print(f"wrote {args.html}", file=sys.stderr if args.json else sys.stdout)
    return 0


def register(subparsers) -> None:
    p = add_command(subparsers, "compare", run,
                    "Compare a model with its reference layer by layer (SQNR, cosine, errors, clipping).",
                    "lpir compare float.xml int8.xml --data samples/ --top 10 --html report.html")
    p.add_argument("reference", help="the reference model (.xml or .onnx), typically the float one")
    p.add_argument("candidate", help="the model to check (quantized, compressed ...)")
    p.add_argument("--data", required=True, metavar="FILE.npz|DIR",
                   help="inputs by name in an .npz (one sample), or a folder of .npz files")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--html", metavar="REPORT.html", help="also write the report as one self-contained HTML file")
    p.add_argument("--top", type=positive_int, default=10, help="worst layers shown (default 10)")
