"""Where OpenVINO's CPU departs from lpir's integer mode, FakeQuantize by FakeQuantize.

    python benchmarks/measure_openvino_departures.py [--only TEXT] [--efficientnet PATH] [--all]

For each model of bench_integer.py (quantized the same way, same inputs), OpenVINO's CPU runs the
INT8 IR with its low-precision transformations (f32 hint, no dynamic quantization). Its codes at
each activation FakeQuantize are read from the model cut after that node (a Result there and
nowhere else: adding outputs to the whole model changes the plugin's fusions and what it
computes). lpir's integer mode, with ``arithmetic="reference"`` and ``"openvino-cpu"``, is then
compared with them two ways:

* teacher forcing: each FakeQuantize computed from OpenVINO's own codes of the FakeQuantizes
  before it (the segment between them extracted and run in integer mode; the FakeQuantizes an
  arithmetic rewrites are not segment boundaries);
* free running: lpir's codes in its own run of the whole model.

Prints, per FakeQuantize whose codes differ anywhere (all with ``--all``), the number of codes
that differ in each case, then the first FakeQuantize that departs under teacher forcing and how
far the outputs are apart end to end (max / mean |difference| / range). A code that differs
under teacher forcing is a departure of OpenVINO's arithmetic at that layer; free running adds
the cascade of earlier departures through later rounding boundaries.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset13

import lpir
from bench_integer import EFFICIENTNET, quantized_cases, relative
from lpir.errors import LowPrecisionWarning
from lpir.ir.subgraph import extract_subgraph
from lpir.runtime.arithmetic import UNROUNDED_RESIDUAL
from lpir.runtime.lowering import constant_value
from timing import OV_F32

ARITHMETICS = ("reference", "openvino-cpu")


def activation_fake_quantizes(model) -> list:
    return [n for n in model.nodes() if n.type == "FakeQuantize" and not _constant(n.inputs[0].source)]


def _constant(out) -> bool:
    try:
        constant_value(out)
        return True
    except Exception:  # reads a Parameter
        return False


def codes(fq, values: np.ndarray) -> np.ndarray:
    """The integer codes of a FakeQuantize's outputs (f64, exact enough to read them back)."""
    il, ih, ol, oh = (constant_value(p.source).astype(np.float64) for p in fq.inputs[1:])
    return np.rint((values.astype(np.float64) - ol) / ((oh - ol) / (fq.attrs["levels"] - 1)))


def reference_quantize(fq, x: np.ndarray) -> np.ndarray:
    """The reference FakeQuantize of ``x``, in f64."""
    il, ih, ol, oh = (constant_value(p.source).astype(np.float64) for p in fq.inputs[1:])
    steps = fq.attrs["levels"] - 1
    return np.rint((np.clip(x.astype(np.float64), il, ih) - il) / (ih - il) * steps) / steps * (oh - ol) + ol


def openvino_codes(core: ov.Core, xml: str, inputs: list, fqs: list) -> dict[str, np.ndarray]:
    """Each FakeQuantize's output as OpenVINO computes it, from the model cut after it."""
    model = core.read_model(xml)
    by_name = {op.get_friendly_name(): op for op in model.get_ordered_ops()}
    values = {}
    for fq in fqs:
        cut = ov.Model([opset13.result(by_name[fq.name].output(0))], model.get_parameters())
        compiled = core.compile_model(cut, "CPU", OV_F32)
        values[fq.name] = np.array(compiled(inputs)[compiled.outputs[0]])
    return values


def unrounded(compiled) -> set[str]:
    """The FakeQuantizes OpenVINO does not round: no codes there to compare or to start from."""
    return {name for name, rule in compiled.plan.departures if rule == UNROUNDED_RESIDUAL.description}


def teacher_forced(model, inputs: list, fqs: list, openvino: dict, arithmetic: str) -> dict[str, int]:
    """Codes differing from OpenVINO's at each FakeQuantize, computed from OpenVINO's codes before it."""
    skip = unrounded(lpir.compile_model(model, integer=True, arithmetic=arithmetic))
    names = {fq.name for fq in fqs} - skip
    params = {p.name: value for p, value in zip(model.parameters, inputs)}
    differ = {}
    for fq in fqs:
        if fq.name in skip:
            continue
        boundary = {}
        _boundaries(fq.inputs[0].source, names, boundary, set())
        segment = extract_subgraph(model, [out for out, _ in boundary.values()], [fq.outputs[0]])
        feed = [openvino[name] for _, name in boundary.values()]
        feed += [params[p.name] for p in segment.parameters[len(feed):]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LowPrecisionWarning)  # a segment without FakeQuantize
            compiled = lpir.compile_model(segment, integer=True, arithmetic=arithmetic)
        differ[fq.name] = int((codes(fq, compiled(feed)[0]) != codes(fq, openvino[fq.name])).sum())
    return differ


def _boundaries(out, names: set[str], found: dict, seen: set[int]) -> None:
    """The inputs of the FakeQuantizes named in ``names`` that ``out`` depends on (stopping there):
    re-quantizing OpenVINO's dequantized values there gives back OpenVINO's codes."""
    node = out.node
    if node.type == "FakeQuantize" and node.name in names:
        found.setdefault(id(node.inputs[0].source), (node.inputs[0].source, node.name))
        return
    for port in node.inputs:
        if id(port.source) not in seen:
            seen.add(id(port.source))
            _boundaries(port.source, names, found, seen)


def free_running(model, inputs: list, fqs: list, openvino: dict, arithmetic: str) -> tuple[dict[str, int], list]:
    """Codes differing from OpenVINO's at each FakeQuantize in lpir's own run, and lpir's outputs."""
    compiled = lpir.compile_model(model, integer=True, arithmetic=arithmetic)
    skip = unrounded(compiled)
    kept = [fq for fq in fqs if fq.name not in skip and fq.inputs[0].source.node.type != "Parameter"]
    targets = [compiled._in_lowered(fq.inputs[0].source) for fq in kept]
    seen = {}
    outputs = compiled(inputs, taps=compiled.tap(targets, lambda out, value: seen.__setitem__(id(out), value)))
    differ = {fq.name: int((codes(fq, reference_quantize(fq, seen[id(t)])) != codes(fq, openvino[fq.name])).sum())
              for fq, t in zip(kept, targets)}
    return differ, list(outputs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", help="run only the models whose label contains this text")
    parser.add_argument("--efficientnet", type=Path, default=EFFICIENTNET, help="path of efficientnet_lite0.onnx")
    parser.add_argument("--all", action="store_true", help="print every FakeQuantize, not only those that differ")
    args = parser.parse_args()
    core = ov.Core()
    with tempfile.TemporaryDirectory() as folder:
        for label, xml, inputs in quantized_cases(args.efficientnet, args.only, Path(folder)):
            model = lpir.read_model(xml)
            fqs = activation_fake_quantizes(model)
            openvino = openvino_codes(core, xml, inputs, fqs)
            compiled = core.compile_model(xml, "CPU", OV_F32)
            result = compiled(inputs)
            ov_outputs = [np.array(result[out]) for out in compiled.outputs]
            forced = {a: teacher_forced(model, inputs, fqs, openvino, a) for a in ARITHMETICS}
            free = {a: free_running(model, inputs, fqs, openvino, a) for a in ARITHMETICS}
            print(f"\n{label}: {len(fqs)} activation FakeQuantizes; codes differing from OpenVINO's "
                  "(teacher forced reference / openvino-cpu | free running reference / openvino-cpu)")
            for fq in fqs:
                row = [d.get(fq.name, "-") for d in (forced["reference"], forced["openvino-cpu"],
                                                      free["reference"][0], free["openvino-cpu"][0])]
                if args.all or any(isinstance(v, int) and v for v in row):
                    size = openvino[fq.name].size
                    print(f"  {fq.name[:48]:48s} {size:8d}  {row[0]!s:>6} / {row[1]!s:<6} | {row[2]!s:>6} / {row[3]!s:<6}")
            for arithmetic in ARITHMETICS:
                departing = [n for n, d in forced[arithmetic].items() if d]
                total = sum(forced[arithmetic].values())
                print(f"  {arithmetic}: teacher forced {total} codes differ in {len(departing)} FakeQuantizes "
                      f"(first: {departing[0] if departing else 'none'}); end to end max/mean "
                      f"{relative(free[arithmetic][1], ov_outputs)} of the range")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
