"""``lpir compress``: float weights to int8/int4/nf4, as NNCF's ``compress_weights`` stores them."""

from __future__ import annotations

import argparse
import queue
import time
import warnings
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from lpir.cli.common import add_command, positive_int, read
from lpir.compression.lowering import MODES
from lpir.compression.mixed_precision import METRICS
from lpir.compression.weights import BACKUP_MODES, DEFAULT_SUBSET_SIZE


def run(args: argparse.Namespace) -> int:
    import lpir
    from lpir.progress import progress

    output = Path(args.output)
    start = time.perf_counter()
    model = read(args.model)
    dataset = None
    if args.data is not None:
        from lpir.cli.quantize import array_samples
        from lpir.errors import ValidationError
        if not Path(args.data).is_file():
            raise ValidationError(f"--data {args.data}: no such file")
        dataset = lpir.Dataset(array_samples(Path(args.data), model))
    lowered: queue.Queue = queue.Queue()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", lpir.LpirWarning)
        compressed = lpir.compress_weights(
            model, mode=args.mode, ratio=args.ratio, group_size=args.group_size,
            ignored_scope=lpir.IgnoredScope(names=tuple(args.ignore)) if args.ignore else None,
            all_layers=args.all_layers, backup_mode=args.backup_mode, dataset=dataset,
            sensitivity_metric=args.sensitivity_metric, subset_size=args.subset_size,
            group_size_fallback=args.group_size_fallback, on_lowered=lowered.put)
    for warning in caught:
        print(f"lpir compress: warning: {warning.message}")
    total = _count_compressed(compressed) - _count_compressed(model)
    sites = []
    with ThreadPoolExecutor(1) as pool:
        saving = pool.submit(lpir.save_model, compressed, output)
        for site in progress(_drain(lowered, saving), total=total, desc="compressing weights"):
            sites.append(site)
        saving.result()
    _print_summary(args.model, output, sites, time.perf_counter() - start)
    return 0


def _drain(events: queue.Queue, task: Future):
    """Yield each event until ``task`` has finished and nothing is left."""
    while True:
        try:
            yield events.get(timeout=0.05)
        except queue.Empty:
            if task.done() and events.empty():
                return


def _count_compressed(model) -> int:
    from lpir.ir.dequantization import match_dequantization
    return sum(1 for n in model.nodes() if n.type == "Const" and match_dequantization(n.outputs[0]) is not None)


def _print_summary(source: str, output: Path, sites: list, seconds: float) -> None:
    from lpir.analysis.report import table

    by_mode: Counter = Counter()
    parameters: Counter = Counter()
    for site in sites:
        key = site.mode.name + (f" group {site.group_size}" if site.group_size > 0 else " per channel")
        by_mode[key] += 1
        parameters[key] += site.size
    before = Path(source).with_suffix(".bin")
    before_size = before.stat().st_size if Path(source).suffix.lower() == ".xml" and before.exists() else None
    after_size = output.with_suffix(".bin").stat().st_size
    print(f"compressed {len(sites)} weights in {seconds:.2f} s")
    if by_mode:
        rows = [[key, str(count), f"{parameters[key]:,}"] for key, count in sorted(by_mode.items())]
        print(table(["mode", "weights", "parameters"], rows))
    sizes = f"{before_size:,} → {after_size:,} bytes" if before_size else f"{after_size:,} bytes"
    ratio = f" ({before_size / after_size:.1f}x smaller)" if before_size and after_size else ""
    print(f"wrote {output} and {output.with_suffix('.bin').name}: weights {sizes}{ratio}")


def register(subparsers) -> None:
    p = add_command(subparsers, "compress", run,
                    "Compress float weights to int8/int4/nf4 (the bytes NNCF's compress_weights writes).",
                    "lpir compress model.xml -o model_int4.xml --mode int4_asym --group-size 128 --ratio 0.8")
    p.add_argument("model", help="an OpenVINO IR .xml or an ONNX .onnx")
    p.add_argument("-o", "--output", required=True, help="the .xml to write (the .bin goes beside it)")
    p.add_argument("--mode", default="int8_asym", help=f"one of {', '.join(MODES)} (default int8_asym)")
    p.add_argument("--group-size", type=int, default=None,
                   help="input channels per scale for 4-bit modes (default 128; -1: per output channel)")
    p.add_argument("--group-size-fallback", default="error", metavar="HOW",
                   help="a weight whose input channels the group size does not divide: error (default), "
                        "ignore (kept float) or adjust (a smaller power-of-two group, at least 32)")
    p.add_argument("--ratio", type=float, default=1.0,
                   help="share of the eligible weights in the 4-bit mode, the least sensitive first (default 1)")
    p.add_argument("--all-layers", action="store_true",
                   help="also put embeddings and the last matrix product in the 4-bit mode")
    p.add_argument("--backup-mode", default="int8_asym",
                   help=f"mode of the weights the 4-bit mode leaves: {', '.join(BACKUP_MODES)} (default int8_asym)")
    p.add_argument("--data", default=None, metavar="FILE",
                   help="model inputs for data-aware --ratio selection: .npy (rows are samples of the one input) "
                        "or .npz (arrays by input name)")
    p.add_argument("--sensitivity-metric", default=None, metavar="METRIC",
                   help=f"how --ratio ranks weights: one of {', '.join(METRICS)} (default: "
                        "max_activation_variance with --data, else weight_quantization_error)")
    p.add_argument("--subset-size", type=positive_int, default=DEFAULT_SUBSET_SIZE,
                   help=f"samples of --data to use (default {DEFAULT_SUBSET_SIZE})")
    p.add_argument("--ignore", nargs="+", default=[], metavar="NAME",
                   help="layers (by name) whose weights stay as they are")
