"""ONNX Runtime latency of lpir's QDQ export against ONNX Runtime's own quantize_static, same run.

    python benchmarks/bench_qdq_export.py [--runs 50] [--rounds 3] [--batch 6]

Both start from the same float model, PP-OCR's text-direction classifier (from rapidocr-onnxruntime),
and the same 16 calibration crops of real text lines (scikit-image's scanned page):

- lpir: OpenVINO's converter, ``lpir.quantize`` (8-bit, NNCF's defaults and ranges), then
  ``lpir.save_model(model, "x.onnx")`` (FakeQuantize → QuantizeLinear/DequantizeLinear, i8 weights
  as integer initializers); the same export of NNCF's ``quantize`` result for comparison;
- ONNX Runtime: ``quantize_static`` in QDQ format (u8 activations, i8 per-channel weights).

Each round times one model then the other in ONNX Runtime (CPU, all graph optimisations), warm.
Printed: median latency of each, the median of the rounds' ratios (lpir's quantization against
quantize_static), the float model for scale, the integer kernels in ONNX Runtime's optimised
graph, the agreement of top-1 classes with the float model on held-out crops, and for lpir's
exports how far ONNX Runtime's outputs are from lpir's FakeQuantize emulation of the IR (max /
mean |difference| / output range), and from lpir's integer mode computing as ONNX Runtime does
(``arithmetic="onnxruntime"``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from timing import median_ms, rounds_ms

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def session(path: Path, threads: int, optimized: Path | None = None):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    if optimized is not None:
        options.optimized_model_filepath = str(optimized)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def lpir_export(float_onnx: Path, calibration: np.ndarray, folder: Path, tool: str) -> Path:
    """The model quantized by ``tool`` ("lpir" or "nncf"), saved as IR, exported by lpir to ONNX."""
    import openvino as ov
    import lpir
    from lpir.quantization.ptq import NNCF_RANGES
    samples = [calibration[i:i + 1] for i in range(len(calibration))]
    model = ov.convert_model(str(float_onnx))
    ir = folder / f"{tool}.xml"
    if tool == "nncf":
        import nncf
        ov.save_model(nncf.quantize(model, nncf.Dataset(samples), subset_size=len(samples)), str(ir), compress_to_fp16=False)
    else:
        ov.save_model(model, str(folder / "float.xml"), compress_to_fp16=False)
        lpir.save_model(lpir.quantize(lpir.read_model(folder / "float.xml"), samples, subset_size=len(samples),
                                      advanced=NNCF_RANGES), ir)
    path = folder / f"{tool}_qdq.onnx"
    lpir.save_model(lpir.read_model(ir), path)
    return path


def against_lpir(path: Path, session, inputs: np.ndarray, **options) -> str:
    """max / mean |ONNX Runtime - lpir's run of the IR the export came from| / range (the float
    emulation, or the compile ``options``)."""
    import lpir
    model = lpir.read_model(path.with_name(path.stem.replace("_qdq", "") + ".xml"))
    reference = lpir.compile_model(model, **options)([inputs])[0]
    error = np.abs(session.run(None, {"x": inputs})[0] - reference) / np.ptp(reference)
    return f"{error.max():.1e}/{error.mean():.1e}"


def ort_quantize(float_onnx: Path, calibration: np.ndarray, folder: Path) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"x": calibration[i:i + 1]} for i in range(len(calibration))])

        def get_next(self):
            return next(self.items, None)

    path = folder / "ort_qdq.onnx"
    quantize_static(str(float_onnx), str(path), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    return path


def kernels(path: Path, folder: Path) -> str:
    import onnx
    optimized = folder / f"{path.stem}.optimized.onnx"
    session(path, 1, optimized)
    counts = Counter(n.op_type for n in onnx.load(str(optimized)).graph.node)
    fused = {k: v for k, v in sorted(counts.items()) if k.startswith("QLinear") or "Integer" in k}
    return ", ".join(f"{k} {v}" for k, v in fused.items()) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50, help="timed calls per round (default 50)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of one model then the other (default 3)")
    parser.add_argument("--batch", type=int, default=6, help="text lines per call (default 6, as PP-OCR runs it)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="ONNX Runtime threads")
    args = parser.parse_args()

    import realdata
    from lpir import zoo
    float_onnx = zoo.ppocr("cls")
    lines = realdata.text_lines(48, 192, 32)
    calibration, held_out = lines[::2], lines[1::2]
    held_out = np.concatenate([held_out, held_out[:, :, ::-1, ::-1]])  # upright and turned 180°
    batch = held_out[:args.batch]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = {"lpir INT8, lpir QDQ export": lpir_export(float_onnx, calibration, folder, "lpir"),
                  "ORT quantize_static QDQ": ort_quantize(float_onnx, calibration, folder),
                  "NNCF INT8, lpir QDQ export": lpir_export(float_onnx, calibration, folder, "nncf")}
        sessions = {name: session(path, args.threads) for name, path in models.items()}
        float_session = session(float_onnx, args.threads)
        reference = float_session.run(None, {"x": held_out})[0].argmax(1)

        def call(s):
            return lambda: s.run(None, {"x": batch})

        (lpir_name, lpir_s), (ort_name, ort_s), (nncf_name, nncf_s) = sessions.items()
        lpir_ms, ort_ms, ratio = rounds_ms(call(lpir_s), call(ort_s), args.runs, args.rounds)
        nncf_ms = median_ms(call(nncf_s), args.runs, warmup=2)
        float_ms = median_ms(call(float_session), args.runs, warmup=2)
        print(f"PP-OCR cls, batch {args.batch}x3x48x192, ONNX Runtime CPU, {args.threads} thread(s)")
        print(f"{'model':<30} {'median ms':>10}  {'top-1 = float':>13}  {'ORT vs lpir':>15}  {'vs lpir as ORT':>15}  "
              "integer kernels in ORT's optimised graph")
        for name, ms in ((lpir_name, lpir_ms), (ort_name, ort_ms), (nncf_name, nncf_ms)):
            agree = np.mean(sessions[name].run(None, {"x": held_out})[0].argmax(1) == reference)
            error, as_ort = "-", "-"
            if name != ort_name:
                error = against_lpir(models[name], sessions[name], held_out)
                as_ort = against_lpir(models[name], sessions[name], held_out, integer=True, arithmetic="onnxruntime")
            print(f"{name:<30} {ms:10.2f}  {agree:13.0%}  {error:>15}  {as_ort:>15}  {kernels(models[name], folder)}")
        print(f"{'float model (for scale)':<30} {float_ms:10.2f}")
        print(f"lpir export / quantize_static latency: {ratio:.2f} (median of {args.rounds} rounds' ratios, "
              f"{args.runs} runs each)")
        print(f"machine: {os.cpu_count()} CPUs, load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
