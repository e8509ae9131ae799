"""OpenVINO's CPU codes at each activation FakeQuantize, and lpir's computed from OpenVINO's codes.

OpenVINO's tensors are read from the model cut after each FakeQuantize (a Result there and nowhere
else), so the plugin fuses everything before it as in the whole model: adding outputs to the whole
model instead changes its fusions (measured on PP-OCR's classifier: 9e-2 of the output range) and
so what it computes. (A FakeQuantize the whole model writes as i8 codes is cut through a
MaxPool of kernel 1, which keeps them: right before a Result the plugin keeps it whole, in f32.)
lpir's FakeQuantize is computed by teacher forcing: the segment between the FakeQuantizes before
it and it, extracted with the other consumers of those FakeQuantizes (they decide the integer
codes OpenVINO gives them, and so lpir's CPU arithmetic) and run in integer mode on OpenVINO's
codes there (re-quantizing OpenVINO's dequantized values gives back OpenVINO's codes). Shared by the
tests and benchmarks/measure_openvino_departures.py.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import openvino as ov
from openvino import opset13

import lpir
import ovmodels
from lpir.errors import LowPrecisionWarning
from lpir.analysis.patterns import is_quantization_agnostic
from lpir.ir.graph import make_constant
from lpir.ir.rewrite import layer_name
from lpir.ir.subgraph import extract_subgraph
from lpir.ops import build
from lpir.runtime.arithmetic.openvino_cpu import UNROUNDED_RESIDUAL
from lpir.runtime.constants import fold_constant, is_constant


def activation_fake_quantizes(model) -> list:
    """The FakeQuantize nodes of ``model`` whose data input is not a constant (no weights)."""
    return [n for n in model.nodes() if n.type == "FakeQuantize" and not is_constant(n.inputs[0].source)]


def limits(fq) -> tuple[np.ndarray, ...]:
    """``il, ih, ol, oh`` of a FakeQuantize, in f64."""
    return tuple(fold_constant(p.source).astype(np.float64) for p in fq.inputs[1:])


def codes(fq, values: np.ndarray) -> np.ndarray:
    """The integer codes of a FakeQuantize's outputs (f64, exact enough to read them back)."""
    _, _, ol, oh = limits(fq)
    return np.rint((values.astype(np.float64) - ol) / ((oh - ol) / (fq.attrs["levels"] - 1)))


def reference_codes(fq, x: np.ndarray) -> np.ndarray:
    """The codes the reference FakeQuantize gives its input ``x``, in f64."""
    il, ih, _, _ = limits(fq)
    return np.rint((np.clip(x.astype(np.float64), il, ih) - il) / (ih - il) * (fq.attrs["levels"] - 1))


def boundary_distance(fq, x: np.ndarray) -> np.ndarray:
    """How far each element of the FakeQuantize input ``x`` lies from the nearest rounding
    boundary ``il + (k + 1/2) · (ih - il) / (L - 1)``, in f32 ULPs of the input range
    (``max(|il|, |ih|)``: the magnitude the FakeQuantize's f32 scale and shift work at)."""
    il, ih, _, _ = limits(fq)
    x64 = x.astype(np.float64)
    step = (ih - il) / (fq.attrs["levels"] - 1)
    boundary = il + (np.floor((x64 - il) / step) + 0.5) * step
    return np.abs(x64 - boundary) / np.spacing(np.maximum(np.abs(il), np.abs(ih)).astype(np.float32))


def signed_in_openvino(model, config=ovmodels.F32_HINT) -> set[str]:
    """The nodes of ``model`` (an ov.Model) whose output OpenVINO's CPU writes as i8 (fused into
    a node of its runtime model with an i8 output)."""
    compiled = ovmodels.core().compile_model(model, "CPU", config)
    return {name for op in compiled.get_runtime_model().get_ordered_ops()
            if op.get_rt_info()["outputPrecisions"].astype(str) == "i8"
            for name in op.get_rt_info()["originalLayersNames"].astype(str).split(",")}


def cut_outputs(xml: str, inputs: list, names: list[str], config=ovmodels.F32_HINT) -> dict[str, np.ndarray]:
    """Output 0 of each named node as OpenVINO's CPU computes it, from the model cut after it.

    A FakeQuantize that the whole model writes as i8 codes is cut through a MaxPool of kernel 1,
    which keeps it i8 (a Result right after it makes the plugin keep it whole, in f32, whose
    rounding near half-way differs: the i8 form rounds ``x · isc + ish - 128``; measured on
    MiniLM's key projections, rank 3: 2 codes of 49152 apart, which moved 55 codes of the
    attention after them)."""
    core = ovmodels.core()
    model = core.read_model(str(xml))
    by_name = {op.get_friendly_name(): op for op in model.get_ordered_ops()}
    signed = signed_in_openvino(model, config)
    values = {}
    for name in names:
        out = by_name[name].output(0)
        spatial = len(out.get_partial_shape()) - 2
        if name in signed and by_name[name].get_type_name() == "FakeQuantize" and spatial in (1, 2, 3):
            ones, zeros = [1] * spatial, [0] * spatial
            out = opset13.max_pool(out, ones, ones, zeros, zeros, ones).output(0)
        cut = ov.Model([opset13.result(out)], model.get_parameters())
        compiled = core.compile_model(cut, "CPU", config)
        values[name] = np.array(compiled(inputs)[compiled.outputs[0]])
    return values


def unrounded(compiled) -> set[str]:
    """The FakeQuantizes OpenVINO does not round (``compiled`` with ``arithmetic="openvino-cpu"``):
    no codes there to compare or to start from."""
    return {name for name, rule in compiled.plan.departures if rule == UNROUNDED_RESIDUAL.description}


def _boundaries(out, names: set[str], found: dict, seen: set[int]) -> None:
    """The inputs of the FakeQuantizes named in ``names`` that ``out`` depends on, stopping there."""
    node = out.node
    if node.type == "FakeQuantize" and node.name in names:
        found.setdefault(id(node.inputs[0].source), (node.inputs[0].source, node.name))
        return
    for port in node.inputs:
        if id(port.source) not in seen:
            seen.add(id(port.source))
            _boundaries(port.source, names, found, seen)


@dataclass
class Forced:
    """One FakeQuantize computed by lpir from OpenVINO's codes before it."""

    fq: object
    x: np.ndarray  # lpir's f32 input of the FakeQuantize (what its own limits apply to)
    lpir: np.ndarray  # lpir's codes (its FakeQuantize's output)
    openvino: np.ndarray  # OpenVINO's codes

    @property
    def differ(self) -> np.ndarray:
        return self.lpir != self.openvino


def _ancestors(out, stops: set[str]) -> set[int]:
    """The ids of the outputs ``out`` depends on (itself included), up to the FakeQuantizes named
    in ``stops`` (included)."""
    seen: set[int] = set()
    stack = [out]
    while stack:
        o = stack.pop()
        if id(o) not in seen:
            seen.add(id(o))
            if o.node.name not in stops:
                stack.extend(p.source for p in o.node.inputs)
    return seen


def _context(model, fq, boundary: dict) -> list:
    """The outputs of the other consumers of ``fq`` and of the boundary FakeQuantizes (looking
    through quantization-agnostic ops such as Reshape and Transpose), which a segment keeps (as
    extra outputs) so that the rules see the consumers the whole model gives those FakeQuantizes
    (OpenVINO's low-precision transformations choose their integer codes by them: MiniLM's query
    and key projections are i8 because an attention reads them through a Reshape): not those the
    segment computes for ``fq`` anyway (a Result there would change their consumers)."""
    names = {name for _, name in boundary.values()}
    below = _ancestors(fq.outputs[0], names)
    found = []
    for node in [fq] + [model.node(name) for name in names]:
        for reader in _deciding_readers(node.outputs[0]):
            for out in reader.outputs:
                if id(out) not in below and out not in found:
                    found.append(out)
    return found


def _deciding_readers(out, depth: int = 0) -> list:
    """The nodes reading ``out`` but Results, through quantization-agnostic ops (not included)."""
    found = []
    for port in out.consumers:
        if port.node.type == "Result":
            continue
        if is_quantization_agnostic(port.node) and depth < 64:
            found += [r for o in port.node.outputs for r in _deciding_readers(o, depth + 1) if r not in found]
        elif port.node not in found:
            found.append(port.node)
    return found


class Segment:
    """The part of ``model`` from the FakeQuantizes named in ``names`` that ``fq`` depends on (or
    the model inputs) to ``fq``, compiled in integer mode with ``arithmetic``; it also computes
    the other consumers of ``fq`` and of those FakeQuantizes (:func:`_context`)."""

    def __init__(self, model, fq, names: set[str], arithmetic: str):
        boundary: dict = {}
        _boundaries(fq.inputs[0].source, names, boundary, set())
        context = _context(model, fq, boundary)
        for out in context:
            _boundaries(out, names - {fq.name}, boundary, set())
        self.fq = fq
        self.cuts = [name for _, name in boundary.values()]  # the FakeQuantizes it starts from
        self._params = {p.name: i for i, p in enumerate(model.parameters)}
        inputs = [out for out, _ in boundary.values()]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LowPrecisionWarning)  # a segment without a lowered layer
            # fq is read by a tap where a float op of the segment still reads it: a Result after
            # fq would be a consumer the rules see (OpenVINO keeps such a FakeQuantize whole);
            # where only lowered layers read it, by a Result of fq times 1 (a consumer taking any codes)
            self._compiled = None
            if context:
                self._model = extract_subgraph(model, inputs, context)
                self._compiled = lpir.compile_model(self._model, integer=True, arithmetic=arithmetic)
            if self._compiled is None or not any(n.name == fq.name for n in self._compiled.lowered.nodes()):
                self._model = extract_subgraph(model, inputs, [fq.outputs[0], *context])
                result = self._model.results[0]
                one = make_constant(np.ones((), result.inputs[0].source.etype.dtype), name=f"{fq.name}/one").outputs[0]
                result.inputs[0].connect(build("Multiply", [result.inputs[0].source, one], name=f"{fq.name}/read").outputs[0])
                self._compiled = lpir.compile_model(self._model, integer=True, arithmetic=arithmetic)
            self._output = self._compiled.lowered.node(fq.name).outputs[0]
            self._target = fake_quantize_input(self._compiled.lowered, fq.name)
            # the arithmetic may fold steps before the FakeQuantize into its limits (it then reads
            # another tensor): its input as the FakeQuantize's own limits see it comes from the reference
            original = set(fq.inputs[0].source.names)
            self._measured = None
            if original and not original & set(self._target.names):
                self._measured = lpir.compile_model(self._model, integer=True)
                self._measured_target = fake_quantize_input(self._measured.lowered, fq.name)

    def __call__(self, inputs: list, values: dict[str, np.ndarray]) -> Forced:
        """lpir's FakeQuantize from ``values`` at the cuts (OpenVINO's outputs there), against
        OpenVINO's codes in ``values[fq.name]``."""
        feed = [values[name] for name in self.cuts]
        feed += [inputs[self._params[p.name]] for p in self._model.parameters[len(feed):]]
        seen = {}
        self._compiled(feed, taps=self._compiled.tap([self._target, self._output],
                                                     lambda out, value: seen.__setitem__(id(out), value)))
        x = seen[id(self._target)]
        if self._measured is not None:
            self._measured(feed, taps=self._measured.tap([self._measured_target],
                                                         lambda _, value: seen.__setitem__("x", value)))
            x = seen["x"]
        return Forced(self.fq, x, codes(self.fq, seen[id(self._output)]), codes(self.fq, values[self.fq.name]))


def fake_quantize_input(lowered, name: str):
    """The input of FakeQuantize ``name`` in a lowered model: the node keeps its name, or, computed
    by an arithmetic's formula, the node standing for it ends the formula's nodes (named
    ``name/...``), the first of which reads the input."""
    node = lowered.node(name)
    while True:
        inner = [p.source for p in node.inputs
                 if p.source.node.name.startswith(f"{name}/") and p.source.node.type != "Const"]
        if not inner:
            return node.inputs[0].source
        node = inner[0].node


def teacher_forced(model, inputs: list, openvino: dict[str, np.ndarray], arithmetic: str,
                   skip: set[str] = frozenset()) -> list[Forced]:
    """Each activation FakeQuantize with OpenVINO's codes in ``openvino`` (but those in ``skip``,
    which are not cuts either), computed by lpir in integer mode with ``arithmetic`` from
    OpenVINO's codes of the FakeQuantizes before it (model inputs where there are none)."""
    fqs = [fq for fq in activation_fake_quantizes(model) if fq.name in openvino and fq.name not in skip]
    names = {fq.name for fq in fqs}
    return [Segment(model, fq, names, arithmetic)(inputs, openvino) for fq in fqs]


def tapped_codes(compiled, fq):
    """What to tap in ``compiled``'s lowered model for the codes of FakeQuantize ``fq`` of its
    model, and how to read them: its output (or the node an arithmetic's rule put in its place)
    where it is still computed; where only lowered layers read it, the FakeQuantize integer mode
    quantizes their input with (the same input and limits, rewritten by the same rule), whose
    values are the codes on the integer interval of the layer's precision; else the input integer
    mode quantizes in its place (QuantizeLinear's rounding where ``arithmetic="onnxruntime"`` put
    it before ``fq``, or the original input) through the reference formula."""
    from lpir.errors import LpirError
    for name, output in ((fq.name, True), (f"{fq.name}/quantize_linear/grid", False)):
        try:
            node = compiled.lowered.node(name)
        except LpirError:
            continue
        return node.outputs[0], (codes if output else reference_codes)
    for layer, index in _readers(fq.outputs[0]):  # only lowered layers read it: their quantization of its input
        try:
            node = compiled.lowered.node(f"{layer_name(layer)}/quantize_{index}")
        except LpirError:
            continue
        low = -128 if any(c.node.name.endswith("/i8") for c in node.outputs[0].consumers) else 0
        return node.outputs[0], lambda _, value, low=low: value.astype(np.float64) - low
    return compiled._in_lowered(fq.inputs[0].source), reference_codes


def _readers(out, depth: int = 0) -> list:
    """The (node, input index) pairs reading ``out``, through quantization-agnostic ops."""
    found = []
    for port in out.consumers:
        if is_quantization_agnostic(port.node) and depth < 64:
            found += [r for o in port.node.outputs for r in _readers(o, depth + 1)]
        found.append((port.node, port.index))
    return found


def free_running(model, inputs: list, fqs: list, peer: dict[str, np.ndarray], arithmetic: str,
                 skip: set[str] = frozenset()) -> tuple[dict[str, int], list]:
    """Codes differing from the peer's (``peer``: FakeQuantize name → the peer's output there) at
    each FakeQuantize of ``fqs`` but those in ``skip`` and those on model inputs, in lpir's own
    integer-mode run of the whole model with ``arithmetic``, read by taps (which, unlike extra
    Results, leave every node's consumers as they are); and lpir's outputs."""
    compiled = lpir.compile_model(model, integer=True, arithmetic=arithmetic)
    kept = [fq for fq in fqs if fq.name not in skip and fq.inputs[0].source.node.type != "Parameter"]
    targets = [tapped_codes(compiled, fq) for fq in kept]
    seen = {}
    outputs = compiled(inputs, taps=compiled.tap([t for t, _ in targets], lambda out, value: seen.__setitem__(id(out), value)))
    differ = {fq.name: int((read(fq, seen[id(t)]) != codes(fq, peer[fq.name])).sum()) for fq, (t, read) in zip(kept, targets)}
    return differ, list(outputs)


def departure_rows(fqs: list, peer: dict[str, np.ndarray], forced: dict[str, dict[str, int]],
                   free: dict[str, tuple[dict[str, int], list]], everything: bool = False) -> list[str]:
    """One line per FakeQuantize whose codes differ from the peer's anywhere (every one with
    ``everything``): its size, then the codes differing under teacher forcing and in free
    running, for each arithmetic of ``forced`` / ``free`` (in their order)."""
    a, b = forced
    lines = []
    for fq in fqs:
        row = [d.get(fq.name, "-") for d in (forced[a], forced[b], free[a][0], free[b][0])]
        if everything or any(isinstance(v, int) and v for v in row):
            lines.append(f"  {fq.name[:48]:48s} {peer[fq.name].size:8d}  {row[0]!s:>6} / {row[1]!s:<6} | "
                         f"{row[2]!s:>6} / {row[3]!s:<6}")
    return lines


def rounded_the_other_way(forced: Forced, values: np.ndarray, index: tuple) -> np.ndarray:
    """``values`` (outputs of ``forced.fq``) with the element at ``index`` given the code on the
    other side of the rounding boundary nearest to lpir's input value there."""
    il, ih, _, _ = limits(forced.fq)
    t = (np.clip(forced.x.astype(np.float64), il, ih) - il) / (ih - il) * (forced.fq.attrs["levels"] - 1)
    low = np.floor(t[index])
    changed = codes(forced.fq, values)
    changed[index] = low + 1 if changed[index] == low else low
    return dequantize(forced.fq, changed)


def dequantize(fq, codes_: np.ndarray) -> np.ndarray:
    """The f32 values that FakeQuantize ``fq`` outputs for ``codes_`` (read back as the same codes)."""
    _, _, ol, oh = limits(fq)
    return (ol + codes_ * ((oh - ol) / (fq.attrs["levels"] - 1))).astype(np.float32)
