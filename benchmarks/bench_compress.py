"""Weight compression speed and memory on a ≥ 1 GB fp32 IR, lpir against NNCF in the same run.

    python benchmarks/bench_compress.py [--layers 24] [--size 4096] [--repeat 3] [--dir /tmp]

Builds a chain of MatMul layers with ``size × size`` f32 weights (as bench_ir_io.py does) and
runs, for int8_asym and int4_asym with groups of 128, read + compress + save in a fresh
subprocess per run (medians of ``--repeat``):

* lpir: ``lpir.save_model(lpir.compress_weights(lpir.read_model(xml), ...), out)``;
* NNCF: ``openvino.save_model(nncf.compress_weights(openvino.Core().read_model(xml), ...), out,
  compress_to_fp16=False)``.

Reported per run: wall time of the three steps, and the process's peak resident memory (VmHWM,
imports included; the resident memory after the imports is shown too). One run of each pair
is checked for equal bytes of every compressed constant. The temporary folder is removed at
the end, also on failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_ir_io import build_ir  # noqa: E402

PROBE = """
import multiprocessing, sys, time
multiprocessing.set_start_method("forkserver", force=True)
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
tool, source, out, mode, group = sys.argv[1:6]
group = None if group == "none" else int(group)
if tool == "lpir":
    import lpir
    imported = status('VmRSS:')
    start = time.perf_counter()
    lpir.save_model(lpir.compress_weights(lpir.read_model(source), mode=mode, group_size=group), out)
else:
    import nncf, openvino as ov
    imported = status('VmRSS:')
    start = time.perf_counter()
    model = ov.Core().read_model(source)
    model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode(mode), group_size=group)
    ov.save_model(model, out, compress_to_fp16=False)
print(time.perf_counter() - start, status('VmHWM:'), imported)
"""
CONFIGS = [("int8_asym", "none"), ("int4_asym", "128")]


def run_once(tool: str, source: Path, out: Path, mode: str, group: str) -> tuple[float, int, int]:
    text = subprocess.run([sys.executable, "-c", PROBE, tool, str(source), str(out), mode, group],
                          capture_output=True, text=True, check=True, timeout=3600).stdout.split()
    return float(text[-3]), int(text[-2]), int(text[-1])


def same_constants(a: Path, b: Path) -> bool:
    """Every compressed constant (codes, scales, zero points) of ``a`` equals ``b``'s, by name."""
    import lpir
    from lpir.ir import types

    def constants(path: Path) -> dict:
        return {n.name: (n.tensor.etype, n.tensor.shape, bytes(n.tensor.raw_bytes()))
                for n in lpir.read_model(path).nodes()
                if n.type == "Const" and (n.tensor.etype in types.LOW_PRECISION_WEIGHT_TYPES or n.name.endswith("/scale"))}

    ours, theirs = constants(a), constants(b)
    return len(ours) > 0 and ours == theirs


def measure(source: Path, repeat: int) -> list[dict]:
    rows = []
    for mode, group in CONFIGS:
        results = {}
        for tool in ("lpir", "nncf"):
            runs = []
            for _ in range(repeat):
                out = source.parent / f"{tool}_{mode}.xml"
                runs.append(run_once(tool, source, out, mode, group))
            results[tool] = runs
        equal = same_constants(source.parent / f"lpir_{mode}.xml", source.parent / f"nncf_{mode}.xml")
        for tool in ("lpir", "nncf"):
            runs = results[tool]
            out = source.parent / f"{tool}_{mode}.xml"
            rows.append({"mode": mode + ("" if group == "none" else f" g{group}"), "tool": tool,
                         "wall": statistics.median(r[0] for r in runs), "peak": statistics.median(r[1] for r in runs),
                         "imported": statistics.median(r[2] for r in runs),
                         "bin": out.with_suffix(".bin").stat().st_size, "equal": equal})
    return rows


def report(rows: list[dict], gb: float, layers: int, size: int, repeat: int) -> str:
    lines = [f"IR: {layers} MatMul, {size}x{size} f32 weights, .bin {gb:.2f} GB; read + compress + save, "
             f"each run in a fresh process, medians of {repeat}",
             f"{'mode':14} {'tool':5} {'wall s':>7} {'GB/s':>6} {'peak RSS MiB':>13} {'after imports':>14} "
             f"{'out MB':>7}  same bytes"]
    for row in rows:
        lines.append(f"{row['mode']:14} {row['tool']:5} {row['wall']:7.2f} {gb / row['wall']:6.2f} "
                     f"{row['peak'] / 2**20:13.0f} {row['imported'] / 2**20:14.0f} {row['bin'] / 1e6:7.0f}  "
                     f"{'yes' if row['equal'] else 'NO'}")
    for mode in dict.fromkeys(r["mode"] for r in rows):
        ours = next(r for r in rows if r["mode"] == mode and r["tool"] == "lpir")
        theirs = next(r for r in rows if r["mode"] == mode and r["tool"] == "nncf")
        lines.append(f"{mode}: lpir is {theirs['wall'] / ours['wall']:.2f}x NNCF's throughput, "
                     f"peak RSS {ours['peak'] / theirs['peak']:.3f} of NNCF's")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines.append(f"machine: {os.cpu_count()} CPUs, load average {load} at the end of the run")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the temporary IR goes (default: system temp)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="lpir_bench_compress_", dir=args.dir))
    try:
        xml = build_ir(folder, args.layers, args.size)
        rows = measure(xml, args.repeat)
        print(report(rows, xml.with_suffix(".bin").stat().st_size / 1e9, args.layers, args.size, args.repeat))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
