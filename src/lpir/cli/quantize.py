"""``lpir quantize``: post-training INT8 quantization of a model on calibration data."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lpir.cli.common import add_command, positive_int, read
from lpir.errors import ValidationError
from lpir.progress import progress
from lpir.quantization.ptq import ADVANCED

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def array_samples(path: Path, model) -> list:
    """Samples from a .npy (one input: rows of the array) or .npz (arrays by input name, rows
    are samples); each sample keeps a batch axis of 1."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ValidationError(f"--data {path}: cannot load it as .npy/.npz ({exc or 'empty file'})") from None
    if isinstance(loaded, np.ndarray):
        return [loaded[i:i + 1] for i in range(len(loaded))] if loaded.ndim else [loaded]
    with loaded:
        arrays = {key: loaded[key] for key in loaded.files}
    if not arrays:
        return []
    counts = {key: len(value) for key, value in arrays.items()}
    if len(set(counts.values())) != 1:
        raise ValidationError(f"--data {path}: arrays hold different numbers of samples {counts}")
    if len(arrays) == 1 and len(model.inputs) == 1:
        (value,) = arrays.values()
        return [value[i:i + 1] for i in range(len(value))]
    return [{key: value[i:i + 1] for key, value in arrays.items()} for i in range(next(iter(counts.values())))]


def image_samples(folder: Path, size: tuple[int, int] | None, layout: str, mean, scale) -> Iterator[np.ndarray]:
    """Images of ``folder`` as model inputs: RGB, resized to ``size`` (height, width), then
    ``(pixel - mean) / scale`` per channel, as OpenVINO's preprocessing flags mean."""
    try:
        from PIL import Image
    except ImportError:
        raise ValidationError("--data with a folder of images needs Pillow: pip install 'lpir[images]'") from None
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    for file in files:
        with Image.open(file) as image:
            image = image.convert("RGB")
            if size is not None:
                image = image.resize((size[1], size[0]), Image.BILINEAR)
            pixels = np.asarray(image, np.float32)
        pixels = (pixels - np.asarray(mean, np.float32)) / np.asarray(scale, np.float32)
        yield (pixels.transpose(2, 0, 1) if layout == "NCHW" else pixels)[None]


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: expected HEIGHTxWIDTH, e.g. 224x224")
    return int(parts[0]), int(parts[1])


def run(args: argparse.Namespace) -> int:
    import lpir
    from lpir.analysis.report import table
    output = Path(args.output)
    if output.suffix.lower() != ".xml":
        raise ValidationError(f"-o {output}: the quantized model is saved as OpenVINO IR, a .xml path")
    model = read(args.model)
    data = Path(args.data)
    if data.is_dir():
        samples = image_samples(data, args.size, args.layout, args.mean, args.scale)
    elif data.is_file():
        samples = array_samples(data, model)
    else:
        raise ValidationError(f"--data {data}: no such file or folder")
    scope = lpir.IgnoredScope(names=args.ignore) if args.ignore else None
    advanced = {key: value for key, value in (("weights_range_estimator_params", args.weights_range),
                                              ("activations_range_estimator_params", args.activations_range),
                                              ("overflow_fix", args.overflow_fix))
                if value is not None}
    quantized = lpir.quantize(model, samples, subset_size=args.subset_size, preset=args.preset,
                              model_type=args.model_type, ignored_scope=scope, advanced=advanced,
                              fast_bias_correction=args.bias_correction == "fast",
                              progress=lambda items, **kw: progress(items, **kw))
    lpir.save_model(quantized, output)
    before = lpir.inspect_model(model, sparsity=False)
    after = lpir.inspect_model(lpir.read_model(output), sparsity=False)
    low = [layer for layer in after.layers if layer.mode == "low-precision"]
    kept = [layer for layer in after.layers if layer.mode != "low-precision"]
    activations = sum(fq.applies_to == "activations" for fq in after.fake_quantize)
    already = sum(layer.mode == "low-precision" for layer in before.layers)
    print(f"{len(low)} of {len(after.layers)} layers quantized to INT8 ({activations} activation quantizers, "
          f"{len(after.compressed_weights)} int8 weights); the input model had {already}")
    if kept:
        reasons = {name: "ignored (--ignore)" for name in args.ignore or ()}
        print(table(["layer kept in float", "type", "why"],
                    [(layer.name, layer.type, reasons.get(layer.name, layer.reason)) for layer in kept]))
    size_before, size_after = _weights_size(args.model), _weights_size(output)
    print(f"wrote {output}: weights {size_before:,} -> {size_after:,} bytes ({size_before / max(size_after, 1):.1f}x smaller)")
    return 0


def _weights_size(model_path) -> int:
    path = Path(model_path)
    weights = path.with_suffix(".bin") if path.suffix.lower() == ".xml" else path
    return os.path.getsize(weights) if weights.exists() else 0


def register(subparsers) -> None:
    p = add_command(subparsers, "quantize", run,
                    "Quantize a float model to INT8 (FakeQuantize + int8 weights) on calibration data, as NNCF does.",
                    "lpir quantize model.xml -o model_int8.xml --data samples.npz --subset-size 300")
    p.add_argument("model", help="a float OpenVINO IR .xml or ONNX .onnx")
    p.add_argument("-o", "--output", required=True, help="the quantized IR to write (.xml, with its .bin)")
    p.add_argument("--data", required=True,
                   help=".npy (rows are samples of the one input), .npz (arrays by input name), or a folder of images")
    p.add_argument("--subset-size", type=positive_int, default=300, help="calibration samples to use (default 300)")
    p.add_argument("--preset", choices=("performance", "mixed"), help="symmetric (performance) or asymmetric "
                   "(mixed) activations; default: mixed for transformers, else performance")
    p.add_argument("--model-type", choices=("transformer",), help="apply NNCF's transformer rules")
    p.add_argument("--ignore", action="append", metavar="NAME", help="keep this layer in float (repeatable)")
    p.add_argument("--bias-correction", choices=("fast", "layerwise"), default="fast",
                   help="NNCF's FastBiasCorrection (default) or its layer-by-layer BiasCorrection")
    p.add_argument("--overflow-fix", choices=ADVANCED["overflow_fix"],
                   help="7-bit weights on the first convolutions (first_layer, NNCF's default), on every layer "
                   "(enable: OpenVINO then computes the same on CPUs with and without VNNI) or none (disable)")
    ranges = p.add_argument_group("range setting (default: searched; NNCF's with --weights-range minmax "
                                  "--activations-range mean_minmax)")
    ranges.add_argument("--weights-range", choices=ADVANCED["weights_range_estimator_params"],
                        help="per-channel weight limits: mse (least output error, the default) or minmax (NNCF's)")
    ranges.add_argument("--activations-range", choices=ADVANCED["activations_range_estimator_params"],
                        help="activation ranges: histogram (least squared error over all calibration values, "
                        "the default) or mean_minmax (NNCF's)")
    images = p.add_argument_group("image folders (OpenVINO-style preprocessing)")
    images.add_argument("--size", type=_size, help="resize to HEIGHTxWIDTH")
    images.add_argument("--layout", choices=("NCHW", "NHWC"), default="NCHW", help="input layout (default NCHW)")
    images.add_argument("--mean", type=_floats, default=[0.0], help="per-channel values subtracted, e.g. 123.7,116.3,103.5")
    images.add_argument("--scale", type=_floats, default=[1.0], help="per-channel divisors, e.g. 58.4,57.1,57.4")
