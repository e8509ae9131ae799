"""Where the f32 emulation and integer mode part: the rounding-boundary cascade, measured.

    python benchmarks/measure_cascades.py [--efficientnet PATH] [--only TEXT]

For each model of bench_integer.py (quantized the same way), on the same real inputs, runs

* the float emulation (f32 FakeQuantize outputs, f32 sums through BLAS),
* the same with every Convolution/GroupConvolution/ConvolutionBackpropData/MatMul on float
  inputs accumulated in f64 and rounded once (the f32 FakeQuantize outputs kept),
* the exact emulation (``exact=True``: exactly dequantized inputs, f64 layers, rounded once),
* integer mode,

each with one and with two BLAS threads, and prints max/mean of |difference| / output range
against the exact emulation (the worst output), whether each mode gives the same bits with 1
and 2 threads, and how many activation codes differ from the exact emulation's: the
elements of the tensors the lowered layers quantize whose quantized value (the quantize
FakeQuantize applied to each mode's own tensor) is not the same.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import tempfile

import numpy as np
import threadpoolctl

import lpir
from bench_integer import EFFICIENTNET, cases, quantize
from lpir.ops import lookup
from lpir.runtime.kernels import Kernel, kernels_for
from lpir.runtime.taps import Taps

LAYERS = ("Convolution", "GroupConvolution", "ConvolutionBackpropData", "GroupConvolutionBackpropData", "MatMul")


def f64_sums(compiled):
    """``compiled`` with its float convolutions and matrix products accumulated in f64 and
    rounded once to f32 (their f32 operands unchanged)."""
    for step in compiled._program.steps:
        if step.node.type in LAYERS:
            step.kernels = [_f64_kernel(step.node.type)] + step.kernels
    return compiled


def _f64_kernel(op_type: str) -> Kernel:
    op, float_kernels = lookup(op_type, 1), kernels_for(op_type)

    def run(x, w, *rest, **attrs):
        if x.dtype != np.float32 or w.dtype != np.float32:
            return None
        args = (x.astype(np.float64), w.astype(np.float64), *rest)
        for kernel in float_kernels:
            result = kernel.run(*args, **attrs)
            if result is not None:
                return (result[0].astype(np.float32),)
        return (op.evaluate(*args, **attrs)[0].astype(np.float32),)
    return Kernel(op_type, "float", run)


def relative(actual: list, expected: list) -> tuple[float, float]:
    pairs = [(a.astype(np.float64), e.astype(np.float64)) for a, e in zip(actual, expected) if e.dtype.kind == "f"]
    return (max(float(np.abs(a - e).max() / (np.ptp(e) or 1.0)) for a, e in pairs),
            max(float(np.abs(a - e).mean() / (np.ptp(e) or 1.0)) for a, e in pairs))


def code_flips(model, exact, other, inputs) -> tuple[int, int]:
    """(elements whose quantized code differs, elements) over the quantize FakeQuantizes of the
    exact emulation's lowered model, each mode quantizing its own tensor."""
    quantizes = [n for n in exact.lowered.nodes() if n.type == "FakeQuantize" and "/quantize_" in n.name]
    names = {n.name: n.inputs[0].source for n in quantizes}
    theirs = {}
    for name, source in names.items():
        node = source.node
        while not _in(model, node.name):  # a lowered layer's rounding: the layer of the original model
            node = node.inputs[0].source.node
        original = model.node(node.name).outputs[source.index if node is source.node else 0]
        theirs[name] = other._in_lowered(original) if other.lowered is not other.model else original
    mine, seen = {}, {}
    exact(inputs, taps=Taps(exact._program, list(names.values()), lambda out, v: mine.__setitem__(out, v)))
    other(inputs, taps=Taps(other._program, list(set(theirs.values())), lambda out, v: seen.__setitem__(out, v)))
    fake_quantize = lookup("FakeQuantize", 1)
    differ = total = 0
    for node in quantizes:
        limits = [exact._program.constant(exact._program.slot(p.source)) for p in node.inputs[1:]]
        codes = [fake_quantize.evaluate(value, *limits, levels=node.attrs["levels"], auto_broadcast="numpy")[0]
                 for value in (mine[names[node.name]], seen[theirs[node.name]])]
        differ += int((codes[0] != codes[1]).sum())
        total += codes[0].size
    return differ, total


def _in(model, name: str) -> bool:
    try:
        model.node(name)
        return True
    except (KeyError, StopIteration, ValueError):
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--efficientnet", type=Path, default=EFFICIENTNET, help="path of efficientnet_lite0.onnx")
    parser.add_argument("--only", help="run only the models whose label contains this text")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for label, name, tool, inputs, samples in cases(args.efficientnet):
            if args.only and args.only not in label:
                continue
            model = lpir.read_model(quantize(name, tool, samples, Path(folder)))
            modes = {"f32 emulation": lpir.compile_model(model), "f64 sums": f64_sums(lpir.compile_model(model)),
                     "integer": lpir.compile_model(model, integer=True)}
            exact = lpir.compile_model(model, exact=True)
            runs = {}
            for threads in (1, 2):
                with threadpoolctl.threadpool_limits(threads, user_api="blas"):
                    runs[threads] = {key: list(c(inputs)) for key, c in {**modes, "exact": exact}.items()}
            print(f"{label}:")
            for key, compiled in modes.items():
                steady = all(np.array_equal(a, b) for a, b in zip(runs[1][key], runs[2][key]))
                with threadpoolctl.threadpool_limits(1, user_api="blas"):
                    differ, total = code_flips(model, exact, compiled, inputs)
                print(f"  {key:14s} vs exact %.1e/%.0e   same bits with 1 and 2 threads: {steady!s:5s}   "
                      f"codes differing: {differ} of {total}" % relative(runs[1][key], runs[1]["exact"]))
            steady = all(np.array_equal(a, b) for a, b in zip(runs[1]["exact"], runs[2]["exact"]))
            print(f"  exact emulation: same bits with 1 and 2 threads: {steady}")


if __name__ == "__main__":
    main()
