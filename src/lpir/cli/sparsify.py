"""``lpir sparsify``: write a copy of a model with a share of its weights set to exact zero."""

from __future__ import annotations

import argparse

import numpy as np

from lpir.cli.common import add_command, read
from lpir.errors import ValidationError


def load_samples(path: str) -> list[dict[str, np.ndarray]]:
    """Calibration samples from a .npz: one array per model input, the first axis indexing samples."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ValidationError(f"--data {path}: cannot load as .npz ({exc or 'empty file'})") from exc
    if not arrays:
        raise ValidationError(f"--data {path}: holds no arrays")
    counts = {len(a) for a in arrays.values()}
    if len(counts) != 1:
        raise ValidationError(f"--data {path}: arrays have different sample counts {sorted(counts)}")
    return [{name: a[i:i + 1] for name, a in arrays.items()} for i in range(counts.pop())]


def run(args: argparse.Namespace) -> int:
    import lpir
    if not args.output.endswith(".xml"):
        raise ValidationError(f"-o {args.output}: the output is an IR .xml path")
    model = read(args.model)
    dataset = load_samples(args.data) if args.data else None
    sparse = lpir.sparsify(model, args.sparsity, dataset=dataset, pattern=args.pattern,
                           ignored_scope=args.ignore or None)
    lpir.save_model(sparse, args.output)
    how = "by |W|·‖X‖ on " + f"{len(dataset)} samples" if dataset else "by magnitude"
    print(f"wrote {args.output}: {args.sparsity:.0%} of each MatMul/Convolution's weights set to zero "
          f"({args.pattern}, {how})")
    return 0


def register(subparsers) -> None:
    p = add_command(subparsers, "sparsify", run, "Set a share of each layer's weights to exact zero.",
                    "lpir sparsify model.xml -o sparse.xml --sparsity 0.5 --data calibration.npz --pattern 2:4")
    p.add_argument("model", help="an OpenVINO IR .xml or an ONNX .onnx")
    p.add_argument("-o", "--output", required=True, metavar="OUT.xml", help="the sparse IR to write")
    p.add_argument("--sparsity", type=float, default=0.5, help="share of zeros per layer, in [0, 1) (default 0.5)")
    p.add_argument("--data", metavar="FILE.npz",
                   help="calibration inputs by input name (first axis: samples): rank by |W|·‖X‖ per row")
    p.add_argument("--pattern", default="unstructured", help="'unstructured' (default) or N:M, e.g. 2:4")
    p.add_argument("--ignore", action="append", default=[], metavar="LAYER",
                   help="a layer name to leave dense; repeatable")
