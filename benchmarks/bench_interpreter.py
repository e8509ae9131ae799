"""Latency of lpir's reference interpreter against OpenVINO's CPU plugin (f32), same run.

    python benchmarks/bench_interpreter.py [--runs 20]

Both run the IR that OpenVINO's converter writes for each model. EfficientNet-Lite0 comes from
../shared/models when present (the path can be given with --efficientnet); MiniLM and the
PP-OCRv4 models from their PyPI packages, at the input sizes PP-OCR uses (detector 640x640,
recogniser 48x320, direction classifier 6 lines of 48x192). Each round times lpir, then OpenVINO, warm; prints the median latency of each
and the median of the rounds' ratios lpir / OpenVINO.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import openvino as ov

import lpir
from timing import OV_F32, rounds_ms
from lpir import zoo

DEFAULT_EFFICIENTNET = Path(__file__).resolve().parents[2] / "shared" / "models" / "efficientnet_lite0.onnx"


def cases(efficientnet: Path):
    rng = np.random.default_rng(0)
    if efficientnet.exists():
        for batch in (1, 8):
            yield f"EfficientNet-Lite0 b{batch}", efficientnet, [rng.random((batch, 3, 224, 224), dtype=np.float32)]
    else:
        print(f"(EfficientNet-Lite0 not found at {efficientnet}; skipped)")
    ids = rng.integers(1000, 30522, size=(1, 128)).astype(np.int64)
    yield "MiniLM-L3 b1 s128", zoo.minilm(), [ids, np.ones_like(ids)]
    for label, which, shape in (("PP-OCRv4 det 640", "det", (1, 3, 640, 640)),
                                ("PP-OCRv4 rec 48x320", "rec", (1, 3, 48, 320)),
                                ("PP-OCR cls b6", "cls", (6, 3, 48, 192))):
        yield label, zoo.ppocr(which), [rng.uniform(-1, 1, shape).astype(np.float32)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="timed calls per round (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of lpir then OpenVINO (default 3)")
    parser.add_argument("--efficientnet", type=Path, default=DEFAULT_EFFICIENTNET)
    args = parser.parse_args()
    core = ov.Core()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for label, onnx_path, inputs in cases(args.efficientnet):
            xml = str(Path(folder) / (onnx_path.stem + ".xml"))
            ov.save_model(ov.convert_model(str(onnx_path)), xml, compress_to_fp16=False)
            compiled_ov = core.compile_model(core.read_model(xml), "CPU", OV_F32)
            compiled_lpir = lpir.compile_model(lpir.read_model(xml))
            rows.append((label, *rounds_ms(lambda: compiled_lpir(inputs), lambda: compiled_ov(inputs), args.runs, args.rounds)))
    print(f"{'model':<22} {'lpir ms':>9} {'OpenVINO ms':>12} {'lpir/OV':>8}")
    for label, lpir_ms, ov_ms, ratio in rows:
        print(f"{label:<22} {lpir_ms:9.2f} {ov_ms:12.2f} {ratio:8.1f}x")
    print(f"(medians over {args.rounds} rounds of {args.runs} runs each; lpir/OV is the median of the rounds' ratios)")


if __name__ == "__main__":
    main()
