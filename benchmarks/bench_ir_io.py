"""IR read/save speed on a ≥ 1 GB fp32 IR, with OpenVINO and a plain file copy measured in the same run.

    python benchmarks/bench_ir_io.py [--layers 24] [--size 4096] [--repeat 5] [--dir /tmp]

Builds a chain of MatMul layers with ``size × size`` f32 weights using OpenVINO's opset API,
saves it with ``compress_to_fp16=False`` in a temporary folder, then measures (medians):

* read: ``lpir.read_model`` (lazy, weights memory-mapped) vs ``openvino.Core().read_model``;
  the resident memory that lpir's read adds is measured in a fresh subprocess;
* a real model: the 435-layer PP-OCR direction classifier (from the rapidocr-onnxruntime
  package, converted by OpenVINO), read by lpir and by OpenVINO;
* copy: lpir read + save vs OpenVINO read_model + save_model(compress_to_fp16=False) vs copying
  the .bin with numpy (``np.fromfile`` + ``tofile``), the floor for any copy.

The temporary folder (several GB) is removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

RSS_PROBE = """
import sys
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) * 1024
import lpir
before = rss()
model = lpir.read_model(sys.argv[1])
print(rss() - before)
"""


def build_ir(folder: Path, layers: int, size: int) -> Path:
    """A chain of ``layers`` MatMuls with distinct random f32 weights, saved without f16 compression."""
    import openvino as ov
    from openvino import opset13 as ops

    rng = np.random.default_rng(0)
    x = ops.parameter([1, size], np.float32, name="input")
    node = x
    for _ in range(layers):
        weight = rng.standard_normal((size, size), dtype=np.float32) * (1.0 / size) ** 0.5
        node = ops.matmul(node, ops.constant(weight), False, True)
        del weight
    path = folder / "big.xml"
    ov.save_model(ov.Model([ops.result(node)], [x], "big"), str(path), compress_to_fp16=False)
    return path


def build_real_ir(folder: Path) -> Path | None:
    """The PP-OCR cls model as OpenVINO's converter writes it (None when its package is missing)."""
    import openvino as ov

    from lpir import zoo
    from lpir.errors import LpirError

    try:
        onnx_path = zoo.ppocr("cls")
    except LpirError:
        return None
    path = folder / "ppocr_cls.xml"
    ov.save_model(ov.convert_model(str(onnx_path)), str(path))
    return path


class Timing(NamedTuple):
    """Median wall-clock and CPU seconds (CPU of every thread of this process)."""

    wall: float
    cpu: float


def median_time(action: Callable[[], object], repeat: int, cleanup: Callable[[], None] = lambda: None) -> Timing:
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        cleanup()
    return Timing(statistics.median(walls), statistics.median(cpus))


def rss_added_by_lpir_read(xml: Path, repeat: int) -> float:
    """Median resident memory (bytes) that ``lpir.read_model`` adds, each run in a fresh process."""
    values = [int(subprocess.check_output([sys.executable, "-c", RSS_PROBE, str(xml)], text=True))
              for _ in range(repeat)]
    return statistics.median(values)


def measure_real(xml: Path | None, repeat: int) -> dict:
    import openvino as ov

    import lpir

    if xml is None:
        return {}
    core = ov.Core()
    lpir.read_model(xml)
    return {"real layers": len(lpir.read_model(xml).nodes()),
            "real lpir read": median_time(lambda: lpir.read_model(xml), max(repeat, 11)),
            "real openvino read": median_time(lambda: core.read_model(str(xml)), max(repeat, 11))}


def measure(xml: Path, repeat: int) -> dict:
    import openvino as ov

    import lpir

    core = ov.Core()
    out = xml.parent / "copy.xml"

    def remove_copy() -> None:
        out.unlink(missing_ok=True)
        out.with_suffix(".bin").unlink(missing_ok=True)

    def ov_copy() -> None:
        ov.save_model(core.read_model(str(xml)), str(out), compress_to_fp16=False)

    def numpy_copy() -> None:
        np.fromfile(xml.with_suffix(".bin"), dtype=np.uint8).tofile(out.with_suffix(".bin"))

    lpir.save_model(lpir.read_model(xml), out)  # warm-up: page cache and imports
    remove_copy()
    return {
        "lpir read": median_time(lambda: lpir.read_model(xml), repeat),
        "openvino read": median_time(lambda: core.read_model(str(xml)), repeat),
        "lpir read RSS": rss_added_by_lpir_read(xml, repeat),
        "lpir read+save": median_time(lambda: lpir.save_model(lpir.read_model(xml), out), repeat, remove_copy),
        "openvino read+save": median_time(ov_copy, repeat, remove_copy),
        "numpy .bin copy": median_time(numpy_copy, repeat, remove_copy),
    }


def ratio(name: str, peer: Timing, lpir_time: Timing) -> str:
    return f"{name}/lpir wall time {peer.wall / lpir_time.wall:.2f}"


def report(results: dict, bin_bytes: int, layers: int, size: int, repeat: int) -> str:
    gb = bin_bytes / 1e9
    r = results
    rows = [
        ("read", "lpir.read_model (lazy)", r["lpir read"], ""),
        ("read", "openvino Core.read_model", r["openvino read"], ratio("openvino", r["openvino read"], r["lpir read"])),
        ("copy", "lpir read + save_model", r["lpir read+save"], f"{gb / r['lpir read+save'].wall:.2f} GB/s"),
        ("copy", "openvino read + save_model", r["openvino read+save"],
         ratio("openvino", r["openvino read+save"], r["lpir read+save"])),
        ("copy", "numpy fromfile + tofile (.bin)", r["numpy .bin copy"],
         ratio("numpy", r["numpy .bin copy"], r["lpir read+save"])),
    ]
    if "real layers" in r:
        rows[:0] = [
            ("cls", f"lpir.read_model, PP-OCR cls ({r['real layers']} layers)", r["real lpir read"], ""),
            ("cls", "openvino Core.read_model, same IR", r["real openvino read"],
             ratio("openvino", r["real openvino read"], r["real lpir read"])),
        ]
    lines = [f"IR: {layers} MatMul, {size}x{size} f32 weights, .bin {gb:.2f} GB; medians of {repeat} runs",
             f"{'':5} {'what':44} {'wall s':>8} {'CPU s':>8}  ratio"]
    lines += [f"{group:5} {name:44} {t.wall:8.3f} {t.cpu:8.3f}  {text}" for group, name, t, text in rows]
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines.append(f"machine: {os.cpu_count()} CPUs, load average {load} at the end of the run")
    lines.append(f"lpir.read_model adds {r['lpir read RSS'] / 2**20:.1f} MiB resident memory (fresh process)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where the temporary IR goes (default: system temp)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="lpir_bench_io_", dir=args.dir))
    try:
        xml = build_ir(folder, args.layers, args.size)
        results = measure(xml, args.repeat) | measure_real(build_real_ir(folder), args.repeat)
        print(report(results, xml.with_suffix(".bin").stat().st_size, args.layers, args.size, args.repeat))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
