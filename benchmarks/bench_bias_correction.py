"""lpir.quantize(fast_bias_correction=False) against nncf.quantize(fast_bias_correction=False)
(BiasCorrection, layer by layer) on the PP-OCR text-direction classifier.

    python benchmarks/bench_bias_correction.py [--subset-size 100] [--repeats 3]

Same float IR, same calibration samples (windows of the scanned page's text lines; both replay
20 % of them layer by layer). Reported: the layers each corrects and how far lpir's corrected
biases are from NNCF's (relative to NNCF's shift); the wall time of the whole quantize call of
each, alternated in one process, median of ``--repeats`` and the median of per-round ratios;
the same without bias correction, whose difference is the correction's own cost; the accuracy
of each INT8 model run by OpenVINO's CPU plugin on other text windows, next to
the fast variant's.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_quantize import run_openvino, text_crops


def biases(model) -> dict[str, np.ndarray]:
    """Bias Add name → constant, for Convolution/GroupConvolution/MatMul layers (an ov.Model)."""
    found = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() == "Add":
            for port in (0, 1):
                layer, bias = op.input_value(1 - port).get_node(), op.input_value(port).get_node()
                if layer.get_type_name() in ("Convolution", "GroupConvolution", "MatMul") and \
                        bias.get_type_name() == "Constant":
                    found[op.get_friendly_name()] = np.array(bias.get_data())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import nncf
    import openvino as ov

    import lpir
    from lpir import zoo
    from lpir.quantization.ptq import NNCF_RANGES

    folder = Path(tempfile.mkdtemp())
    xml = str(folder / "cls.xml")
    ov.save_model(ov.convert_model(str(zoo.ppocr("cls"))), xml, compress_to_fp16=False)
    calibration, _ = text_crops(seed=1, count=args.subset_size)
    evaluation, labels = text_crops(seed=2, count=200)
    core = ov.Core()

    def run_nncf(fast: bool | None):
        advanced = None if fast is not None else nncf.AdvancedQuantizationParameters(disable_bias_correction=True)
        return nncf.quantize(core.read_model(xml), nncf.Dataset(calibration), subset_size=len(calibration),
                             fast_bias_correction=bool(fast), advanced_parameters=advanced)

    def run_lpir(fast: bool):
        return lpir.quantize(lpir.read_model(xml), calibration, subset_size=len(calibration), fast_bias_correction=fast,
                             advanced=NNCF_RANGES)  # NNCF's ranges: the same model up to the correction

    times: dict[str, list[float]] = {"nncf": [], "lpir": [], "nncf plain": [], "lpir plain": []}
    for _ in range(args.repeats):
        for tool, quantize in (("nncf", run_nncf), ("lpir", run_lpir)):
            start = time.perf_counter()
            quantize(None)
            times[f"{tool} plain"].append(time.perf_counter() - start)
            start = time.perf_counter()
            result = quantize(False)
            times[tool].append(time.perf_counter() - start)
            if tool == "nncf":
                reference = result
            else:
                ours = result

    before, theirs = biases(core.read_model(xml)), biases(reference)
    ours_xml = str(folder / "cls_lpir_bc.xml")
    lpir.save_model(ours, ours_xml)
    mine = biases(core.read_model(ours_xml))
    nncf_changed = {n for n in before if not np.array_equal(theirs[n], before[n])}
    lpir_changed = {n for n in before if not np.array_equal(mine[n], before[n])}
    worst = max(float(np.abs(mine[n] - theirs[n]).max() / max(np.abs(theirs[n] - before[n]).max(), 1e-30))
                for n in nncf_changed) if nncf_changed else 0.0

    models = {"fp32": xml, "NNCF INT8, BiasCorrection": str(folder / "cls_nncf_bc.xml"),
              "lpir INT8, BiasCorrection": ours_xml, "NNCF INT8, FastBiasCorrection": str(folder / "cls_nncf_fbc.xml"),
              "lpir INT8, FastBiasCorrection": str(folder / "cls_lpir_fbc.xml")}
    ov.save_model(reference, models["NNCF INT8, BiasCorrection"], compress_to_fp16=False)
    ov.save_model(run_nncf(True), models["NNCF INT8, FastBiasCorrection"], compress_to_fp16=False)
    lpir.save_model(run_lpir(True), models["lpir INT8, FastBiasCorrection"])

    print(f"PP-OCR cls, {len(calibration)} calibration samples ({max(int(len(calibration) * 0.2), 1)} replayed)")
    print(f"layers corrected: NNCF {len(nncf_changed)}, lpir {len(lpir_changed)} of {len(before)} biased; "
          f"same layers: {nncf_changed == lpir_changed}")
    print(f"largest |lpir bias - NNCF bias| / |NNCF shift| over corrected layers: {worst:.2e}")
    ratios = [a / b for a, b in zip(times["lpir"], times["nncf"])]
    print(f"quantize wall time, median of {args.repeats}: NNCF {statistics.median(times['nncf']):.2f} s, "
          f"lpir {statistics.median(times['lpir']):.2f} s, ratio lpir/NNCF {statistics.median(ratios):.2f}")
    own = {tool: [a - b for a, b in zip(times[tool], times[f"{tool} plain"])] for tool in ("nncf", "lpir")}
    print(f"of which bias correction (minus the same call without it), median: NNCF "
          f"{statistics.median(own['nncf']):.2f} s, lpir {statistics.median(own['lpir']):.2f} s, ratio lpir/NNCF "
          f"{statistics.median(a / b for a, b in zip(own['lpir'], own['nncf'])):.2f}")
    for label, path in models.items():
        predicted = run_openvino(path, evaluation).argmax(axis=1)
        print(f"accuracy, 200 text windows: {label:32s} {100 * np.mean(predicted == labels):.1f} %")


if __name__ == "__main__":
    main()
