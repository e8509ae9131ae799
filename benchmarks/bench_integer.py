"""Integer mode against the float emulation and OpenVINO INT8, same run.

    python benchmarks/bench_integer.py [--runs 10]

EfficientNet-Lite0 (from ../shared/models when present), MiniLM-L3 and the PP-OCR models are
each quantized once by ``lpir.quantize`` (NNCF's ranges) on a few real inputs (MiniLM as a transformer) and
saved as IR (the classifier also by NNCF's ``nncf.quantize``, same inputs, as a second
source); lpir runs it in its float emulation (FakeQuantize as float ops), in its exact
emulation (``exact=True``: the quantized layers in f64 on exactly dequantized inputs, rounded
once) and in integer mode (exact u8/i8 × i8 → i32 layers), OpenVINO's CPU runs it with its
low-precision transformations (f32 hint, no dynamic quantization). Prints median latencies,
the exact/emulation and integer/emulation ratios (target ≤ 1.5 for integer mode) and how far
integer mode is from the exact emulation, the float emulation and OpenVINO end to end (max /
mean of |difference| / range over the outputs), and how far integer mode with OpenVINO's CPU
arithmetic (``arithmetic="openvino-cpu"``) is from OpenVINO. On a shared machine run it with one BLAS thread
(``OPENBLAS_NUM_THREADS=1``): two BLAS threads competing with other jobs wait on each other
and their times scatter over two orders of magnitude.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import openvino as ov

import lpir
from timing import OV_F32, median_ms
from lpir import zoo
from lpir.quantization.ptq import NNCF_RANGES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import realdata  # noqa: E402


EFFICIENTNET = Path(__file__).resolve().parents[2] / "shared" / "models" / "efficientnet_lite0.onnx"


def one_by_one(*batches: np.ndarray) -> list[list[np.ndarray]]:
    """Calibration samples: the items of batches that share their first axis, one per sample."""
    return [[b[i:i + 1] for b in batches] for i in range(len(batches[0]))]


def cases(efficientnet: Path):
    """(label, model, quantizer, inputs, calibration samples)."""
    if efficientnet.exists():
        yield ("EfficientNet-Lite0 b1", str(efficientnet), "lpir", [realdata.photo_batch(224, 224, ("chelsea",))],
               one_by_one(realdata.photo_batch(224, 224, ("coffee", "astronaut", "rocket"))))
    ids, mask = realdata.token_batch(1, 128)
    tokens = [one_by_one(*realdata.token_batch(2, 32, seed=s)) for s in range(4)]
    yield "MiniLM-L3 b1 s128", "minilm", "lpir", [ids, mask], [sample for batch in tokens for sample in batch]
    lines = realdata.text_lines(48, 192, 6)
    for tool in ("lpir", "nncf"):
        yield f"PP-OCR cls b6 ({tool})", "ppocr_cls", tool, [lines], one_by_one(realdata.text_lines(48, 192, 4))
    yield ("PP-OCRv4 rec 48x320", "ppocr_rec", "lpir", [realdata.text_lines(48, 320, 1)],
           one_by_one(realdata.text_lines(48, 320, 2)))
    yield ("PP-OCRv4 det 256", "ppocr_det", "lpir", [realdata.photo_batch(256, 256, ("page",))],
           one_by_one(realdata.photo_batch(256, 256, ("page", "coffee"))))


def quantize(name: str, tool: str, samples, folder: Path, overflow_fix: str = "first_layer") -> str:
    """The model quantized by ``tool`` ("lpir" or "nncf") on ``samples``, saved as IR; ``overflow_fix``
    as NNCF's ("first_layer": 7-bit weights on the first convolutions, "enable": on every layer)."""
    model = ov.convert_model(name if name.endswith(".onnx") else str(zoo.all_models()[name]))
    path = folder / f"{Path(name).stem}_{tool}.xml"
    if tool == "nncf":
        import nncf
        from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix
        options = {"model_type": nncf.ModelType.TRANSFORMER} if name == "minilm" else {}
        advanced = AdvancedQuantizationParameters(overflow_fix=OverflowFix[overflow_fix.upper()])
        ov.save_model(nncf.quantize(model, nncf.Dataset(samples), subset_size=len(samples), advanced_parameters=advanced,
                                    **options), str(path), compress_to_fp16=False)
        return str(path)
    ov.save_model(model, str(folder / "float.xml"), compress_to_fp16=False)
    options = {"model_type": "transformer"} if name == "minilm" else {}
    lpir.save_model(lpir.quantize(lpir.read_model(folder / "float.xml"), samples, subset_size=len(samples),
                                  advanced={**NNCF_RANGES, "overflow_fix": overflow_fix}, **options), path)
    return str(path)


def quantized_cases(efficientnet: Path, only: str | None, folder: Path, overflow_fix: str = "first_layer"):
    """(label, IR path, inputs) of each case whose label contains ``only``, quantized into ``folder``."""
    for label, name, tool, inputs, samples in cases(efficientnet):
        if not only or only in label:
            yield label, quantize(name, tool, samples, folder, overflow_fix), inputs


def departure_arguments() -> argparse.Namespace:
    """The options of the scripts that measure a runtime's departures on these cases."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", help="run only the models whose label contains this text")
    parser.add_argument("--efficientnet", type=Path, default=EFFICIENTNET, help="path of efficientnet_lite0.onnx")
    parser.add_argument("--all", action="store_true", help="print every FakeQuantize, not only those that differ")
    return parser.parse_args()


def relative(actual: list, expected: list) -> str:
    """max and mean |difference| / range, the largest over the float outputs."""
    pairs = [(a.astype(np.float64), e) for a, e in zip(actual, expected) if e.dtype.kind == "f"]
    largest = max(float(np.abs(a - e).max() / (np.ptp(e) or 1.0)) for a, e in pairs)
    mean = max(float(np.abs(a - e).mean() / (np.ptp(e) or 1.0)) for a, e in pairs)
    return f"{largest:.1e}/{mean:.0e}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--efficientnet", type=Path, default=EFFICIENTNET, help="path of efficientnet_lite0.onnx")
    parser.add_argument("--only", help="run only the models whose label contains this text")
    args = parser.parse_args()
    core = ov.Core()
    print(f"{'model':24s} {'emulation ms':>12s} {'exact/emu':>9s} {'integer ms':>10s} {'int/emu':>7s} {'OV INT8 ms':>10s} "
          f"{'int vs exact':>15s} {'int vs emu':>15s} {'int vs OV':>15s} {'cpu-arith vs OV':>15s}")
    with tempfile.TemporaryDirectory() as folder:
        for label, xml, inputs in quantized_cases(args.efficientnet, args.only, Path(folder)):
            model = lpir.read_model(xml)
            emulation = lpir.compile_model(model)
            exact = lpir.compile_model(model, exact=True)
            integer = lpir.compile_model(model, integer=True)
            as_cpu = lpir.compile_model(model, integer=True, arithmetic="openvino-cpu")
            openvino = core.compile_model(xml, "CPU", OV_F32)
            times = []
            for _ in range(3):  # rounds: the machine is shared, the load drifts
                times.append((median_ms(lambda: emulation(inputs), args.runs),
                              median_ms(lambda: exact(inputs), args.runs),
                              median_ms(lambda: integer(inputs), args.runs),
                              median_ms(lambda: openvino(inputs), args.runs)))
            emu_ms, _, int_ms, ov_ms = np.median(np.array(times), axis=0)
            exact_ratio, ratio = (float(np.median([t[k] / t[0] for t in times])) for k in (1, 2))
            e, x, i = list(emulation(inputs)), list(exact(inputs)), list(integer(inputs))
            result = openvino(inputs)
            o = [np.array(result[out]) for out in openvino.outputs]
            print(f"{label:24s} {emu_ms:12.1f} {exact_ratio:8.2f}x {int_ms:10.1f} {ratio:6.2f}x {ov_ms:10.1f} "
                  f"{relative(i, x):>15s} {relative(i, e):>15s} {relative(i, o):>15s} "
                  f"{relative(list(as_cpu(inputs)), o):>15s}   "
                  f"({len(integer.plan.integer_layers)}/{len(integer.plan.layers)} layers integer)")


if __name__ == "__main__":
    main()
