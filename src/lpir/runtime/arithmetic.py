"""Where a runtime departs from the reference arithmetic of a FakeQuantize model, as rules.

Integer mode computes a FakeQuantize model as its ops say (``arithmetic="reference"``);
``arithmetic="openvino-cpu"`` and ``"onnxruntime"`` apply a runtime's departures on top of
integer (or exact) mode, and the plan lists each rewritten node with its rule.

OpenVINO's CPU plugin fuses the low-precision graph into oneDNN primitives. One of its fusions
changes what the model computes rather than only its f32 roundings; the other rules are those
f32 steps, which decide values within an f32 ULP of a rounding boundary:

* ``unrounded residual``: a Convolution (with its bias) whose first fused operation is a
  FakeQuantize, followed by a residual Add fused into the convolution as a ``sum`` post-op and
  by the FakeQuantize of that Add. The plugin drops the rounding of the first FakeQuantize
  (``Convolution::setPostOps``: ``do_rounding = false`` when the FakeQuantize is the first fused
  node and a sum and a FakeQuantize follow it): it only clamps its input to ``[il, ih]`` and maps
  it linearly onto ``[ol, oh]``, so the Add sees the convolution's unrounded values. Which input
  of the Add takes the fused convolution follows the plugin's graph optimizer
  (``FuseConvolutionSumAndConvolutionSumActivation``): input 0 when its convolution has no other
  consumer, else input 1.

* ``fused post-ops``: a FakeQuantize after a lowered Convolution, GroupConvolution or MatMul and
  its bias (Add of a constant), through activations (ReLU, Clamp, HSwish) and constant
  scale-shifts. The plugin runs the chain inside the layer's oneDNN int8 primitive, in f32
  steps that integer mode (exact dequantization in f64, the reference FakeQuantize) rounds
  otherwise, and a few values within an f32 ULP of a rounding boundary land on the other side:

  - dequantization (of every lowered layer, :func:`lpir.runtime.lowering.lower`): the int32
    accumulator converted to f32 times the f32 product of the two f32 scales (oneDNN weight
    scales; ``DnnlPostOpsComposer``), then the bias added in f32;
  - HSwish as oneDNN's eltwise injector computes it: ``x · clip(x · (1/6) + 1/2, 0, 1)``;
  - constant Multiply/Add steps before the FakeQuantize folded into its input limits by the
    low-precision transformations (``AddTransformation`` first turns ``y · s + b`` into
    ``(y + b / s) · s``; ``FakeQuantizeTransformation`` then folds ``· s`` and ``+ b / s``);
  - the FakeQuantize as the plugin's post-op formula ``clip(round(x · isc + ish), clo, chi) ·
    osc + osh`` (``FakeQuantize`` node scales and shifts in f32; ``updateOptimizedFormula``,
    which replaces per-channel input shifts that differ by less than 5e-5 by the first
    channel's: with ranges sharing one zero point they differ by an ULP or so); ``appendLinear``
    makes one scale and one shift an eltwise ``linear`` (a fused multiply-add), per-channel
    ones a binary multiply then a binary add.

* ``quantization kernels``: every other activation FakeQuantize (but the one after a fused
  residual Add) as the plugin's own quantization kernel computes it, in its FakeQuantize node or
  fused into an Eltwise node: ``x`` cropped to ``[il, ih]``, ``x · isc + ish`` as a fused
  multiply-add with the node's f32 scale and shift as they are, rounded, then ``· osc + osh`` as
  a fused multiply-add. It decides rounding ties: PP-OCRv4 det's ``Add.264`` adds two tensors
  quantized on one range into a FakeQuantize of twice that range.

* ``sum operand``: the other input of such a fused residual Add, when it is a FakeQuantize
  ending its own convolution's post-ops (the plugin runs it there and writes its codes, which
  the sum post-op then reads): its codes are the post-op formula's, the Add (and any layer left
  in float) reads the reference value of those codes (measured closer than the formula's f32
  value).

Each rule rewrites, with its FakeQuantize, the FakeQuantizes integer mode puts before the layers
it quantizes (same input, same input limits), so that those layers read the rule's codes.

Measured (OpenVINO 2026.4, AVX-512 int8 kernels, teacher forcing on OpenVINO's own tensors from
cut models, benchmarks/measure_openvino_departures.py): codes differing from OpenVINO's, the
reference → these rules, PP-OCR cls 34943 → 11, PP-OCRv4 rec 44 → 2, det 557 → 4,
EfficientNet-Lite0 32139 → 0, MiniLM 64 → 59 (56 in one attention layer no rule covers). What
is left on the classifier are squeeze-and-excitation Multiplies (whose input codes the cut
models fuse differently), a pooling and two residual Adds. End to end, against OpenVINO's whole
model: EfficientNet-Lite0 0 (bit for bit; the reference 2.0e-2 of the output range), PP-OCR cls
2.2e-2, the cascade of its squeeze-and-excitation departures.

ONNX Runtime (CPU, every graph optimisation) runs lpir's QDQ export (:func:`lpir.save_model` to
``.onnx``), and departs from the FakeQuantize model in six ways:

* ``int32 bias``: the export folds the bias of a quantized Convolution / GroupConvolution / 2-D
  MatMul into the Conv / Gemm as int32 on the accumulator's grid ``input_scale · weight_scale``
  (integer kernels add it to the accumulator, float ones dequantized): the bias Add after such a
  layer adds ``round(bias / scale) · scale`` (f32) instead of the bias, up to half an
  accumulator step away, a constant shift per output channel.
* ``hard activations``: HSwish and HSigmoid are exported as ONNX's HardSwish and HardSigmoid,
  which ONNX Runtime computes as ``x · clip(x · f32(1/6) + 0.5, 0, 1)`` (no fused multiply-add)
  where OpenVINO's formula is ``x · min(max(x + 3, 0), 6) / 6``: the two differ in the last bit
  of about 30 % of the values, enough to move a value at a rounding boundary of the FakeQuantize
  after them.
* ``QuantizeLinear``: an activation FakeQuantize is a QuantizeLinear, ``round(x / scale)`` in f32
  (half to even, the same division in MLAS's SSE2, AVX2 and AVX-512 kernels), where the
  FakeQuantize formula ``(x - il) / (ih - il) · (L - 1)`` rounds some values near a boundary, and
  ties, the other way; and its DequantizeLinear gives float consumers ``(q - zp) · scale`` in
  f32, which can be an ULP from the FakeQuantize's output value. The FakeQuantize stays (fed its
  input already on its grid) so that integer mode still lowers the layers it quantizes.
* ``float ConvTranspose``: ONNX Runtime has no integer kernel for a quantized
  ConvolutionBackpropData; it runs a float ConvTranspose on the dequantized values, a GEMM whose
  sums are sequential f32 fused multiply-adds over the input channels, the bias added after.
  Where the windows do not overlap (kernel = strides) that is reproduced bit for bit; integer
  mode's exact sum, rounded once, differs in the last bit of half the values.
* ``float Conv``: ONNX Runtime fuses a Conv into a QLinearConv only when a per-tensor
  QuantizeLinear that nothing else reads follows it (its bias an int32 one, a Relu that the
  quantization absorbs at most between) and its input's DequantizeLinear is per tensor and
  read by it alone (checked against its optimised graphs of PP-OCR's models); the others it runs
  as float Convs on the dequantized values, dense ones as a GEMM: f32 fused multiply-adds over
  the input channels and the window, in order, in K blocks of 128 products (256, 512, 1024 when
  an image has at most 64, 32, 16 output pixels: MLAS's SGEMM trades halvings of its N block for
  doublings of its K block), the blocks' sums added, then the bias; ONNX Runtime runs one thread.
  An output of a single pixel goes to another GEMM kernel, not reproduced.
* ``float depthwise Conv``: the depthwise Convs it leaves in float are, per channel, a GEMM of
  one filter row, which MLAS's one-row kernel computes without fused multiply-adds: the f32
  products of the window's taps in row-major order, four at a time summed in order and that sum
  added to the running total (a remainder of two, then one, likewise), then the bias.

Measured on PP-OCR's classifier (quantized by lpir.quantize or NNCF, 6 held-out text lines, ONNX
Runtime 1.32 CPU, teacher forcing on ONNX Runtime's own codes): 3248 of 5.2 million codes one
step off ONNX Runtime's with the reference arithmetic, none with these rules, and end to end about
1e-7 of the output range apart (2e-2 with the reference). On PP-OCRv4 rec 3 of 6 million codes
are left one step off (23 before the depthwise and K-block rules), on det 395 of 6.9 million,
392 of them after one Relu where the reference arithmetic has them too; their cascade through
later layers is what is left end to end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lpir.analysis.patterns import is_quantization_agnostic
from lpir.ir import qparams, types
from lpir.ir.graph import Model, Node, Output, make_constant
from lpir.ir.rewrite import NameScope
from lpir.ops import build

if TYPE_CHECKING:
    from lpir.runtime.lowering import LayerPlan

ARITHMETICS = ("reference", "openvino-cpu", "onnxruntime")
RUNTIMES = {"openvino-cpu": "OpenVINO's CPU plugin", "onnxruntime": "ONNX Runtime (CPU) on the QDQ export"}
_FUSED_INTO_SUM = ("Convolution", "GroupConvolution")  # the CPU plugin's Convolution node, which takes a sum post-op


@dataclass(frozen=True)
class Departure:
    """One way a runtime computes differently from the reference: which nodes it concerns
    (``find``, given the model and the layers integer mode lowers, by name), what the runtime's
    graph transformations make of them before the layers are lowered (``prepare``, given those
    layers' plans too, if anything) and what it computes there instead (``rewrite``, after, if
    anything)."""

    name: str
    description: str
    find: Callable[[Model, Mapping[str, LayerPlan]], list[Node]]
    rewrite: Callable[[Node, NameScope], None] | None
    prepare: Callable[[Node, NameScope, Mapping[str, LayerPlan]], None] | None = None


def _single_consumer(out: Output) -> Node | None:
    return out.consumers[0].node if len(out.consumers) == 1 else None


def _is_constant(out: Output) -> bool:
    """Whether ``out`` depends on constants only: no input-less node but Const above it (searched
    depth first without recursion, which deep graphs would exhaust)."""
    stack, seen = [out.node], set()
    while stack:
        node = stack.pop()
        if id(node) in seen or node.type == "Const":
            continue
        if not node.inputs:  # a Parameter (or another source of variable data)
            return False
        seen.add(id(node))
        stack.extend(p.source.node for p in reversed(node.inputs))
    return True


def _convolution_before(fq: Node, lowered: set[str]) -> Node | None:
    """The lowered convolution whose output (through a constant bias Add at most) ``fq`` reads
    and nothing else reads, else None: then the FakeQuantize is the convolution's first fused node."""
    node = fq.inputs[0].source.node
    if node.type == "Add" and sum(not _is_constant(p.source) for p in node.inputs) == 1:
        if _single_consumer(node.outputs[0]) is not fq:
            return None
        node = next(p.source.node for p in node.inputs if not _is_constant(p.source))
    if node.type not in _FUSED_INTO_SUM or node.name not in lowered or _single_consumer(node.outputs[0]) is None:
        return None
    return node


def _fused_sum_branch(add: Node, lowered: set[str]) -> Node | None:
    """The FakeQuantize (input of ``add``) whose convolution the plugin fuses ``add`` into, if any."""
    if len(add.inputs) != 2 or any(_is_constant(p.source) for p in add.inputs):
        return None
    shapes = [p.source.shape for p in add.inputs]
    if shapes[0] is None or shapes[0] != shapes[1]:
        return None
    nxt = _single_consumer(add.outputs[0])
    if nxt is None or nxt.type != "FakeQuantize":
        return None
    for port in (0, 1):
        fq = add.inputs[port].source.node
        if fq.type != "FakeQuantize" or _single_consumer(fq.outputs[0]) is not add:
            continue
        conv = _convolution_before(fq, lowered)
        peer = add.inputs[1 - port].source.node
        if conv is not None and all(p.source.node is not peer for p in conv.inputs):
            return fq
    return None


def _find_unrounded_residual(model: Model, lowered: set[str]) -> list[Node]:
    found = (_fused_sum_branch(node, lowered) for node in model.nodes() if node.type == "Add")
    return [fq for fq in found if fq is not None]


def _clamp_and_map(fq: Node, scope: NameScope) -> None:
    """Replace ``fq`` by its clamp to ``[il, ih]`` mapped linearly onto ``[ol, oh]``, unrounded."""
    from lpir.runtime.lowering import constant_value
    x = fq.inputs[0].source
    il, ih, ol, oh = (np.asarray(constant_value(p.source), x.etype.dtype) for p in fq.inputs[1:])

    def const(value, what):
        return make_constant(np.ascontiguousarray(value), name=scope.make(f"{fq.name}/unrounded/{what}")).outputs[0]

    y = build("Minimum", [x, const(ih, "high")], name=scope.make(f"{fq.name}/unrounded/clamp_high")).outputs[0]
    y = build("Maximum", [y, const(il, "low")], name=scope.make(f"{fq.name}/unrounded/clamp_low")).outputs[0]
    if not (np.array_equal(il, ol) and np.array_equal(ih, oh)):
        scale = ((oh.astype(np.float64) - ol) / (ih.astype(np.float64) - il)).astype(x.etype.dtype)
        y = build("Subtract", [y, const(il, "input_low")], name=scope.make(f"{fq.name}/unrounded/shift")).outputs[0]
        y = build("Multiply", [y, const(scale, "scale")], name=scope.make(f"{fq.name}/unrounded/scale")).outputs[0]
        y = build("Add", [y, const(ol, "output_low")], name=scope.make(f"{fq.name}/unrounded/offset")).outputs[0]
    fq.outputs[0].replace_uses(y, keep_names=True)


UNROUNDED_RESIDUAL = Departure(
    "unrounded residual",
    "FakeQuantize between a convolution and a residual Add fused as a sum: clamped, not rounded",
    _find_unrounded_residual, _clamp_and_map)

# ---------------------------------------------------------------- fused post-ops

_LAYERS = ("Convolution", "GroupConvolution", "MatMul")  # oneDNN int8 primitives taking the post-ops below
_PASSED = ("Relu", "Clamp")  # exact in any order of f32 steps: kept as they are
_REWRITTEN = ("HSwish",)     # computed by oneDNN's eltwise injector: rewritten to its steps


def _fused_chain(fq: Node, lowered: set[str]) -> list[Node] | None:
    """The nodes from a lowered layer to ``fq`` (bias or scale-shift by constants, activations)
    that the CPU plugin fuses into the layer's oneDNN primitive with ``fq`` as a post-op, layer
    first; None when ``fq`` does not end such a chain or a step in it is not reproduced."""
    chain = []
    node = fq.inputs[0].source.node
    while node.name not in lowered:
        if _single_consumer(node.outputs[0]) is None:
            return None
        variable = [p.source for p in node.inputs if not _is_constant(p.source)]
        if len(variable) != 1:
            return None
        if not (node.type in _PASSED + _REWRITTEN or
                (node.type in ("Add", "Multiply") and len(node.inputs) == 2)):
            return None
        chain.append(node)
        node = variable[0].node
    if node.type not in _LAYERS or _single_consumer(node.outputs[0]) is None:
        return None
    if chain and chain[-1].type != "Add":  # a bias first, or nothing (the dequantization folded into fq)
        return None
    return [node] + chain[::-1]


def _sum_operands(unrounded: list[Node]) -> list[Node]:
    """The other input of the residual Add of each unrounded FakeQuantize (the sum post-op's
    operand), where it is a FakeQuantize."""
    adds = [fq.outputs[0].consumers[0].node for fq in unrounded]
    return [p.source.node for fq, add in zip(unrounded, adds) for p in add.inputs
            if p.source.node is not fq and p.source.node.type == "FakeQuantize"]


def _around_fused_sum(unrounded: list[Node]) -> list[Node]:
    """The FakeQuantizes around the residual Add of each unrounded FakeQuantize (fused as a sum):
    the one after it, and the sum post-op's operand. The sum's arithmetic is not reproduced; the
    reference FakeQuantize is measured closer after it, and the reference value of the operand's
    codes in it (:data:`SUM_OPERAND` gives the codes)."""
    after = [fq.outputs[0].consumers[0].node.outputs[0].consumers[0].node for fq in unrounded]
    return after + _sum_operands(unrounded)


def _find_fused_post_ops(model: Model, lowered: set[str]) -> list[Node]:
    unrounded = _find_unrounded_residual(model, lowered)
    skip = set(map(id, unrounded + _around_fused_sum(unrounded)))
    return [node for node in model.nodes() if node.type == "FakeQuantize" and id(node) not in skip
            and _fused_chain(node, lowered) is not None]


def _find_sum_operands(model: Model, lowered: set[str]) -> list[Node]:
    operands = _sum_operands(_find_unrounded_residual(model, lowered))
    return [fq for fq in dict.fromkeys(operands) if _fused_chain(fq, lowered) is not None]


def _hard_sigmoid_steps(node: Node, scope: NameScope, stem: str) -> None:
    """Replace HSwish / HSigmoid ``node`` by ``clip(x · (1/6) + 1/2, 0, 1)`` (times ``x`` for
    HSwish), each step in f32 without fused multiply-adds: oneDNN's eltwise injector and ONNX
    Runtime's HardSwish / HardSigmoid both compute so."""
    x = node.inputs[0].source
    dtype = x.etype.dtype

    def const(value, what):
        return make_constant(np.asarray(value, dtype), name=scope.make(f"{node.name}/{stem}/{what}")).outputs[0]

    t = build("Multiply", [x, const(1 / 6, "alpha")], name=scope.make(f"{node.name}/{stem}/scale")).outputs[0]
    t = build("Add", [t, const(0.5, "beta")], name=scope.make(f"{node.name}/{stem}/shift")).outputs[0]
    y = build("Clamp", [t], {"min": 0.0, "max": 1.0}, name=scope.make(f"{node.name}/{stem}/clip")).outputs[0]
    if node.type == "HSwish":
        y = build("Multiply", [x, y], name=node.name).outputs[0]  # stands for the node it replaces
    node.outputs[0].replace_uses(y, keep_names=True)


def _onednn_hswish(node: Node, scope: NameScope) -> None:
    """HSwish as oneDNN's eltwise injector computes it: ``x · clip(x · (1/6) + 1/2, 0, 1)``, each step in f32."""
    _hard_sigmoid_steps(node, scope, "onednn")


def _variable_input(node: Node) -> Output:
    return next(p.source for p in node.inputs if not _is_constant(p.source))


def _constant_input(node: Node) -> np.ndarray:
    from lpir.runtime.lowering import constant_value
    return constant_value(next(p.source for p in node.inputs if _is_constant(p.source)))


@dataclass(frozen=True)
class PostOpFormula:
    """A FakeQuantize as the CPU plugin hands it to oneDNN as post-ops:
    ``clip(round(x · isc + ish), clo, chi) · osc + osh`` with f32 constants (one value, or one per channel)."""

    isc: np.ndarray
    ish: np.ndarray
    clo: np.ndarray
    chi: np.ndarray
    osc: np.ndarray
    osh: np.ndarray


def _one_if_equal(a: np.ndarray) -> np.ndarray:
    flat = a.reshape(-1)
    return flat[:1].reshape(()) if np.all(flat == flat[0]) else a


def post_op_formula(il, ih, ol, oh, levels: int) -> PostOpFormula:
    """The FakeQuantize's post-op constants, computed in f32 as the CPU plugin does: its FakeQuantize
    node's crop limits and input/output scales and shifts, then ``updateOptimizedFormula`` with
    rounding, where an input shift that varies across channels by less than 5e-5 is replaced by
    the first channel's."""
    f32 = np.float32
    il, ih, ol, oh = (_one_if_equal(np.asarray(a, f32)) for a in (il, ih, ol, oh))
    steps = f32(levels - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        isc = (steps / (ih - il)).astype(f32)
        ish = ((-il * steps) / (ih - il)).astype(f32)
        osc = ((oh - ol) / steps).astype(f32)
    osh = ol
    flat = ish.reshape(-1)
    if np.all(np.abs(flat - flat[0]) < f32(5e-5)):
        ish = flat[:1].reshape(())
    isc_c, ish_c = np.broadcast_arrays(isc, ish)
    clo = np.rint((np.broadcast_to(il, isc_c.shape) * isc_c).astype(f32) + ish_c).astype(f32)
    chi = np.rint((np.broadcast_to(ih, isc_c.shape) * isc_c).astype(f32) + ish_c).astype(f32)
    clo, chi = np.minimum(clo, chi), np.maximum(clo, chi)
    clo, chi = _one_if_equal(clo), _one_if_equal(chi)
    if osc.size == 1 and osc.reshape(-1)[0] == 1 and osh.size == 1 and osh.reshape(-1)[0] == np.trunc(osh.reshape(-1)[0]):
        ish, clo, chi = ish + osh, clo + osh, chi + osh
        osc, osh = f32(1), f32(0)
    if ish.size == 1 and clo.size == 1 and chi.size == 1 and abs(ish.reshape(-1)[0]) < (chi - clo).reshape(-1)[0] * f32(1e-5):
        ish = np.zeros_like(ish)
    return PostOpFormula(isc, ish, clo, chi, osc, osh)


def _linear(x: Output, scale: np.ndarray, shift: np.ndarray, scope: NameScope, stem: str, *,
            fused: bool = False) -> Output:
    """``x · scale + shift`` as the plugin's ``appendLinear`` makes oneDNN compute it: one value of
    each is an eltwise ``linear`` (a fused multiply-add, computed here in f64 and rounded once to f32),
    else a ``binary_mul`` then a ``binary_add``, each rounded to f32; a zero shift is no step.
    ``fused``: a fused multiply-add in any case (the plugin's own quantization kernels)."""
    dtype = x.etype.dtype

    def const(value, what, t=dtype):
        return make_constant(np.ascontiguousarray(value, t), name=scope.make(f"{stem}/{what}")).outputs[0]

    no_shift = not np.any(shift)
    if fused or (scale.size == 1 and shift.size == 1 and not no_shift):
        wide = build("Convert", [x], {"destination_type": types.f64}, name=scope.make(f"{stem}/f64")).outputs[0]
        y = build("Multiply", [wide, const(scale, "scale", np.float64)], name=scope.make(f"{stem}/scale")).outputs[0]
        y = build("Add", [y, const(shift, "shift", np.float64)], name=scope.make(f"{stem}/shift")).outputs[0]
        return build("Convert", [y], {"destination_type": x.etype}, name=scope.make(f"{stem}/f32")).outputs[0]
    if not np.all(scale == 1):
        x = build("Multiply", [x, const(scale, "scale")], name=scope.make(f"{stem}/scale")).outputs[0]
    if not no_shift:
        x = build("Add", [x, const(shift, "shift")], name=scope.make(f"{stem}/shift")).outputs[0]
    return x


def _same_input_limits(fq: Node) -> list[Node]:
    """The other FakeQuantizes reading ``fq``'s input with its input limits (integer mode's
    quantize FakeQuantizes of the layers ``fq`` feeds): they must give the same codes. Limits
    are compared by value, whatever their rank: integer mode writes a per-tensor limit as
    shape ``(1,)`` where the model may have a scalar."""
    from lpir.runtime.lowering import constant_value
    limits = [np.squeeze(constant_value(p.source)) for p in fq.inputs[1:3]]
    return [c.node for c in fq.inputs[0].source.consumers if c.node is not fq and c.node.type == "FakeQuantize"
            and all(np.array_equal(np.squeeze(constant_value(c.node.inputs[i].source)), v)
                    for i, v in zip((1, 2), limits))]


def _post_op_fake_quantize(fq: Node, scope: NameScope) -> None:
    """Replace ``fq`` (and the activations of its fused chain) by the steps oneDNN computes."""
    node = fq.inputs[0].source.node
    while (node.type in _PASSED + _REWRITTEN + ("Add", "Multiply")  # the chain found, back to the layer
           and sum(not _is_constant(p.source) for p in node.inputs) == 1):  # (not through a fused sum)
        before = _variable_input(node).node
        if node.type in _REWRITTEN:
            _onednn_hswish(node, scope)
        node = before
    for node in [fq] + _same_input_limits(fq):  # integer mode's quantize FakeQuantizes of the same values: the same codes
        _fold_dequantization(node, scope)
        _replace_by_formula(node, scope)


def _fold_dequantization(fq: Node, scope: NameScope) -> None:
    """When ``fq`` reads a lowered layer's f32 dequantization directly (no bias between), fold the
    dequantization scale into its input limits, as ``FakeQuantizeTransformation::fuseElementwise``
    folds the Multiply the low-precision transformations put after the layer: ``fq`` then
    quantizes the f32 accumulator (and the plugin multiplies it by the input scale as oneDNN's
    weight scale)."""
    from lpir.runtime.lowering import constant_value
    rounded = fq.inputs[0].source.node
    if rounded.type != "Convert" or rounded.inputs[0].source.node.type != "Multiply":
        return
    multiply = rounded.inputs[0].source.node
    accumulator = multiply.inputs[0].source
    if (accumulator.node.type != "Convert" or accumulator.etype != types.f32
            or accumulator.node.inputs[0].source.etype != types.i32 or not _is_constant(multiply.inputs[1].source)):
        return
    scale = np.asarray(constant_value(multiply.inputs[1].source), np.float32)
    if np.any(scale <= 0):
        return
    fq.inputs[0].connect(accumulator)
    for port, what in ((1, "input_low"), (2, "input_high")):
        value = (np.asarray(constant_value(fq.inputs[port].source), np.float32) / scale).astype(np.float32)
        fq.inputs[port].connect(make_constant(value, name=scope.make(f"{fq.name}/folded_{what}")).outputs[0])


_FOLDED = {"Multiply": np.divide, "Divide": np.multiply, "Add": np.subtract, "Subtract": np.add}  # limit ∘ value


def _fold_into_limits(fq: Node, scope: NameScope, lowered: Mapping[str, LayerPlan]) -> None:
    """Fold the constant Multiply/Divide/Add/Subtract steps before ``fq`` into its input limits, as
    OpenVINO's low-precision transformations do, so that ``fq`` reads the activation before them.
    ``AddTransformation`` first moves a Multiply by ``s`` that an Add of ``b`` follows after it, as a
    dequantization: ``(x + b / s) · s``; ``FakeQuantizeTransformation::fuseElementwise`` then folds
    the steps, the nearest first, each limit divided, multiplied or shifted by the constant in f32
    (a positive scale only; never the bias Add of a layer)."""
    from lpir.runtime.lowering import constant_value
    steps = []  # (op, constant), the nearest to fq first
    x = fq.inputs[0].source
    while x.node.type in _FOLDED and _single_consumer(x) is not None and len(x.node.inputs) == 2:
        constant = [p.source for p in x.node.inputs if _is_constant(p.source)]
        if len(constant) != 1 or (x.node.type == "Divide" and _is_constant(x.node.inputs[0].source)):
            break
        value = np.asarray(constant_value(constant[0]), np.float32)
        before = _variable_input(x.node)
        if x.node.type in ("Multiply", "Divide") and np.any(value <= 0):
            break
        if x.node.type in ("Add", "Subtract") and before.node.type in _LAYERS + ("ConvolutionBackpropData",):
            break
        steps.append([x.node.type, value])
        x = before
    if not steps:
        return
    for i in range(len(steps) - 1):
        if steps[i][0] == "Add" and steps[i + 1][0] == "Multiply":  # (y · s) + b → (y + b / s) · s
            (_, shift), (_, scale) = steps[i], steps[i + 1]
            steps[i], steps[i + 1] = ["Multiply", scale], ["Add", (shift / scale).astype(np.float32)]
    low, high = (np.asarray(constant_value(p.source), np.float32) for p in fq.inputs[1:3])
    with np.errstate(divide="ignore", invalid="ignore"):
        for op, value in steps:
            low, high = (_FOLDED[op](a, value).astype(np.float32) for a in (low, high))

    def const(value, what):
        return make_constant(np.ascontiguousarray(value), name=scope.make(f"{fq.name}/folded_{what}")).outputs[0]
    fq.inputs[0].connect(x)
    for port, value, what in ((1, low, "input_low"), (2, high, "input_high")):
        fq.inputs[port].connect(const(value, what))


def _between(x: Output, low: np.ndarray, high: np.ndarray, scope: NameScope, stem: str, verb: str) -> Output:
    """``x`` limited to ``[low, high]`` (Maximum, then Minimum), as the plugin's clip and crop steps."""
    y = build("Maximum", [x, make_constant(low, name=scope.make(f"{stem}/low")).outputs[0]],
              name=scope.make(f"{stem}/{verb}_low")).outputs[0]
    return build("Minimum", [y, make_constant(high, name=scope.make(f"{stem}/high")).outputs[0]],
                 name=scope.make(f"{stem}/{verb}_high")).outputs[0]


def _replace_by_formula(fq: Node, scope: NameScope) -> None:
    from lpir.runtime.lowering import constant_value
    x = fq.inputs[0].source
    f = post_op_formula(*(constant_value(p.source) for p in fq.inputs[1:]), int(fq.attrs["levels"]))
    stem = f"{fq.name}/post_op"
    dtype = x.etype.dtype
    y = _linear(x, f.isc, f.ish, scope, f"{stem}/input")
    y = build("Round", [y], {"mode": "half_to_even"}, name=scope.make(f"{stem}/round")).outputs[0]
    y = _between(y, np.asarray(f.clo, dtype), np.asarray(f.chi, dtype), scope, stem, "clip")
    y = _linear(y, np.asarray(f.osc), np.asarray(f.osh), scope, f"{stem}/output")
    y = build("Convert", [y], {"destination_type": x.etype}, name=fq.name).outputs[0]  # stands for the FakeQuantize
    fq.outputs[0].replace_uses(y, keep_names=True)


def _find_quantization_kernels(model: Model, lowered: set[str]) -> list[Node]:
    unrounded = _find_unrounded_residual(model, lowered)
    taken = set(map(id, unrounded + _around_fused_sum(unrounded) + _find_fused_post_ops(model, lowered)))
    return [node for node in model.nodes() if node.type == "FakeQuantize" and id(node) not in taken
            and not _is_constant(node.inputs[0].source)]


def _quantization_kernel(fq: Node, scope: NameScope) -> None:
    """Replace ``fq`` (and integer mode's quantize FakeQuantizes of the same values) by the
    plugin's quantization kernel: its FakeQuantize node's f32 crop limits, scales and shifts as
    they are (``jit_uni_quantization``: crop, a fused multiply-add, round, a fused multiply-add)."""
    for node in [fq] + _same_input_limits(fq):
        _replace_by_kernel(node, scope)


def _replace_by_kernel(fq: Node, scope: NameScope) -> None:
    from lpir.runtime.lowering import constant_value
    x = fq.inputs[0].source
    f32, dtype = np.float32, x.etype.dtype
    il, ih, ol, oh = (_one_if_equal(np.asarray(constant_value(p.source), f32)) for p in fq.inputs[1:])
    steps = f32(int(fq.attrs["levels"]) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        isc = (steps / (ih - il)).astype(f32)
        ish = ((-il * steps) / (ih - il)).astype(f32)
        osc = ((oh - ol) / steps).astype(f32)
    stem = f"{fq.name}/kernel"
    y = _between(x, np.asarray(il, dtype), np.asarray(ih, dtype), scope, stem, "crop")
    y = _linear(y, isc, ish, scope, f"{stem}/input", fused=True)
    y = build("Round", [y], {"mode": "half_to_even"}, name=scope.make(f"{stem}/round")).outputs[0]
    y = _linear(y, osc, ol, scope, f"{stem}/output", fused=True)
    y = build("Convert", [y], {"destination_type": x.etype}, name=fq.name).outputs[0]  # stands for the FakeQuantize
    fq.outputs[0].replace_uses(y, keep_names=True)


def _post_op_codes_reference_sum(fq: Node, scope: NameScope) -> None:
    """Replace ``fq``, the operand of a fused sum that ends its own layer's post-ops, by the
    post-op formula (the codes the plugin writes; the layers integer mode lowers after it read
    them), and give its other consumers (the residual Add, layers left in float) the reference
    value of those codes (measured closer than the formula's f32 value): a FakeQuantize on the
    output grid, which maps each of its points to itself."""
    from lpir.runtime.lowering import constant_value
    limits = [constant_value(p.source) for p in fq.inputs[3:5]]
    levels = fq.attrs["levels"]
    consumers = list(fq.outputs[0].consumers)
    _post_op_fake_quantize(fq, scope)
    for port in consumers:
        value = port.source
        grid = [make_constant(np.asarray(v), name=scope.make(f"{fq.name}/sum_operand/{what}")).outputs[0]
                for v, what in zip(limits * 2, ("input_low", "input_high", "output_low", "output_high"))]
        port.connect(build("FakeQuantize", [value, *grid], {"levels": levels},
                           name=scope.make(f"{fq.name}/sum_operand")).outputs[0])


SUM_OPERAND = Departure(
    "sum operand",
    "FakeQuantize read by a fused residual sum: post-op codes, their reference value in the sum",
    _find_sum_operands, _post_op_codes_reference_sum, _fold_into_limits)

QUANTIZATION_KERNELS = Departure(
    "quantization kernels",
    "FakeQuantize in the plugin's quantization kernel: crop, multiply-add, round, multiply-add in f32",
    _find_quantization_kernels, _quantization_kernel)


FUSED_POST_OPS = Departure(
    "fused post-ops",
    "FakeQuantize fused into a lowered layer's oneDNN primitive: its post-op formula in f32",
    _find_fused_post_ops, _post_op_fake_quantize, _fold_into_limits)

# -- ONNX Runtime on the QDQ export ------------------------------------------------------------

_BIAS_FOLDED = {"Convolution": 1, "GroupConvolution": 2, "MatMul": 0}  # leading weight axes that are output channels


def _bias_after(layer: Node) -> tuple[Node, Output] | None:
    """(the Add, its constant) when ``layer``'s only consumer adds a constant per output channel."""
    add = _single_consumer(layer.outputs[0])
    if add is None or add.type != "Add" or layer.outputs[0].shape is None:
        return None
    other = next((p.source for p in add.inputs if p.source is not layer.outputs[0]), None)
    from lpir.runtime.lowering import _constant_output
    value = None if other is None else _constant_output(other)
    shape = layer.outputs[0].shape
    channels = shape[-1] if layer.type == "MatMul" else shape[1]
    if value is None or value.dtype.kind != "f" or not isinstance(channels, int) or value.size != channels:
        return None
    if layer.type == "MatMul" and len(shape) != 2:  # exported as MatMul, the bias an Add after it
        return None
    return add, other


def _accumulator_scales(layer: Node, plan: LayerPlan) -> tuple[np.ndarray, np.ndarray] | None:
    """(input scale, weight scale per output channel or per tensor) of a layer the export folds
    an int32 bias into: a per-tensor activation read straight from its FakeQuantize, weights
    quantized per output channel (per tensor for a MatMul, exported as Gemm)."""
    x, w = plan.quantization
    if x.values is not None or w.values is None or x.scale.size != 1:
        return None
    if layer.inputs[0].source.node.type != "FakeQuantize" or x.zero_point_after:
        return None
    leading = _BIAS_FOLDED[layer.type]
    per_channel = w.scale.reshape(int(np.prod(w.scale.shape[:leading], dtype=np.int64)), -1)
    if np.any(per_channel != per_channel[:, :1]):
        return None
    return x.scale.reshape(()), per_channel[:, 0]


def _int32_bias(layer: Node, lowered: Mapping[str, LayerPlan]) -> tuple[Node, Output, np.ndarray] | None:
    """(the bias Add after ``layer``, its constant, the bias on the accumulator's grid as the
    export writes it) when the export folds an int32 bias into ``layer``, else None."""
    plan = lowered.get(layer.name)
    if layer.type not in _BIAS_FOLDED or plan is None or plan.quantization is None:
        return None
    found, scales = _bias_after(layer), _accumulator_scales(layer, plan)
    if found is None or scales is None:
        return None
    from lpir.runtime.lowering import constant_value
    add, bias = found
    value = constant_value(bias)
    rounded = qparams.accumulator_bias(value.reshape(-1), *scales)
    if rounded is None:
        return None
    q, scale = rounded
    return add, bias, (q.astype(np.float32) * scale).astype(value.dtype).reshape(value.shape)


def _find_int32_bias(model: Model, lowered: Mapping[str, LayerPlan]) -> list[Node]:
    """The lowered layers whose bias the export writes as int32."""
    return [node for node in model.nodes() if _int32_bias(node, lowered) is not None]


def _round_bias(layer: Node, scope: NameScope, lowered: Mapping[str, LayerPlan]) -> None:
    """Make the bias Add after ``layer`` add the bias on the accumulator's grid."""
    add, bias, grid = _int32_bias(layer, lowered)
    port = next(p for p in add.inputs if p.source is bias)
    port.connect(make_constant(grid, name=scope.make(f"{bias.node.name}/int32")).outputs[0])


def _find_hard_activations(model: Model, lowered: Mapping[str, LayerPlan]) -> list[Node]:
    return [node for node in model.nodes() if node.type in ("HSwish", "HSigmoid")]


def _as_hard_sigmoid(node: Node, scope: NameScope, lowered: Mapping[str, LayerPlan]) -> None:
    _hard_sigmoid_steps(node, scope, "onnx")


def _qdq_scales(fq: Node) -> tuple[np.ndarray, np.ndarray] | None:
    """The f32 scales of the QuantizeLinear and the DequantizeLinear the export writes for
    activation FakeQuantize ``fq``, or None when ``fq`` is on constants or has no QDQ form."""
    from lpir.runtime.lowering import _constant_output
    if fq.type != "FakeQuantize" or _constant_output(fq.inputs[0].source) is not None:
        return None
    limits = [_constant_output(p.source) for p in fq.inputs[1:]]
    if any(v is None for v in limits):
        return None
    try:
        form = qparams.fake_quantize_to_qdq(*limits, int(fq.attrs["levels"]))
    except ValueError:
        return None
    return np.asarray(form.quantize.scale, np.float32), np.asarray(form.dequantize.scale, np.float32)


def _find_quantize_linear(model: Model, lowered: Mapping[str, LayerPlan]) -> list[Node]:
    return [node for node in model.nodes() if _qdq_scales(node) is not None]


def _snapped(x: Output, scale: np.ndarray, base: str, scope: NameScope) -> Output:
    """``round(x / scale) · scale`` in x's type (round half to even)."""
    const = make_constant(scale.astype(x.etype.dtype), name=scope.make(f"{base}/scale")).outputs[0]
    steps = build("Divide", [x, const], name=scope.make(f"{base}/divide")).outputs[0]
    steps = build("Round", [steps], {"mode": "half_to_even"}, name=scope.make(f"{base}/round")).outputs[0]
    return build("Multiply", [steps, const], name=scope.make(f"{base}/grid")).outputs[0]


def _feeds_lowered(node: Node, lowered: Mapping[str, LayerPlan], depth: int = 0) -> bool:
    """Whether ``node`` is a lowered layer or passes its input 0 unchanged (a quantization-agnostic
    op or a float cast, as integer mode looks back through them) on to one."""
    if node.name in lowered:
        return True
    is_float_cast = node.type == "Convert" and node.inputs and node.inputs[0].source.etype.is_float
    if depth >= 64 or not (is_float_cast or is_quantization_agnostic(node)) or len(node.outputs) != 1:
        return False
    return any(p.index == 0 and _feeds_lowered(p.node, lowered, depth + 1) for p in node.outputs[0].consumers)


def _divide_and_round(fq: Node, scope: NameScope, lowered: Mapping[str, LayerPlan]) -> None:
    """Feed ``fq`` its input rounded as QuantizeLinear rounds it, ``round(x / scale) · scale``: a
    point of its grid, which ``fq`` maps to the same code; and give the consumers that are not
    lowered layers (nor feed one) DequantizeLinear's value of that code, ``(q - zero_point) · scale`` in f32
    (the FakeQuantize formula can be an ULP away). ``fq`` stays, so the layers it quantizes are
    still lowered."""
    quantize_scale, dequantize_scale = _qdq_scales(fq)
    floats = [p for p in fq.outputs[0].consumers if not _feeds_lowered(p.node, lowered)]
    fq.inputs[0].connect(_snapped(fq.inputs[0].source, quantize_scale, f"{fq.name}/quantize_linear", scope))
    if floats:
        value = _snapped(fq.outputs[0], dequantize_scale, f"{fq.name}/dequantize_linear", scope)
        for port in floats:
            port.connect(value)


def _find_float_transposed(model: Model, lowered: Mapping[str, LayerPlan]) -> list[Node]:
    """The lowered 2-D ConvolutionBackpropData layers whose windows do not overlap (a square
    kernel equal to the strides, no padding): ONNX Runtime runs them as float ConvTranspose, one
    product per input channel and output value, which the rewrite reproduces."""
    found = []
    for node in model.nodes():
        if node.type != "ConvolutionBackpropData" or node.name not in lowered or len(node.inputs) != 2:
            continue
        shape, attrs = node.inputs[1].source.shape, node.attrs
        if shape is None or len(shape) != 4 or any(not isinstance(d, int) for d in shape) or shape[2] != shape[3]:
            continue
        if (list(attrs["strides"]) == list(shape[2:]) and not any(attrs.get("pads_begin", ()))
                and not any(attrs.get("pads_end", ())) and not any(attrs.get("output_padding", ()) or ())
                and all(d == 1 for d in attrs.get("dilations", (1, 1)))
                and str(attrs.get("auto_pad", "explicit")).lower() in ("explicit", "notset", "valid")):
            found.append(node)
    return found


class _FusedMultiplyAdds:
    """Builds a sum of exact f64 products as sequential f32 fused multiply-adds (the running
    sum widened to f64, the product added, the result rounded to f32 at each step)."""

    def __init__(self, node: Node, scope: NameScope):
        self.x, self.scope, self.base = node.inputs[0].source, scope, f"{node.name}/onnx"
        self.sum: Output | None = None

    def const(self, value, what: str) -> Output:
        return make_constant(np.ascontiguousarray(value), name=self.scope.make(f"{self.base}/{what}")).outputs[0]

    def channel(self, c: int) -> Output:
        """Input channel ``c`` of the layer's data, in f64."""
        bounds = [self.const(np.asarray([v], np.int64), f"x{c}/{k}")
                  for k, v in (("start", c), ("stop", c + 1), ("step", 1), ("axis", 1))]
        column = build("Slice", [self.x, *bounds], name=self.scope.make(f"{self.base}/x{c}")).outputs[0]
        return build("Convert", [column], {"destination_type": "f64"}, name=self.scope.make(f"{self.base}/x{c}/f64")).outputs[0]

    def add(self, product: Output) -> None:
        if self.sum is not None:
            wide = build("Convert", [self.sum], {"destination_type": "f64"}, name=self.scope.make(f"{self.base}/sum/f64")).outputs[0]
            product = build("Add", [wide, product], name=self.scope.make(f"{self.base}/fma")).outputs[0]
        self.sum = build("Convert", [product], {"destination_type": self.x.etype.name},
                         name=self.scope.make(f"{self.base}/sum")).outputs[0]


def _dequantized_weights(node: Node, lowered: Mapping[str, LayerPlan]) -> np.ndarray:
    """DequantizeLinear's f32 weights of lowered layer ``node``: ``(q - zero_point) · scale``."""
    w = lowered[node.name].quantization[1]
    return (w.values - w.zero_point).astype(np.float32) * w.scale.astype(np.float32)


def _fused_multiply_add_over_channels(node: Node, scope: NameScope, lowered: Mapping[str, LayerPlan]) -> None:
    """Replace ``node`` by its float computation as ONNX Runtime's ConvTranspose does it (a GEMM
    whose columns the windows then take, bias after): the dequantized f32 inputs and weights,
    each output value a sequential f32 fused multiply-add over the input channels, laid out by
    DepthToSpace. Exact up to 128 input channels (longer sums ONNX Runtime's GEMM splits into
    blocks)."""
    weights = _dequantized_weights(node, lowered)  # [C_in, C_out, K, K]
    channels_in, channels_out, kernel = weights.shape[0], weights.shape[1], weights.shape[2]
    sums = _FusedMultiplyAdds(node, scope)
    for c in range(channels_in):
        filters = weights[c].astype(np.float64).reshape(1, channels_out * kernel * kernel, 1, 1)
        sums.add(build("Multiply", [sums.channel(c), sums.const(filters, f"w{c}")],
                       name=scope.make(f"{sums.base}/product{c}")).outputs[0])
    y = build("DepthToSpace", [sums.sum], {"block_size": int(kernel), "mode": "depth_first"},
              name=scope.make(f"{sums.base}/windows")).outputs[0]
    node.outputs[0].replace_uses(y, keep_names=True)


def _fused_by_onnx_runtime(layer: Node, lowered: Mapping[str, LayerPlan]) -> bool:
    """Whether ONNX Runtime fuses the export of lowered Convolution ``layer`` into a QLinearConv:
    a per-tensor input straight from a FakeQuantize it alone reads, no bias or an int32 one, and
    after it (its bias, a Relu the quantization absorbs) nothing but one per-tensor FakeQuantize,
    read once (measured on ONNX Runtime 1.32's optimised graphs of PP-OCR's models: a
    QuantizeLinear or DequantizeLinear shared with another node keeps the Conv in float)."""
    from lpir.runtime.lowering import _constant_output
    x = lowered[layer.name].quantization[0]
    source = layer.inputs[0].source
    if x.scale.size != 1 or source.node.type != "FakeQuantize" or len(source.consumers) != 1:
        return False
    out = layer.outputs[0]
    after = _single_consumer(out)
    if after is not None and after.type == "Add" and _bias_after(layer) is not None:
        if _int32_bias(layer, lowered) is None:
            return False
        out, after = after.outputs[0], _single_consumer(after.outputs[0])
    relu = after is not None and after.type == "Relu"
    if relu:
        out, after = after.outputs[0], _single_consumer(after.outputs[0])
    if after is None or after.type != "FakeQuantize" or len(after.outputs[0].consumers) != 1:
        return False  # (measured: a QuantizeLinear read by two DequantizeLinear is not fused)
    limits = [_constant_output(p.source) for p in after.inputs[1:]]
    if any(v is None or v.size != 1 for v in limits):
        return False
    return not relu or float(limits[0]) == 0.0


def _find_float_convolutions(model: Model, lowered: Mapping[str, LayerPlan]) -> list[Node]:
    """The lowered dense Convolution layers ONNX Runtime leaves in float."""
    return [node for node in model.nodes() if node.type == "Convolution" and node.name in lowered
            and node.inputs[1].source.shape is not None and tuple(node.inputs[1].source.shape[:2]) != (1, 1)
            and not _fused_by_onnx_runtime(node, lowered)]  # one channel in and out: a depthwise kernel


_GEMM_BLOCKS = ((16, 1024), (32, 512), (64, 256))  # (at most this many output columns, K block); else 128


def _gemm_block(columns: Output, scope: NameScope, base: str) -> Output:
    """The K block of MLAS's SGEMM for a GEMM of ``columns`` output columns (a scalar): 128, but
    it trades halvings of its N block (from 128, down to 16) that still cover the columns for
    doublings of its K block (``MlasSgemmOperation``, ``MlasConvOperation``)."""
    def const(value, what):
        return make_constant(np.asarray(value, np.int64), name=scope.make(f"{base}/{what}")).outputs[0]

    block = const(128, "block")
    for most, size in reversed(_GEMM_BLOCKS):
        fits = build("LessEqual", [columns, const(most, f"columns{most}")], name=scope.make(f"{base}/fits{most}")).outputs[0]
        block = build("Select", [fits, const(size, f"block{size}"), block], {"auto_broadcast": "numpy"}, name=scope.make(f"{base}/block")).outputs[0]
    return block


def _blocked_sum(node: Node, scope: NameScope, products: list[Output], block: int | None) -> Output:
    """The products summed as MLAS's SGEMM kernel sums them with K blocks of ``block`` (None: one
    block): each block a sequential f32 fused multiply-add from zero, the blocks' sums added in order."""
    total = None
    for start in range(0, len(products), block or len(products)):
        sums = _FusedMultiplyAdds(node, scope)
        for product in products[start:start + (block or len(products))]:
            sums.add(product)
        total = sums.sum if total is None else build("Add", [total, sums.sum], name=scope.make(f"{sums.base}/blocks")).outputs[0]
    return total


def _sequential_convolution(node: Node, scope: NameScope, lowered: Mapping[str, LayerPlan]) -> None:
    """Replace Convolution ``node`` by its float computation as ONNX Runtime's CPU kernel does it
    (one thread): the dequantized f32 inputs and weights, a GEMM over the input channels and the
    window (channel outermost), one product per step (a one-tap convolution in f64, exact), then
    the bias. MLAS's SGEMM sums each output value in K blocks of 128 to 1024 products, by the
    number of output columns (output pixels of an image; :func:`_gemm_block`, chosen at run time),
    each block a sequential f32 fused multiply-add, the blocks' sums added."""
    weights = _dequantized_weights(node, lowered)  # [O, C, KH, KW]
    channels, height, width = weights.shape[1:]
    pointwise = height * width == 1 and all(v == 1 for v in node.attrs["strides"]) and not any(
        node.attrs.get("pads_begin", ())) and not any(node.attrs.get("pads_end", ()))
    sums = _FusedMultiplyAdds(node, scope)
    products = []
    for c in range(channels):
        column = sums.channel(c)
        for i in range(height):
            for j in range(width):
                tap = np.zeros((weights.shape[0], 1, height, width), np.float64)
                tap[:, 0, i, j] = weights[:, c, i, j]
                if pointwise:
                    product = build("Multiply", [column, sums.const(tap.reshape(1, -1, 1, 1), f"w{c}")],
                                    name=scope.make(f"{sums.base}/product{c}"))
                else:
                    product = build("Convolution", [column, sums.const(tap, f"w{c}_{i}_{j}")], dict(node.attrs),
                                    name=scope.make(f"{sums.base}/product{c}_{i}_{j}"))
                products.append(product.outputs[0])
    result = _blocked_sum(node, scope, products, None)
    blocks = [size for size in (128, *(b for _, b in _GEMM_BLOCKS)) if size < len(products)]
    if blocks:
        shape = build("ShapeOf", [products[0]], {"output_type": types.i64}, name=scope.make(f"{sums.base}/shape")).outputs[0]
        spatial = build("Gather", [shape, sums.const(np.asarray([2, 3], np.int64), "spatial"),
                                   sums.const(np.asarray(0, np.int64), "axis")], {"batch_dims": 0},
                        name=scope.make(f"{sums.base}/spatial")).outputs[0]
        columns = build("ReduceProd", [spatial, sums.const(np.asarray([0], np.int64), "axes")], {"keep_dims": False},
                        name=scope.make(f"{sums.base}/columns")).outputs[0]
        block = _gemm_block(columns, scope, sums.base)
        for size in blocks:
            chosen = build("Equal", [block, sums.const(np.asarray(size, np.int64), f"is{size}")],
                           name=scope.make(f"{sums.base}/is{size}")).outputs[0]
            result = build("Select", [chosen, _blocked_sum(node, scope, products, size), result], {"auto_broadcast": "numpy"},
                           name=scope.make(f"{sums.base}/blocked{size}")).outputs[0]
    node.outputs[0].replace_uses(result, keep_names=True)


def _find_float_depthwise(model: Model, lowered: Mapping[str, LayerPlan]) -> list[Node]:
    """The lowered GroupConvolution layers of one output channel per group (depthwise ones) that
    ONNX Runtime leaves in float, whose windows have at most 128 taps."""
    found = []
    for node in model.nodes():
        shape = node.inputs[1].source.shape if node.type == "GroupConvolution" else None
        if (node.name in lowered and shape is not None and len(shape) == 5 and tuple(shape[1:3]) == (1, 1)
                and all(isinstance(d, int) for d in shape) and shape[3] * shape[4] <= 128
                and not _fused_by_onnx_runtime(node, lowered)):
            found.append(node)
    return found


def _one_row_gemm(node: Node, scope: NameScope, lowered: Mapping[str, LayerPlan]) -> None:
    """Replace depthwise GroupConvolution ``node`` by its float computation as ONNX Runtime's CPU
    kernel does it on x86: each group a GEMM of one filter row (MLAS's one-row SGEMM kernel, no
    fused multiply-add) over the window's taps in row-major order: every product rounded to f32,
    the taps taken four at a time, each four summed in order, ``((p0 + p1) + p2) + p3``, and that
    sum added to the running total; a remainder of two, then one, likewise. The bias after."""
    weights = _dequantized_weights(node, lowered)  # [G, 1, 1, KH, KW]
    height, width = weights.shape[3:]
    dtype = node.inputs[0].source.etype.name
    sums = _FusedMultiplyAdds(node, scope)
    taps = [(i, j) for i in range(height) for j in range(width)]

    def product(i: int, j: int) -> Output:
        tap = np.zeros(weights.shape, np.float64)
        tap[..., i, j] = weights[..., i, j]
        wide = build("Convert", [sums.x], {"destination_type": "f64"}, name=scope.make(f"{sums.base}/x/f64")).outputs[0]
        exact = build("GroupConvolution", [wide, sums.const(tap, f"w{i}_{j}")], dict(node.attrs),
                      name=scope.make(f"{sums.base}/product{i}_{j}")).outputs[0]
        return build("Convert", [exact], {"destination_type": dtype}, name=scope.make(f"{sums.base}/rounded{i}_{j}")).outputs[0]

    total, start = None, 0
    while start < len(taps):
        step = next(n for n in (4, 2, 1) if len(taps) - start >= n)
        block = product(*taps[start])
        for tap in taps[start + 1:start + step]:
            block = build("Add", [block, product(*tap)], name=scope.make(f"{sums.base}/block")).outputs[0]
        total = block if total is None else build("Add", [block, total], name=scope.make(f"{sums.base}/sum")).outputs[0]
        start += step
    node.outputs[0].replace_uses(total, keep_names=True)


INT32_BIAS = Departure(
    "int32 bias",
    "bias of a quantized layer rounded to its accumulator's grid (input scale x weight scale), as exported to QDQ",
    _find_int32_bias, None, _round_bias)  # before the layers are lowered

HARD_ACTIVATIONS = Departure(
    "hard activations",
    "HSwish / HSigmoid as ONNX's HardSwish / HardSigmoid: x * clip(x * (1/6) + 1/2, 0, 1) in f32",
    _find_hard_activations, None, _as_hard_sigmoid)  # before the layers are lowered

QUANTIZE_LINEAR = Departure(
    "QuantizeLinear",
    "activation FakeQuantize rounding round(x / scale) in f32, as ONNX's QuantizeLinear",
    _find_quantize_linear, None, _divide_and_round)  # before the layers are lowered

FLOAT_TRANSPOSED = Departure(
    "float ConvTranspose",
    "ConvTranspose in float as ONNX Runtime: f32 fused multiply-add over the input channels, in order",
    _find_float_transposed, None, _fused_multiply_add_over_channels)  # before the layers are lowered

FLOAT_CONVOLUTION = Departure(
    "float Conv",
    "Conv left in float by ONNX Runtime: f32 fused multiply-add over input channels and window, in order, in MLAS's K blocks",
    _find_float_convolutions, None, _sequential_convolution)  # before the layers are lowered

FLOAT_DEPTHWISE = Departure(
    "float depthwise Conv",
    "depthwise Conv left in float by ONNX Runtime: f32 products over the window, summed four at a time, as MLAS's one-row GEMM",
    _find_float_depthwise, None, _one_row_gemm)  # before the layers are lowered

DEPARTURES: dict[str, tuple[Departure, ...]] = {
    "reference": (),
    "openvino-cpu": (UNROUNDED_RESIDUAL, FUSED_POST_OPS, SUM_OPERAND, QUANTIZATION_KERNELS),
    "onnxruntime": (INT32_BIAS, FLOAT_CONVOLUTION, FLOAT_DEPTHWISE, HARD_ACTIVATIONS, FLOAT_TRANSPOSED, QUANTIZE_LINEAR),
}


def find_departures(model: Model, arithmetic: str, lowered: Mapping[str, LayerPlan]) -> list[tuple[Node, Departure]]:
    """The nodes of ``model`` that ``arithmetic`` computes differently, with their rule."""
    if arithmetic not in DEPARTURES:
        raise ValueError(f"arithmetic must be one of {ARITHMETICS}, got {arithmetic!r}")
    return [(node, rule) for rule in DEPARTURES[arithmetic] for node in rule.find(model, lowered)]
