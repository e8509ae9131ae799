"""OpenVINO's CPU plugin as rules: where it computes an INT8 model differently from the reference.

OpenVINO's CPU plugin fuses the low-precision graph into oneDNN primitives, after its
low-precision transformations (LPT) have split each activation FakeQuantize into a FakeQuantize
onto integer codes and a dequantization ``(q - shift) · scale`` that they move through the graph
(:func:`lpt_codes`: u8 codes, or i8 where a consumer takes i8 only or where the limits are
signed and symmetric and no consumer takes u8 only; a zero point where the limits are not those
of the type). Two of its fusions change what the model computes rather than only its f32
roundings; the other rules are those f32 steps, which decide values within an f32 ULP of a
rounding boundary:

* ``unrounded residual``: a Convolution (with its bias) whose first fused operation is a
  FakeQuantize, followed by a residual Add fused into the convolution as a ``sum`` post-op and
  by the FakeQuantize of that Add. The plugin drops the rounding of the first FakeQuantize
  (``Convolution::setPostOps``: ``do_rounding = false`` when the FakeQuantize is the first fused
  node and a sum and a FakeQuantize follow it). Which input of the Add takes the fused
  convolution follows the plugin's graph optimizer (``FuseConvolutionSumAndConvolutionSumActivation``):
  input 0 when its convolution has no other consumer, else input 1. Where the Add's other input
  (the skip) is a FakeQuantize that something else reads too, the sum is on integer codes:
  ``AddTransformation`` keeps the skip's codes ``q2`` as they are and turns ``(q1 - s1) · c1 +
  (q2 - s2) · c2`` into ``((q1 - s1') · c1' + q2) · c2`` (``c1' = c1 / c2``, ``s1' = s1 + s2 ·
  c2 / c1``, in f32); ``(· - s1') · c1'`` is folded into the first FakeQuantize's output limits
  (``FuseSubtractToFakeQuantize``, ``FuseMultiplyToFakeQuantize``), ``· c2`` into the input
  limits of the Add's FakeQuantize. The convolution then computes the first FakeQuantize without
  rounding (``updateOptimizedFormula`` merges its output scale and shift into the input ones,
  ``clip(x · isc' + ish', clo', chi')``), adds the skip's codes (``append_sum``, scale 1) and
  quantizes the sum by the post-op formula below (otherwise the first FakeQuantize is clamped to
  ``[il, ih]`` and mapped linearly onto ``[ol, oh]``, and the Add's FakeQuantize is the reference).

* ``fused post-ops``: a FakeQuantize after a lowered Convolution, GroupConvolution or MatMul and
  its bias (Add of a constant), through activations (ReLU, Clamp, HSwish) and constant
  scale-shifts, and the FakeQuantize after a fused residual sum on codes. The plugin runs the
  chain inside the layer's oneDNN int8 primitive, in f32 steps that integer mode (exact
  dequantization in f64, the reference FakeQuantize) rounds otherwise, and a few values within
  an f32 ULP of a rounding boundary land on the other side:

  - dequantization (of every lowered layer, :func:`lpir.runtime.lowering.lower`): the int32
    accumulator converted to f32 times the f32 product of the two f32 scales (oneDNN weight
    scales; ``DnnlPostOpsComposer``), then the bias added in f32;
  - HSwish as oneDNN's eltwise injector computes it: ``x · clip(x · (1/6) + 1/2, 0, 1)``;
  - constant Multiply/Add steps before the FakeQuantize folded into its input limits by the
    low-precision transformations (``AddTransformation`` first turns ``y · s + b`` into
    ``(y + b / s) · s``; ``FakeQuantizeTransformation`` then folds ``· s`` and ``+ b / s``);
  - the FakeQuantize onto its integer codes as the plugin's post-op formula ``clip(round(x · isc
    + ish), clo, chi) · osc + osh`` (``FakeQuantize`` node scales and shifts in f32;
    ``updateOptimizedFormula``, which replaces per-channel input shifts that differ by less than
    5e-5 by the first channel's: with ranges sharing one zero point they differ by an ULP or so,
    and adds an integer output shift to the input shift); ``appendLinear`` makes one scale and
    one shift an eltwise ``linear`` (a fused multiply-add), per-channel ones a binary multiply
    then a binary add.

* ``signed post-ops``: the same for a FakeQuantize whose codes are i8: its output limits are
  -128 and 127, so its input shift loses 128 and ``x · isc + ish - 128`` is rounded near 0,
  not near 128 (with a finer f32 grid: the classifier's squeeze-and-excitation HSwish, which a
  pooling and a Multiply read, and MiniLM's query and key projections).

* ``quantization kernels``: every other activation FakeQuantize (but the one after a fused
  residual Add) as the plugin's own quantization kernel computes it, in its FakeQuantize node or
  fused into an Eltwise or Reduce node: ``x`` cropped to ``[il, ih]``, ``x · isc + ish`` as a
  fused multiply-add with the node's f32 scale and shift as they are, rounded, then ``· osc +
  osh`` as a fused multiply-add. It decides rounding ties: PP-OCRv4 det's ``Add.264`` adds two
  tensors quantized on one range into a FakeQuantize of twice that range.

* ``pooled codes``: a FakeQuantize after a ReduceMean of a FakeQuantize whose codes have no zero
  point: ``ReduceBaseTransformation`` moves the dequantization after the mean and
  ``FakeQuantizeTransformation::fuseElementwise`` folds its scale into the FakeQuantize's input
  limits, so the plugin's Reduce node averages the integer codes in f32 and its quantization
  kernel quantizes that mean (the classifier's global average poolings). With a zero point the
  Reduce node rounds some means otherwise (not reproduced: a few in a hundred codes on a built
  block).

* ``snippets quantization``: a FakeQuantize on a model input of static shape. The plugin's
  snippets tokenizer takes static element-wise nodes into a ``Subgraph`` (its callback leaves
  dynamic ones to the plugin's own nodes), whose ``FakeQuantizeDecomposition`` (snippets) writes
  the FakeQuantize as ops with f32 constants: ``x`` cropped to ``[il, ih]``, times ``isc = (L -
  1) / (ih - il)``, minus ``il · isc``, each rounded to f32 (no fused multiply-add: measured 67
  and 71 of 1152 codes apart from the kernel's on inputs a few ULPs from the rounding
  boundaries), rounded half to even, then ``· osc + ol`` as one fused multiply-add (measured
  where ``[ol, oh] = [il, ih]``; other output ranges give the same codes, but values an ULP apart
  that this does not follow).

* ``codes normalization``: an MVN (normalizing mean and variance over the last axis of a rank-2
  or rank-3 tensor) reading a FakeQuantize whose dequantization is a scale alone, per tensor
  (zero point 0). ``MVNTransformation`` moves that scale past the MVN (its sign only stays), so
  the plugin normalizes the integer codes ``q``, with the model's eps, relatively ``1 / scale²``
  larger there. Its planar kernel (``MVN::MVNJitExecutor::mvn_pln``, ``jit_uni_mvn_*``) computes
  in f32: the exact integer sum of a row of ``n`` codes times ``f32(1 / n)``; ``d = q - mean``;
  the squares of ``d`` summed by fused multiply-adds in 16 lanes (AVX-512: whole vectors in order,
  then tail blocks of 8, 4, 2 and 1 values into the first lanes), the lanes added pairwise
  (quarters (0 + 1) + (2 + 3), then lanes likewise), times ``1 / n``; plus eps, the square root,
  its reciprocal (``1 / (sqrt(·) + eps)`` with eps outside); ``d`` times that. Bit for bit
  OpenVINO's on PP-OCRv4 rec's five LayerNorms; the Multiply and Add of their affine step and
  the FakeQuantize after them then give OpenVINO's codes with the kernel rule above. The AVX2
  kernel sums in 8 lanes, which rows of up to 8 values do not tell apart.

* ``sum operand``: the other input of a fused residual Add, when it is a FakeQuantize ending its
  own convolution's post-ops (the plugin runs it there and writes its codes, which the sum
  post-op then reads): its codes are the post-op formula's, and any layer left in float reads
  the reference value of those codes (measured closer than the formula's f32 value).

Each rule rewrites, with its FakeQuantize, the FakeQuantizes integer mode puts before the layers
it quantizes (same input, same input limits), so that those layers read the rule's codes.

Measured (OpenVINO 2026.4, AVX-512 VNNI int8 kernels, 8-bit weights but 7-bit in the first
layers, teacher forcing on OpenVINO's own tensors from cut models that keep each FakeQuantize's
i8 codes and each segment's consumers, benchmarks/measure_openvino_departures.py): codes
differing from OpenVINO's, the reference → these rules, PP-OCR cls (lpir.quantize) 34934 → 0,
PP-OCR cls (NNCF) 34853 → 0, PP-OCRv4 rec 43 → 0, det 554 → 0, EfficientNet-Lite0 32139 → 0,
MiniLM 9 → 3 (one after layer 0's attention, whose f32 steps are the plugin's snippets
attention kernel's: benchmarks/measure_openvino_attention.py computes its outputs bit for bit,
no rule does yet; one each after layer 1's intermediate and output layers, not analysed; 65 →
58 before the cuts read the i8 codes of rank-3 FakeQuantizes). End to
end, against OpenVINO's whole model (max |difference| / range): both classifiers 6e-8 (the
reference 2.8e-2 and 3.1e-2), EfficientNet-Lite0 0 (the reference 2.0e-2), det 1.2e-7 (0.87),
rec 7.2e-7 (0.19; 1.0e-1 before the codes normalization rule: two codes after LayerNorms,
cascading through attention and softmax), MiniLM 3.2e-3 (4.7e-3; lpir's own run first departs
at that attention code). Not reproduced: CPUs with AMX or AVX2-VNNI-2 (their convolutions take
i8 data too, which changes the codes' types).

``arithmetic="openvino-cpu-avx2"`` (:data:`AVX2_DEPARTURES`) is the plugin on a CPU without
AVX-512, whose int8 convolutions (``jit_avx2_I8``, ``jit_avx2_1x1_I8``) take its legacy post-op
path (``Convolution::setPostOps`` with ``useLegacyPostOps``); the rules are those above but one:

* ``legacy post-ops``: the plugin first tries to map a post-op FakeQuantize by its post-op formula
  without binary post-ops (``FakeQuantize::appendAttrPostOps``, binary ones not allowed). That
  fails where the formula keeps an input shift per channel, or a clip limit, output scale or shift
  per channel (but for 256 levels written as u8 or i8 codes whose clip the type's saturation
  covers), or an input scale per channel that the weight scales cannot take (a bias or an
  activation other than ReLU before it: ``DnnlPostOpsComposerLegacy::appendScale``). The
  FakeQuantize is then a legacy ``quantization`` post-op on the node's own f32 parameters, per
  channel as they are (no first-channel input shift): ``x`` cropped to ``[il, ih]``, ``x · isc +
  ish`` as a fused multiply-add, rounded half to even, ``· osc + osh`` as a fused multiply-add,
  which is the quantization kernel rule's arithmetic. The other post-op FakeQuantizes keep the
  post-op formula, and the dequantization is the same.

Measured (ONEDNN_MAX_CPU_ISA=AVX2 in a fresh process, 7-bit weights on every layer, so that the
int16 pair sums of AVX2's ``vpmaddubsw`` do not saturate): a built convolution with bias, HSwish
and a per-channel FakeQuantize, codes differing from OpenVINO's 476 and 1609 of 65536 → 0 (the
``openvino-cpu`` rules and the reference alike 476 and 1609); PP-OCR cls (lpir.quantize), teacher
forcing at its 41 post-op FakeQuantizes (11 of them legacy post-ops): ``openvino-cpu`` 14,
``openvino-cpu-avx2`` 1 (a squeeze-and-excitation HSwish's codes, which the cut model the rules
see makes u8, where ``x · isc + 128`` is the f32 tie 128.5, and OpenVINO writes as i8, ``x · isc
= 0.5000019``), the reference 23158 of 2.4 million; end to end (max |difference| / range) PP-OCR
cls (lpir.quantize) 1.6e-2 → 6.0e-8, PP-OCR cls (NNCF) 1.3e-2 → 6.3e-8 (the reference 5.2e-2 and
2.8e-2); on six images (benchmarks/measure_openvino_isas.py) 3.0e-8 and 6.0e-8. Not measured: rec (OpenVINO crashes under the cap), det and EfficientNet-Lite0. Not reproduced:
the AVX2 MVN kernel's 8 lanes (:data:`CODES_NORMALIZATION` sums in 16), and an unrounded or sum
operand FakeQuantize that needs binary post-ops (the legacy path then appends it as a rounding
quantization post-op; the classifier's are all per tensor).
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lpir.analysis.patterns import quantization_of
from lpir.ir import qparams, types
from lpir.ir.graph import Model, Node, Output, make_constant
from lpir.ir.rewrite import NameScope
from lpir.ops import build
from lpir.runtime.arithmetic.rules import Departure, hard_sigmoid_steps, single_consumer
from lpir.runtime.constants import constant_or_none, fold_constant, is_constant

if TYPE_CHECKING:
    from lpir.runtime.lowering import LayerPlan

_FUSED_INTO_SUM = ("Convolution", "GroupConvolution")  # the CPU plugin's Convolution node, which takes a sum post-op


def _convolution_before(fq: Node, lowered: set[str]) -> Node | None:
    """The lowered convolution whose output (through a constant bias Add at most) ``fq`` reads
    and nothing else reads, else None: then the FakeQuantize is the convolution's first fused node."""
    node = fq.inputs[0].source.node
    if node.type == "Add" and sum(not is_constant(p.source) for p in node.inputs) == 1:
        if single_consumer(node.outputs[0]) is not fq:
            return None
        node = next(p.source.node for p in node.inputs if not is_constant(p.source))
    if node.type not in _FUSED_INTO_SUM or node.name not in lowered or single_consumer(node.outputs[0]) is None:
        return None
    return node


def _fused_sum_branch(add: Node, lowered: set[str]) -> Node | None:
    """The FakeQuantize (input of ``add``) whose convolution the plugin fuses ``add`` into, if any."""
    if len(add.inputs) != 2 or any(is_constant(p.source) for p in add.inputs):
        return None
    shapes = [p.source.shape for p in add.inputs]
    if shapes[0] is None or shapes[0] != shapes[1]:
        return None
    nxt = single_consumer(add.outputs[0])
    if nxt is None or nxt.type != "FakeQuantize":
        return None
    for port in (0, 1):
        fq = add.inputs[port].source.node
        if fq.type != "FakeQuantize" or single_consumer(fq.outputs[0]) is not add:
            continue
        conv = _convolution_before(fq, lowered)
        peer = add.inputs[1 - port].source.node
        if conv is not None and all(p.source.node is not peer for p in conv.inputs):
            return fq
    return None


# ---------------------------------------------------------------- LPT's integer codes

# Ops through which LPT propagates an activation's precision (MarkupPrecisions::isPrecisionPreserved),
# ops it transforms at all (MarkupPrecisions::isSupported; any other consumer keeps a FakeQuantize
# whole), and layers whose data input takes u8 only on CPUs without AMX or AVX2-VNNI-2 (the CPU
# plugin's PrecisionsRestriction list).
_PRECISION_PRESERVED = ("BatchToSpace", "Broadcast", "Concat", "DepthToSpace", "Gather", "MaxPool", "Pad",
                        "ReduceMax", "ReduceMin", "Relu", "Reshape", "ShuffleChannels", "Slice", "SpaceToBatch",
                        "Split", "Squeeze", "StridedSlice", "Transpose", "Unsqueeze", "VariadicSplit")
_LPT_SUPPORTED = _PRECISION_PRESERVED + (
    "Add", "AvgPool", "Clamp", "Convert", "Convolution", "ConvolutionBackpropData", "FakeQuantize", "GroupConvolution",
    "GRUSequence", "Interpolate", "LSTMSequence", "MatMul", "Multiply", "MVN", "NormalizeL2", "PRelu", "ReduceMean",
    "ReduceSum", "Subtract")
_UNSIGNED_DATA = ("Convolution", "GroupConvolution")
_SIGNED_WEIGHTS = ("Convolution", "ConvolutionBackpropData", "GroupConvolution", "MatMul")  # input 1: i8 only


@dataclass(frozen=True)
class IntegerCodes:
    """An activation FakeQuantize as OpenVINO's low-precision transformations decompose it: a
    FakeQuantize onto the integers ``[low, low + levels - 1]`` (u8, or i8 when ``low < 0``), then
    the dequantization ``(q - shift) · scale`` (f32; no shift without a zero point)."""

    low: int
    scale: np.ndarray
    shift: np.ndarray | None


def _lpt_consumers(out: Output, depth: int = 0) -> list[tuple[str, int]]:
    """The (op type, input index) pairs reading ``out`` as the low-precision transformations see
    them, looking through precision-preserving ops. The plugin decomposes a ScaledDotProductAttention
    before them: its query is the data of a MatMul, its key and value the second input of one."""
    found = []
    for port in out.consumers:
        if port.node.type in _PRECISION_PRESERVED and depth < 64:
            for nxt in port.node.outputs:
                found += _lpt_consumers(nxt, depth + 1)
        elif port.node.type == "ScaledDotProductAttention" and port.index < 3:
            found.append(("MatMul", min(port.index, 1)))
        else:
            found.append((port.node.type, port.index))
    return found


def _preferred_type(levels: int, ol: np.ndarray, oh: np.ndarray) -> str | None:
    """The integer type LPT prefers for output limits ``ol``, ``oh`` (``getPrecisionDetails``): i8
    when every channel's range is signed with ``ol / oh`` within 0.2 % of ``-levels / (levels - 2)``
    (-1 for 255 levels), u8 when every range starts at 0, else None (a zero point is needed)."""
    f32 = np.float32
    ratio = f32(-f32(levels) / (f32(levels) - f32(2))) if levels in (16, 256) else f32(-1)
    signed = unsigned = True
    zero_point = normal = False
    for low, high in zip(*(a.reshape(-1) for a in np.broadcast_arrays(f32(ol), f32(oh)))):
        if abs(low) < f32(1e-6) and abs(high) < f32(1e-6):
            continue
        normal = True
        if np.signbit(low) != np.signbit(high) and abs(low) >= f32(1e-6):
            unsigned = False
            actual = f32(low / high) if high != 0 else None
            if actual is None or abs(f32((actual - ratio) / min(actual, ratio))) > f32(0.002):
                zero_point = True
        else:
            signed = False
            zero_point = zero_point or abs(low) >= f32(1e-6)
    if not normal:
        signed = bool(np.any(np.asarray(ol) < 0))
        unsigned = not signed
    if zero_point or signed == unsigned:
        return None
    return "i8" if signed else "u8"


def lpt_codes(fq: Node) -> IntegerCodes | None:
    """The integer codes the CPU plugin's low-precision transformations give activation FakeQuantize
    ``fq`` (``FakeQuantizeDecompositionTransformation``), or None when they leave it whole (a
    consumer they do not transform, e.g. a Result, or levels other than 255 and 256): i8 when a
    consumer takes i8 only (a MatMul's second input), or when its limits are signed and symmetric
    enough and no consumer takes u8 only (a convolution's data), else u8; with a zero point where
    the limits are not those of the type (``getPrecisionDetails``). Read from the graph before
    integer mode lowers it."""
    levels = int(fq.attrs["levels"])
    consumers = _lpt_consumers(fq.outputs[0])
    if levels not in (255, 256) or not consumers or any(op not in _LPT_SUPPORTED for op, _ in consumers):
        return None
    ol, oh = (np.asarray(fold_constant(p.source), np.float32) for p in fq.inputs[3:5])
    preferred = _preferred_type(levels, ol, oh)
    unsigned_only = any(op in _UNSIGNED_DATA and index == 0 for op, index in consumers)
    signed_only = any(op in _SIGNED_WEIGHTS and index == 1 for op, index in consumers)
    if unsigned_only and signed_only:
        return None  # no type left: the FakeQuantize stays whole
    signed = signed_only or (preferred == "i8" and not unsigned_only)
    zero_point = preferred != ("i8" if signed else "u8")
    low = -(levels // 2) if signed else 0
    lo, hi = np.float32(low), np.float32(low + levels - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = ((oh - ol) / (hi - lo)).astype(np.float32)
        shift = (((lo * oh).astype(np.float32) - (hi * ol).astype(np.float32)) / (oh - ol)).astype(np.float32)
    shift = shift + np.float32(0)  # -0 is 0
    return IntegerCodes(low, _one_if_equal(scale), _one_if_equal(shift) if zero_point and np.any(shift) else None)


def _codes_of(value: Output, fq: Node, low: int, scope: NameScope, stem: str) -> Output:
    """The integer codes (f32, from ``low`` up) of ``value``, an output value of FakeQuantize ``fq``
    (on its output grid): ``round((value - ol) / step) + low``, in f64."""
    ol, oh = (np.asarray(fold_constant(p.source), np.float64) for p in fq.inputs[3:5])
    step = (oh - ol) / (int(fq.attrs["levels"]) - 1)

    def const(v, what):
        return make_constant(np.ascontiguousarray(v, np.float64), name=scope.make(f"{stem}/{what}")).outputs[0]

    y = build("Convert", [value], {"destination_type": types.f64}, name=scope.make(f"{stem}/f64")).outputs[0]
    y = build("Subtract", [y, const(ol, "output_low")], name=scope.make(f"{stem}/shift")).outputs[0]
    y = build("Divide", [y, const(step, "step")], name=scope.make(f"{stem}/steps")).outputs[0]
    y = build("Round", [y], {"mode": "half_to_even"}, name=scope.make(f"{stem}/round")).outputs[0]
    if low:
        y = build("Add", [y, const(np.float64(low), "low")], name=scope.make(f"{stem}/low")).outputs[0]
    return build("Convert", [y], {"destination_type": value.etype}, name=scope.make(f"{stem}/codes")).outputs[0]


def _divided_limits(fq: Node, scale: np.ndarray, shift: np.ndarray | None, scope: NameScope) -> None:
    """Fold a dequantization ``(q - shift) · scale`` before ``fq`` into its input limits, as
    ``FakeQuantizeTransformation::fuseElementwise`` does (the Multiply first: limits divided by the
    scale, then the shift added), in f32."""
    for port, what in ((1, "input_low"), (2, "input_high")):
        value = (np.asarray(fold_constant(fq.inputs[port].source), np.float32) / scale).astype(np.float32)
        if shift is not None:
            value = (value + shift).astype(np.float32)
        fq.inputs[port].connect(make_constant(np.ascontiguousarray(value), name=scope.make(f"{fq.name}/folded_{what}")).outputs[0])


def _find_unrounded_residual(model: Model, lowered: set[str]) -> list[Node]:
    found = (_fused_sum_branch(node, lowered) for node in model.nodes() if node.type == "Add")
    return [fq for fq in found if fq is not None]


def _clamp_and_map(fq: Node, scope: NameScope) -> None:
    """Replace ``fq`` by its clamp to ``[il, ih]`` mapped linearly onto ``[ol, oh]``, unrounded."""
    x = fq.inputs[0].source
    il, ih, ol, oh = (np.asarray(fold_constant(p.source), x.etype.dtype) for p in fq.inputs[1:])

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


def _sum_of_codes(fq: Node) -> tuple[Node, Node] | None:
    """The residual Add after unrounded FakeQuantize ``fq`` and its other input, when the plugin
    computes the Add on integer codes: that input a FakeQuantize that the transformations
    decompose and that something else reads too (``AddTransformation`` then keeps its codes as
    they are and scales ``fq``'s branch onto them: ``EltwiseBaseTransformation::getNotEmpty``)."""
    add = fq.outputs[0].consumers[0].node
    peer = next(p.source.node for p in add.inputs if p.source.node is not fq)
    if peer.type != "FakeQuantize" or len(peer.outputs[0].consumers) < 2 or lpt_codes(peer) is None:
        return None
    if lpt_codes(fq) is None or lpt_codes(add.outputs[0].consumers[0].node) is None:
        return None
    return add, peer


def _residual_in_codes(fq: Node, scope: NameScope, lowered: Mapping[str, LayerPlan]) -> None:
    """Before lowering: compute unrounded FakeQuantize ``fq``, the residual Add after it and the
    FakeQuantize after that as the plugin's convolution does with its sum post-op, on the codes of
    the Add's other input (its skip branch; :func:`lpt_codes`). ``AddTransformation`` rewrites
    ``(q1 - s1) · c1 + (q2 - s2) · c2`` as ``((q1 - s1') · c1' + q2) · c2`` (``c1' = c1 / c2``,
    ``s1' = s1 + s2 · c2 / c1``, in f32); ``(· - s1') · c1'`` is folded into ``fq``'s output limits
    (``FuseSubtractToFakeQuantize``, ``FuseMultiplyToFakeQuantize``), ``· c2`` into the next
    FakeQuantize's input limits. The convolution then computes ``fq`` without rounding
    (:func:`post_op_formula`), adds the skip codes (oneDNN ``sum``, scale 1) and quantizes the sum
    with the next FakeQuantize's post-op formula (:data:`FUSED_POST_OPS`)."""
    found = _sum_of_codes(fq)
    if found is None:
        return  # the rewrite clamps and maps it instead
    add, peer = found
    after = add.outputs[0].consumers[0].node
    mine, theirs = lpt_codes(fq), lpt_codes(peer)
    f32 = np.float32
    s1 = mine.shift if mine.shift is not None else f32(0)
    s2 = theirs.shift if theirs.shift is not None else f32(0)
    scale = (mine.scale / theirs.scale).astype(f32)
    shift = (s1 + ((s2 * theirs.scale).astype(f32) / mine.scale).astype(f32)).astype(f32)
    levels = int(fq.attrs["levels"])
    low, high = (((f32(v) - shift).astype(f32) * scale).astype(f32) for v in (mine.low, mine.low + levels - 1))
    il, ih = (fold_constant(p.source) for p in fq.inputs[1:3])
    formula = post_op_formula(il, ih, low, high, levels, rounding=False)
    stem = f"{fq.name}/unrounded"
    x = fq.inputs[0].source
    y = _linear(x, formula.isc, formula.ish, scope, f"{stem}/input")
    y = _between(y, np.asarray(formula.clo, x.etype.dtype), np.asarray(formula.chi, x.etype.dtype), scope, stem, "clip")
    codes = _codes_of(peer.outputs[0], peer, theirs.low, scope, f"{peer.name}/codes")
    for port in add.inputs:
        port.connect(y if port.source.node is fq else codes)
    _divided_limits(after, theirs.scale, None, scope)


def _unrounded_left(fq: Node, scope: NameScope) -> None:
    """After lowering: the unrounded FakeQuantizes :func:`_residual_in_codes` left, clamped and mapped."""
    if fq.outputs[0].consumers:
        _clamp_and_map(fq, scope)


UNROUNDED_RESIDUAL = Departure(
    "unrounded residual",
    "FakeQuantize between a convolution and a residual Add fused as a sum: not rounded; the sum on the skip's codes",
    _find_unrounded_residual, _unrounded_left, _residual_in_codes)

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
        if single_consumer(node.outputs[0]) is None:
            return None
        variable = [p.source for p in node.inputs if not is_constant(p.source)]
        if len(variable) != 1:
            return None
        if not (node.type in _PASSED + _REWRITTEN or
                (node.type in ("Add", "Multiply") and len(node.inputs) == 2)):
            return None
        chain.append(node)
        node = variable[0].node
    if node.type not in _LAYERS or single_consumer(node.outputs[0]) is None:
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


def _signed(fq: Node) -> bool:
    codes = lpt_codes(fq)
    return codes is not None and codes.low < 0


def _find_sum_operands(model: Model, lowered: set[str]) -> list[Node]:
    operands = _sum_operands(_find_unrounded_residual(model, lowered))
    return [fq for fq in dict.fromkeys(operands) if _fused_chain(fq, lowered) is not None and not _signed(fq)]


def _find_all_post_ops(model: Model, lowered: set[str]) -> list[Node]:
    """The FakeQuantizes the plugin computes as post-ops of a layer: at the end of a fused chain
    (but the unrounded ones and the sum operands :data:`SUM_OPERAND` takes), and after a residual
    Add fused as a sum on the skip's codes."""
    unrounded = _find_unrounded_residual(model, lowered)
    skip = set(map(id, unrounded + _around_fused_sum(unrounded)))
    operands = set(map(id, _find_sum_operands(model, lowered)))
    after_sums = [fq.outputs[0].consumers[0].node.outputs[0].consumers[0].node
                  for fq in unrounded if _sum_of_codes(fq) is not None]
    return [node for node in model.nodes() if node.type == "FakeQuantize" and id(node) not in operands
            and ((id(node) not in skip and _fused_chain(node, lowered) is not None) or node in after_sums)]


def _find_fused_post_ops(model: Model, lowered: set[str]) -> list[Node]:
    return [fq for fq in _find_all_post_ops(model, lowered) if not _signed(fq)]


def _find_signed_post_ops(model: Model, lowered: set[str]) -> list[Node]:
    return [fq for fq in _find_all_post_ops(model, lowered) if _signed(fq)]


def _weight_scales_take_it(chain: list[Node]) -> bool:
    """Whether the plugin can fold a per-channel input scale of the FakeQuantize ending ``chain``
    (:func:`_fused_chain`) into the layer's oneDNN weight scales (``DnnlPostOpsComposerLegacy::
    appendScale``): only where the layer has no bias and no post-op comes before it but a ReLU."""
    if len(chain) > 1 and chain[1].type == "Add":
        return False
    activations = [node.type for node in chain[1:] if node.type in _PASSED + _REWRITTEN]
    return activations in ([], ["Relu"])


def _binary_free(fq: Node, lowered: set[str]) -> bool:
    """Whether the plugin hands post-op FakeQuantize ``fq`` to oneDNN without binary post-ops
    (``FakeQuantize::appendAttrPostOps`` with binary ones not allowed, the first thing its legacy
    post-op path tries): its post-op formula (:func:`post_op_formula`) then has one input shift,
    and one clip limit, output scale and shift each (or, for 256 levels written as u8 or i8 codes
    whose clip the type's saturation covers, none of those), and one input scale unless the
    weight scales take it. Otherwise the legacy path appends ``fq`` as a quantization post-op."""
    codes = lpt_codes(fq)
    folded = _folded_limits(fq)
    il, ih = (folded[1], folded[2]) if folded is not None else (fold_constant(p.source) for p in fq.inputs[1:3])
    levels = int(fq.attrs["levels"])
    if codes is not None:
        ol, oh = np.float32(codes.low), np.float32(codes.low + levels - 1)
    else:
        ol, oh = (fold_constant(p.source) for p in fq.inputs[3:5])
    f = post_op_formula(il, ih, ol, oh, levels)
    one = all(np.size(a) == 1 for a in (f.clo, f.chi, f.osc, f.osh))
    saturated = (codes is not None and levels == 256 and one and float(f.osc) == 1 and float(f.osh) == 0
                 and float(f.clo) <= codes.low and float(f.chi) >= codes.low + 255)
    chain = _fused_chain(fq, lowered)
    scale_taken = _one_if_equal(np.asarray(f.isc)).size == 1 or (chain is not None and _weight_scales_take_it(chain))
    return np.size(f.ish) == 1 and (one or saturated) and scale_taken


def _find_legacy_post_ops(model: Model, lowered: set[str]) -> list[Node]:
    return [fq for fq in _find_all_post_ops(model, lowered) if not _binary_free(fq, lowered)]


def _onednn_hswish(node: Node, scope: NameScope) -> None:
    """HSwish as oneDNN's eltwise injector computes it: ``x · clip(x · (1/6) + 1/2, 0, 1)``, each step in f32."""
    hard_sigmoid_steps(node, scope, "onednn")


def _variable_input(node: Node) -> Output:
    return next(p.source for p in node.inputs if not is_constant(p.source))


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


def post_op_formula(il, ih, ol, oh, levels: int, rounding: bool = True) -> PostOpFormula:
    """The FakeQuantize's post-op constants, computed in f32 as the CPU plugin does: its FakeQuantize
    node's crop limits and input/output scales and shifts, then ``updateOptimizedFormula``, where an
    input shift that varies across channels by less than 5e-5 is replaced by the first channel's.
    Without ``rounding`` the output scale and shift are merged into the input ones and the clip
    limits (``clip(x · isc · osc + ish · osc + osh, ...)``), and ``osc``, ``osh`` are 1 and 0."""
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
    if not rounding:
        clo, chi = ((clo * osc).astype(f32) + osh).astype(f32), ((chi * osc).astype(f32) + osh).astype(f32)
        clo, chi = np.minimum(clo, chi), np.maximum(clo, chi)
        isc, ish = (isc * osc).astype(f32), ((ish * osc).astype(f32) + osh).astype(f32)
        isc, ish = _one_if_equal(isc), _one_if_equal(ish)
        osc, osh = f32(1), f32(0)
    clo, chi = _one_if_equal(clo), _one_if_equal(chi)
    if rounding and osc.size == 1 and osc.reshape(-1)[0] == 1 and osh.size == 1 and osh.reshape(-1)[0] == np.trunc(osh.reshape(-1)[0]):
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
    limits = [np.squeeze(fold_constant(p.source)) for p in fq.inputs[1:3]]
    return [c.node for c in fq.inputs[0].source.consumers if c.node is not fq and c.node.type == "FakeQuantize"
            and all(np.array_equal(np.squeeze(fold_constant(c.node.inputs[i].source)), v)
                    for i, v in zip((1, 2), limits))]


def _signed_post_op_fake_quantize(fq: Node, scope: NameScope) -> None:
    """:func:`_post_op_fake_quantize` for a FakeQuantize the plugin writes as i8 codes."""
    _post_op_fake_quantize(fq, scope, low=-(int(fq.attrs["levels"]) // 2))


def _legacy_post_op(fq: Node, scope: NameScope) -> None:
    """Replace ``fq`` (and the activations of its fused chain) by the steps of oneDNN's legacy
    quantization post-op: the FakeQuantize node's own f32 crop limits, scales and shifts, computed
    as its quantization kernel does (:func:`_replace_by_kernel`)."""
    _post_op_fake_quantize(fq, scope, replacement=lambda node, scope, low: _replace_by_kernel(node, scope))


def _post_op_fake_quantize(fq: Node, scope: NameScope, low: int = 0, replacement=None) -> None:
    """Replace ``fq`` (and the activations of its fused chain) by the steps oneDNN computes, its
    codes starting from ``low`` (:func:`lpt_codes`): its post-op formula, or ``replacement``."""
    node = fq.inputs[0].source.node
    while (node.type in _PASSED + _REWRITTEN + ("Add", "Multiply")  # the chain found, back to the layer
           and sum(not is_constant(p.source) for p in node.inputs) == 1):  # (not through a fused sum)
        before = _variable_input(node).node
        if node.type in _REWRITTEN:
            _onednn_hswish(node, scope)
        node = before
    for node in [fq] + _same_input_limits(fq):  # integer mode's quantize FakeQuantizes of the same values: the same codes
        _fold_dequantization(node, scope)
        (replacement or _replace_by_formula)(node, scope, low)


def _fold_dequantization(fq: Node, scope: NameScope) -> None:
    """When ``fq`` reads a lowered layer's f32 dequantization directly (no bias between), fold the
    dequantization scale into its input limits, as ``FakeQuantizeTransformation::fuseElementwise``
    folds the Multiply the low-precision transformations put after the layer: ``fq`` then
    quantizes the f32 accumulator (and the plugin multiplies it by the input scale as oneDNN's
    weight scale)."""
    rounded = fq.inputs[0].source.node
    if rounded.type != "Convert" or rounded.inputs[0].source.node.type != "Multiply":
        return
    multiply = rounded.inputs[0].source.node
    accumulator = multiply.inputs[0].source
    if (accumulator.node.type != "Convert" or accumulator.etype != types.f32
            or accumulator.node.inputs[0].source.etype != types.i32 or not is_constant(multiply.inputs[1].source)):
        return
    scale = np.asarray(fold_constant(multiply.inputs[1].source), np.float32)
    if np.any(scale <= 0):
        return
    fq.inputs[0].connect(accumulator)
    for port, what in ((1, "input_low"), (2, "input_high")):
        value = (np.asarray(fold_constant(fq.inputs[port].source), np.float32) / scale).astype(np.float32)
        fq.inputs[port].connect(make_constant(value, name=scope.make(f"{fq.name}/folded_{what}")).outputs[0])


_FOLDED = {"Multiply": np.divide, "Divide": np.multiply, "Add": np.subtract, "Subtract": np.add}  # limit ∘ value


def _folded_limits(fq: Node) -> tuple[Output, np.ndarray, np.ndarray] | None:
    """The value ``fq`` reads once the constant Multiply/Divide/Add/Subtract steps before it are
    folded into its input limits, and those limits (f32), as OpenVINO's low-precision
    transformations fold them; None when there is no such step. ``AddTransformation`` first moves
    a Multiply by ``s`` that an Add of ``b`` follows after it, as a dequantization: ``(x + b / s)
    · s``; ``FakeQuantizeTransformation::fuseElementwise`` then folds the steps, the nearest first,
    each limit divided, multiplied or shifted by the constant in f32 (a positive scale only; never
    the bias Add of a layer)."""
    steps = []  # (op, constant), the nearest to fq first
    x = fq.inputs[0].source
    while x.node.type in _FOLDED and single_consumer(x) is not None and len(x.node.inputs) == 2:
        constant = [p.source for p in x.node.inputs if is_constant(p.source)]
        if len(constant) != 1 or (x.node.type == "Divide" and is_constant(x.node.inputs[0].source)):
            break
        value = np.asarray(fold_constant(constant[0]), np.float32)
        before = _variable_input(x.node)
        if x.node.type in ("Multiply", "Divide") and np.any(value <= 0):
            break
        if x.node.type in ("Add", "Subtract") and before.node.type in _LAYERS + ("ConvolutionBackpropData",):
            break
        steps.append([x.node.type, value])
        x = before
    if not steps:
        return None
    for i in range(len(steps) - 1):
        if steps[i][0] == "Add" and steps[i + 1][0] == "Multiply":  # (y · s) + b → (y + b / s) · s
            (_, shift), (_, scale) = steps[i], steps[i + 1]
            steps[i], steps[i + 1] = ["Multiply", scale], ["Add", (shift / scale).astype(np.float32)]
    low, high = (np.asarray(fold_constant(p.source), np.float32) for p in fq.inputs[1:3])
    with np.errstate(divide="ignore", invalid="ignore"):
        for op, value in steps:
            low, high = (_FOLDED[op](a, value).astype(np.float32) for a in (low, high))
    return x, low, high


def _fold_into_limits(fq: Node, scope: NameScope, lowered: Mapping[str, LayerPlan]) -> None:
    """Make ``fq`` read the activation before the constant steps :func:`_folded_limits` folds."""
    folded = _folded_limits(fq)
    if folded is None:
        return
    x, low, high = folded

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


def _replace_by_formula(fq: Node, scope: NameScope, low: int = 0) -> None:
    """Replace ``fq`` by its post-op formula for the decomposed FakeQuantize whose codes start from
    ``low`` (output limits ``low``, ``low + levels - 1``: with i8 codes ``updateOptimizedFormula``
    adds the output shift -128 to the input shift, and the sum is rounded near 0), and map the
    codes onto ``fq``'s output values."""
    x = fq.inputs[0].source
    levels = int(fq.attrs["levels"])
    il, ih, ol, oh = (fold_constant(p.source) for p in fq.inputs[1:])
    f = post_op_formula(il, ih, np.float32(low), np.float32(low + levels - 1), levels)
    stem = f"{fq.name}/post_op"
    dtype = x.etype.dtype
    y = _linear(x, f.isc, f.ish, scope, f"{stem}/input")
    y = build("Round", [y], {"mode": "half_to_even"}, name=scope.make(f"{stem}/round")).outputs[0]
    y = _between(y, np.asarray(f.clo, dtype), np.asarray(f.chi, dtype), scope, stem, "clip")
    y = _linear(y, np.asarray(f.osc), np.asarray(f.osh), scope, f"{stem}/codes")  # (none for 8-bit codes)
    if low:
        y = build("Subtract", [y, make_constant(np.asarray(low, dtype), name=scope.make(f"{stem}/low")).outputs[0]],
                  name=scope.make(f"{stem}/from_zero")).outputs[0]
    # onto the output values as before the decomposition: ``· osc + ol`` (not post_op_formula's
    # ``osc``, ``osh``, which take an integer output shift, e.g. -128 of i8 codes, into the input shift)
    ol, oh = (_one_if_equal(np.asarray(a, np.float32)) for a in (ol, oh))
    osc = ((oh - ol) / np.float32(levels - 1)).astype(np.float32)
    y = _linear(y, np.asarray(osc), np.asarray(ol), scope, f"{stem}/output")
    y = build("Convert", [y], {"destination_type": x.etype}, name=fq.name).outputs[0]  # stands for the FakeQuantize
    fq.outputs[0].replace_uses(y, keep_names=True)


def _find_quantization_kernels(model: Model, lowered: set[str]) -> list[Node]:
    unrounded = _find_unrounded_residual(model, lowered)
    taken = set(map(id, unrounded + _around_fused_sum(unrounded) + _find_all_post_ops(model, lowered)
                    + _find_snippets_quantization(model, lowered)))
    return [node for node in model.nodes() if node.type == "FakeQuantize" and id(node) not in taken
            and not is_constant(node.inputs[0].source)]


def _quantization_kernel(fq: Node, scope: NameScope) -> None:
    """Replace ``fq`` (and integer mode's quantize FakeQuantizes of the same values) by the
    plugin's quantization kernel: its FakeQuantize node's f32 crop limits, scales and shifts as
    they are (``jit_uni_quantization``: crop, a fused multiply-add, round, a fused multiply-add)."""
    for node in [fq] + _same_input_limits(fq):
        _replace_by_kernel(node, scope)


def _replace_by_kernel(fq: Node, scope: NameScope) -> None:
    x = fq.inputs[0].source
    f32, dtype = np.float32, x.etype.dtype
    il, ih, ol, oh = (_one_if_equal(np.asarray(fold_constant(p.source), f32)) for p in fq.inputs[1:])
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


def _find_snippets_quantization(model: Model, lowered: set[str]) -> list[Node]:
    """The FakeQuantizes reading a model input of static shape, which the plugin's snippets take."""
    return [node for node in model.nodes() if node.type == "FakeQuantize"
            and node.inputs[0].source.node.type == "Parameter" and _is_static(node.inputs[0].source)]


def _is_static(out: Output) -> bool:
    return out.shape is not None and all(isinstance(d, int) for d in out.shape)


def _snippets_quantization(fq: Node, scope: NameScope) -> None:
    """Replace ``fq`` (and integer mode's quantize FakeQuantizes of the same values) by the
    plugin's snippets decomposition of a FakeQuantize."""
    for node in [fq] + _same_input_limits(fq):
        _replace_by_decomposition(node, scope)


def _replace_by_decomposition(fq: Node, scope: NameScope) -> None:
    """``fq`` as ``FakeQuantizeDecomposition`` (snippets) writes it, its constants folded in f32:
    ``x`` cropped to ``[il, ih]``, times ``isc = (L - 1) / (ih - il)``, minus ``il · isc``, each
    step rounded to f32 (no fused multiply-add), rounded half to even, then ``· osc + ol`` as a
    fused multiply-add (measured on a FakeQuantize with ``[ol, oh] = [il, ih]``)."""
    x = fq.inputs[0].source
    f32, dtype = np.float32, x.etype.dtype
    il, ih, ol, oh = (_one_if_equal(np.asarray(fold_constant(p.source), f32)) for p in fq.inputs[1:])
    steps = f32(int(fq.attrs["levels"]) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        isc = (steps / (ih - il).astype(f32)).astype(f32)
        osc = ((oh - ol).astype(f32) / steps).astype(f32)
    ish = (il * isc).astype(f32)
    stem = f"{fq.name}/snippets"

    def const(value, what):
        return make_constant(np.ascontiguousarray(value, dtype), name=scope.make(f"{stem}/{what}")).outputs[0]

    y = _between(x, np.asarray(il, dtype), np.asarray(ih, dtype), scope, stem, "crop")
    y = build("Multiply", [y, const(isc, "input_scale")], name=scope.make(f"{stem}/scale")).outputs[0]
    y = build("Subtract", [y, const(ish, "input_shift")], name=scope.make(f"{stem}/shift")).outputs[0]
    y = build("Round", [y], {"mode": "half_to_even"}, name=scope.make(f"{stem}/round")).outputs[0]
    y = _linear(y, osc, ol, scope, f"{stem}/output", fused=True)
    y = build("Convert", [y], {"destination_type": x.etype}, name=fq.name).outputs[0]  # stands for the FakeQuantize
    fq.outputs[0].replace_uses(y, keep_names=True)


_MVN_LANES = 16  # f32 lanes of the plugin's AVX-512 MVN kernel (its AVX2 kernel sums in 8)


def _codes_step(mvn: Node) -> float | None:
    """The step of the FakeQuantize whose values ``mvn`` reads (through quantization-agnostic
    ops), when its dequantization is a scale alone, per tensor (zero point 0: integer codes
    ``q`` times the step): ``MVNTransformation`` then moves the scale past the MVN (a positive
    scale cancels but for eps), and the plugin normalizes the codes. None otherwise."""
    found = quantization_of(mvn.inputs[0].source)
    if found is None or found.fake_quantize is None:
        return None
    fq = found.fake_quantize
    low, high = (constant_or_none(p.source) for p in fq.inputs[3:5])  # the output grid (other rules fold the input side)
    if low is None or high is None:
        return None
    try:
        form = qparams.fake_quantize_to_qdq(low, high, low, high, int(fq.attrs["levels"]))
    except ValueError:
        return None
    if form.dequantize.scale.size != 1 or np.any(form.dequantize.zero_point):
        return None
    return float(qparams.range_to_scale(low, high, int(fq.attrs["levels"])).reshape(-1)[0])


def _row_length(mvn: Node) -> int | None:
    """The length of the rows an MVN-6 normalizes (mean and variance) when they run along the
    last axis alone of a rank-2 or rank-3 tensor, and that length is known: the plugin's planar
    per-channel kernel (``MVN::MVNJitExecutor::mvn_pln``). None otherwise."""
    if mvn.type != "MVN" or len(mvn.inputs) != 2 or not mvn.attrs.get("normalize_variance"):
        return None
    shape = mvn.inputs[0].source.shape
    axes = constant_or_none(mvn.inputs[1].source)
    if shape is None or len(shape) not in (2, 3) or not isinstance(shape[-1], int) or axes is None:
        return None
    if sorted(int(a) % len(shape) for a in np.ravel(axes)) != [len(shape) - 1]:
        return None
    return shape[-1]


def _find_codes_normalization(model: Model, lowered: set[str]) -> list[Node]:
    return [node for node in model.nodes() if node.type == "MVN" and _row_length(node) is not None
            and _codes_step(node) is not None]


class _Steps:
    """Builds f32 steps after ``node``, each named under ``node``'s name."""

    def __init__(self, node: Node, scope: NameScope, stem: str):
        self.scope, self.base = scope, f"{node.name}/{stem}"

    def const(self, value, what: str, dtype=np.float32) -> Output:
        return make_constant(np.ascontiguousarray(value, dtype), name=self.scope.make(f"{self.base}/{what}")).outputs[0]

    def op(self, op_type: str, inputs: list[Output], what: str, attrs: dict | None = None) -> Output:
        return build(op_type, inputs, attrs or {}, name=self.scope.make(f"{self.base}/{what}")).outputs[0]

    def convert(self, x: Output, etype: types.ElementType, what: str) -> Output:
        return self.op("Convert", [x], what, {"destination_type": etype})

    def lanes(self, x: Output, start: int, stop: int, what: str) -> Output:
        """``x[..., start:stop]``."""
        bounds = [self.const([v], f"{what}/{k}", np.int64) for k, v in (("start", start), ("stop", stop), ("step", 1), ("axis", -1))]
        return self.op("Slice", [x, *bounds], what)

    def square_added(self, total: Output | None, d: Output, what: str) -> Output:
        """``total + d · d`` as a fused multiply-add (in f64, rounded once to f32)."""
        wide = self.convert(d, types.f64, f"{what}/f64")
        y = self.op("Multiply", [wide, wide], f"{what}/square")
        if total is not None:
            y = self.op("Add", [self.convert(total, types.f64, f"{what}/total"), y], f"{what}/sum")
        return self.convert(y, types.f32, what)


def _lane_squares(s: _Steps, d: Output, n: int) -> Output:
    """The variance kernel's accumulator over rows of ``n`` centred values ``d``: ``_MVN_LANES``
    f32 lanes, each a running fused multiply-add of squares: whole vectors in order, then tail
    blocks of 8, 4, 2 and 1 values into the first lanes (the other lanes adding zeros)."""
    total = None
    whole = n // _MVN_LANES * _MVN_LANES
    for start in range(0, whole, _MVN_LANES):
        total = s.square_added(total, s.lanes(d, start, start + _MVN_LANES, f"d{start}"), f"lanes{start}")
    start = whole
    for tile in (8, 4, 2, 1):
        if n - start < tile:
            continue
        block = s.lanes(d, start, start + tile, f"d{start}")
        if total is None:  # a row shorter than one vector: the lanes it leaves hold zeros
            zero = s.op("Multiply", [s.lanes(d, 0, 1, f"zero{start}"), s.const(0.0, f"zero{start}/factor")], f"zero{start}/value")
            parts = [s.square_added(None, block, f"lanes{start}/head")] + [zero] * (_MVN_LANES - tile)
        else:
            parts = [s.square_added(s.lanes(total, 0, tile, f"lanes{start}/old"), block, f"lanes{start}/head"),
                     s.lanes(total, tile, _MVN_LANES, f"lanes{start}/rest")]
        total = s.op("Concat", parts, f"lanes{start}", {"axis": -1})
        start += tile
    return total


def _lanes_added(s: _Steps, lanes: Output) -> Output:
    """The kernel's sum of its 16 lanes, each step in f32: the four quarters added as (0 + 1) +
    (2 + 3), then the four lanes left as (0 + 1) + (2 + 3)."""
    quarter = [s.lanes(lanes, 4 * i, 4 * i + 4, f"quarter{i}") for i in range(4)]
    four = s.op("Add", [s.op("Add", quarter[:2], "quarters01"), s.op("Add", quarter[2:], "quarters23")], "quarters")
    pairs = [s.op("Add", [s.lanes(four, 2 * i, 2 * i + 1, f"lane{2 * i}"), s.lanes(four, 2 * i + 1, 2 * i + 2, f"lane{2 * i + 1}")],
                  f"pair{i}") for i in range(2)]
    return s.op("Add", pairs, "squares")


def _normalize_codes(mvn: Node, scope: NameScope) -> None:
    """Replace ``mvn`` by the plugin's MVN of its input's integer codes ``q`` (``mvn_pln``, rows of
    ``n`` values, f32): ``mean = Σq · (1/n)`` (the sum exact), ``d = q - mean``, the squares of
    ``d`` summed in lanes (:func:`_lane_squares`, :func:`_lanes_added`), ``r = 1 / sqrt(Σd² ·
    (1/n) + eps)`` (eps inside the root; ``1 / (sqrt(Σd² · (1/n)) + eps)`` outside), ``d · r``."""
    step, n = _codes_step(mvn), _row_length(mvn)
    s = _Steps(mvn, scope, "codes")
    wide = s.convert(mvn.inputs[0].source, types.f64, "input/f64")
    codes64 = s.op("Round", [s.op("Divide", [wide, s.const(step, "step", np.float64)], "input/steps")], "q64",
                   {"mode": "half_to_even"})
    q = s.convert(codes64, types.f32, "q")
    total = s.op("ReduceSum", [codes64, s.const([-1], "axes", np.int64)], "sum64", {"keep_dims": True})
    inverse = s.const(np.float32(1) / np.float32(n), "inverse_n")
    mean = s.op("Multiply", [s.convert(total, types.f32, "sum"), inverse], "mean")
    d = s.op("Subtract", [q, mean], "centred")
    variance = s.op("Multiply", [_lanes_added(s, _lane_squares(s, d, n)), inverse], "variance")
    eps = s.const(np.float32(mvn.attrs["eps"]), "eps")
    if str(mvn.attrs.get("eps_mode", "inside_sqrt")).lower() == "inside_sqrt":
        root = s.op("Sqrt", [s.op("Add", [variance, eps], "variance_eps")], "root")
    else:
        root = s.op("Add", [s.op("Sqrt", [variance], "root_alone"), eps], "root")
    factor = s.op("Divide", [s.const(1.0, "one"), root], "inverse_root")
    y = build("Multiply", [d, factor], name=scope.make(f"{mvn.name}/codes/normalized")).outputs[0]
    mvn.outputs[0].replace_uses(y, keep_names=True)


def _post_op_codes_reference_sum(fq: Node, scope: NameScope) -> None:
    """Replace ``fq``, the operand of a fused sum that ends its own layer's post-ops, by the
    post-op formula (the codes the plugin writes; the layers integer mode lowers after it read
    them), and give its other consumers (layers left in float; the residual Add, which takes the
    codes back from it where :func:`_residual_in_codes` sums codes) the reference value of those
    codes (measured closer than the formula's f32 value): a FakeQuantize on the output grid,
    which maps each of its points to itself."""
    limits = [fold_constant(p.source) for p in fq.inputs[3:5]]
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
    "FakeQuantize read by a fused residual sum: post-op codes, their reference value for float readers",
    _find_sum_operands, _post_op_codes_reference_sum, _fold_into_limits)

QUANTIZATION_KERNELS = Departure(
    "quantization kernels",
    "FakeQuantize in the plugin's quantization kernel: crop, multiply-add, round, multiply-add in f32",
    _find_quantization_kernels, _quantization_kernel)


SNIPPETS_QUANTIZATION = Departure(
    "snippets quantization",
    "FakeQuantize on a model input of static shape, in a snippets subgraph: crop, multiply, subtract, round in f32",
    _find_snippets_quantization, _snippets_quantization)

CODES_NORMALIZATION = Departure(
    "codes normalization",
    "MVN of a FakeQuantize scaled alone: the plugin normalizes its integer codes, in its f32 steps",
    _find_codes_normalization, _normalize_codes)

FUSED_POST_OPS = Departure(
    "fused post-ops",
    "FakeQuantize fused into a lowered layer's oneDNN primitive: its post-op formula in f32",
    _find_fused_post_ops, _post_op_fake_quantize, _fold_into_limits)

SIGNED_POST_OPS = Departure(
    "signed post-ops",
    "FakeQuantize fused into a lowered layer's oneDNN primitive and written as i8: its post-op formula shifted by -128",
    _find_signed_post_ops, _signed_post_op_fake_quantize, _fold_into_limits)

LEGACY_POST_OPS = Departure(
    "legacy post-ops",
    "FakeQuantize fused into a layer's AVX2 int8 primitive as a quantization post-op: crop, multiply-add, round, multiply-add",
    _find_legacy_post_ops, _legacy_post_op, _fold_into_limits)


def _binary_free_only(rule: Departure) -> Departure:
    """``rule`` for the FakeQuantizes the plugin's legacy post-op path still maps onto oneDNN
    post-ops by its post-op formula (:func:`_binary_free`)."""
    def find(model: Model, lowered: set[str]) -> list[Node]:
        return [fq for fq in rule.find(model, lowered) if _binary_free(fq, lowered)]
    return dataclasses.replace(rule, find=find)


def _find_pooled_codes(model: Model, lowered: set[str]) -> list[Node]:
    """The FakeQuantizes after a ReduceMean (read by nothing else) of a FakeQuantize that the
    transformations decompose without a zero point (with one, the plugin's Reduce node rounds
    some means otherwise: not reproduced, measured a few in a hundred codes)."""
    found = []
    for node in model.nodes():
        if node.type != "FakeQuantize" or is_constant(node.inputs[0].source):
            continue
        mean = node.inputs[0].source.node
        if mean.type != "ReduceMean" or single_consumer(mean.outputs[0]) is not node:
            continue
        source = mean.inputs[0].source.node
        codes = lpt_codes(source) if source.type == "FakeQuantize" and not is_constant(source.inputs[0].source) else None
        if codes is not None and codes.shift is None:
            found.append(node)
    return found


def _mean_of_codes(fq: Node, scope: NameScope, lowered: Mapping[str, LayerPlan]) -> None:
    """Before lowering: make the ReduceMean before ``fq`` average the codes of the FakeQuantize it
    reads, and fold that FakeQuantize's dequantization into ``fq``'s input limits, as
    ``ReduceBaseTransformation`` (moving the dequantization after the mean) and
    ``FakeQuantizeTransformation::fuseElementwise`` do: the plugin's Reduce node averages integer
    codes in f32 and quantizes the mean with its own quantization kernel (:data:`QUANTIZATION_KERNELS`)."""
    mean = fq.inputs[0].source.node
    source = mean.inputs[0].source.node
    codes = lpt_codes(source)
    mean.inputs[0].connect(_codes_of(source.outputs[0], source, codes.low, scope, f"{mean.name}/codes"))
    _divided_limits(fq, codes.scale, None, scope)


POOLED_CODES = Departure(
    "pooled codes",
    "FakeQuantize after a ReduceMean of quantized values: the mean of their integer codes, the dequantization in its limits",
    _find_pooled_codes, None, _mean_of_codes)


DEPARTURES = (CODES_NORMALIZATION, UNROUNDED_RESIDUAL, FUSED_POST_OPS, SIGNED_POST_OPS, SUM_OPERAND, POOLED_CODES,
              SNIPPETS_QUANTIZATION, QUANTIZATION_KERNELS)  # codes normalization first: it reads its FakeQuantize's limits before the others rewrite it

# OpenVINO's CPU plugin with AVX2 int8 kernels (no AVX-512): its convolutions take the legacy post-op path
AVX2_DEPARTURES = (CODES_NORMALIZATION, UNROUNDED_RESIDUAL, _binary_free_only(FUSED_POST_OPS),
                   _binary_free_only(SIGNED_POST_OPS), LEGACY_POST_OPS, SUM_OPERAND, POOLED_CODES,
                   SNIPPETS_QUANTIZATION, QUANTIZATION_KERNELS)
