"""How far OpenVINO's INT8 outputs of one IR move with the CPU it runs on, next to lpir's distance.

    python benchmarks/measure_openvino_isas.py [--only TEXT] [--efficientnet PATH]

The agreement of lpir's integer mode with OpenVINO's CPU plugin is a distance to one build of
oneDNN's kernels on one CPU. The plugin picks its int8 kernels by instruction set: with VNNI
(``vpdpbusd``) a u8·s8 product is summed exactly in int32; on AVX2 or AVX-512 without VNNI,
pairs of products are summed in int16 with saturation (``vpmaddubsw``) before they reach int32.
The same IR therefore gives different outputs on the CPUs lpir runs on. Each model of
bench_integer.py (quantized the same way, same inputs) is run by OpenVINO in a fresh process per
instruction-set cap (oneDNN's ``ONEDNN_MAX_CPU_ISA``; a cap above the machine's changes nothing),
and compared with the uncapped run, max / mean |difference| / output range; the last column is
lpir's integer mode with ``arithmetic="openvino-cpu"`` against the uncapped run. With
``--overflow-fix enable`` (7-bit weights on every layer) no pair sum of a weight layer saturates.
The last column is lpir with ``arithmetic="openvino-cpu-avx2"`` against the run capped at AVX2
(whose convolutions take the plugin's legacy post-op path). A capped
process that fails is reported with its exit status (the cap emulates an older CPU imperfectly:
OpenVINO's own kernels may still detect the machine's wider instructions).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import lpir
from bench_integer import EFFICIENTNET, quantized_cases, relative

CAPS = ("AVX2", "AVX512_CORE", "AVX512_CORE_VNNI")

_CHILD = """
import sys, numpy as np, openvino as ov, collections
xml, inputs, outputs = sys.argv[1:4]
data = np.load(inputs)
compiled = ov.Core().compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "DYNAMIC_QUANTIZATION_GROUP_SIZE": "0"})
result = compiled([data[f"arr_{i}"] for i in range(len(data.files))])
np.savez(outputs, *[np.array(result[o]) for o in compiled.outputs])
kernels = collections.Counter(op.get_rt_info()["primitiveType"].astype(str)
                              for op in compiled.get_runtime_model().get_ordered_ops()
                              if op.get_rt_info()["runtimePrecision"].astype(str) in ("u8", "i8"))
print(", ".join(f"{k} {n}" for k, n in sorted(kernels.items()) if k.endswith("I8")))
"""


def openvino_run(xml: str, inputs: Path, cap: str | None, folder: Path) -> tuple[list | None, str]:
    """OpenVINO's outputs of ``xml`` in a fresh process capped at ``cap``, and its int8 kernels."""
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    if cap:
        env["ONEDNN_MAX_CPU_ISA"] = cap
    out = folder / f"out_{cap or 'native'}.npz"
    done = subprocess.run([sys.executable, "-c", _CHILD, xml, str(inputs), str(out)], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"failed (exit status {done.returncode})"
    saved = np.load(out)
    return [saved[f"arr_{i}"] for i in range(len(saved.files))], done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", help="run only the models whose label contains this text")
    parser.add_argument("--efficientnet", type=Path, default=EFFICIENTNET, help="path of efficientnet_lite0.onnx")
    parser.add_argument("--overflow-fix", default="first_layer", choices=("first_layer", "enable", "disable"),
                        help="7-bit weights on the first convolutions (NNCF's default), every layer, or none")
    args = parser.parse_args()
    print(f"{'model':24s} " + " ".join(f"{cap + ' vs native':>24s}" for cap in CAPS) + f" {'lpir vs native':>16s}"
          f" {'lpir-avx2 vs AVX2':>18s}")
    with tempfile.TemporaryDirectory() as folder:
        for label, xml, inputs in quantized_cases(args.efficientnet, args.only, Path(folder), args.overflow_fix):
            saved = Path(folder) / "inputs.npz"
            np.savez(saved, *inputs)
            native, kernels = openvino_run(xml, saved, None, Path(folder))
            row, notes, avx2 = [], [f"native: {kernels}"], None
            for cap in CAPS:
                capped, capped_kernels = openvino_run(xml, saved, cap, Path(folder))
                row.append(relative(capped, native) if capped is not None else capped_kernels)
                notes.append(f"{cap}: {capped_kernels}")
                avx2 = capped if cap == "AVX2" else avx2
            ours = {a: list(lpir.compile_model(lpir.read_model(xml), integer=True, arithmetic=a)(inputs))
                    for a in ("openvino-cpu", "openvino-cpu-avx2")}
            theirs = relative(ours["openvino-cpu-avx2"], avx2) if avx2 is not None else "-"
            print(f"{label:24s} " + " ".join(f"{v:>24s}" for v in row) + f" {relative(ours['openvino-cpu'], native):>16s}"
                  f" {theirs:>18s}")
            for note in notes:
                print(f"{'':26s}{note}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
