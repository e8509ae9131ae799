"""ONNX → IR conversion time: lpir (read_model + save_model) against OpenVINO (convert_model + save_model).

    python benchmarks/bench_onnx_import.py [--runs 5]

Both convert the same ONNX files in the same run: the real models of lpir.zoo, plus
EfficientNet-Lite0 from ../shared/models when present (or --efficientnet PATH). Prints the
median wall time of each and the ratio lpir / OpenVINO (below 1: lpir is faster).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import openvino as ov

import lpir
from timing import median_ms
from lpir import zoo

DEFAULT_EFFICIENTNET = Path(__file__).resolve().parents[2] / "shared" / "models" / "efficientnet_lite0.onnx"


def lpir_convert(onnx_path: Path, folder: Path) -> None:
    lpir.save_model(lpir.read_model(onnx_path), folder / "lpir.xml")


def openvino_convert(onnx_path: Path, folder: Path) -> None:
    ov.save_model(ov.convert_model(str(onnx_path)), str(folder / "ov.xml"), compress_to_fp16=False)


def models(efficientnet: Path) -> dict[str, Path]:
    found = dict(zoo.all_models())
    if efficientnet.exists():
        found["efficientnet_lite0"] = efficientnet
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--efficientnet", type=Path, default=DEFAULT_EFFICIENTNET)
    args = parser.parse_args()
    print(f"{'model':<20}{'MB':>7}{'lpir ms':>10}{'OpenVINO ms':>13}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, path in models(args.efficientnet).items():
            size = path.stat().st_size / 1e6
            try:
                ours = median_ms(lambda: lpir_convert(path, folder), args.runs)
            except lpir.LpirError as exc:
                print(f"{name:<20}{size:>7.1f}  lpir cannot convert it: {str(exc).splitlines()[0]}")
                continue
            theirs = median_ms(lambda: openvino_convert(path, folder), args.runs)
            print(f"{name:<20}{size:>7.1f}{ours:>10.1f}{theirs:>13.1f}{ours / theirs:>8.2f}")


if __name__ == "__main__":
    main()
