"""ONNX Runtime as rules: where it computes lpir's QDQ export differently from the reference.

ONNX Runtime (CPU, every graph optimisation) runs lpir's QDQ export (:func:`lpir.save_model` to
``.onnx``), and departs from the FakeQuantize model in eight ways:

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
  f32, which can be an ULP from the FakeQuantize's output value (a Concat of such values before
  a Conv left in float, below, reads them too). The FakeQuantize stays (fed its input already on
  its grid) so that integer mode still lowers the layers it quantizes.
* ``ConvTranspose bias``: the export keeps a ConvTranspose's bias in float, and ONNX Runtime's
  graph optimiser (``WeightBiasQuantization``) quantizes it itself when the ConvTranspose reads a
  per-tensor DequantizeLinear and ends, through a Relu or Clip at most, in a QuantizeLinear:
  int32 ``round(bias / s)`` (an f32 division, half to even) on ``s = input_scale ·
  weight_scale`` (f32), dequantized to ``q · s`` (PP-OCRv4 det's first ConvTranspose: 392 codes
  of the FakeQuantize after it were one step off before this rule).
* ``ReduceMean``: an MVN is exported as ReduceMean → Sub → Mul → ReduceMean → Sqrt and Add of
  eps → Div. ONNX Runtime's ReduceMean over trailing axes sums each row with Eigen's vectorised
  reduction, SSE packets of four (two packet accumulators, a last packet added, the lanes summed
  as ``(l0 + l2) + (l1 + l3)``), and divides by the count, in f32; lpir's reference takes
  numpy's pairwise sums, and the last bits of about half a LayerNorm's values differ. Rows of a
  multiple of 4 values are reproduced (ONNX Runtime's buffers then start every row on a 16-byte
  boundary); others keep the reference means.
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

Measured (ONNX Runtime 1.32 CPU, AVX-512 VNNI, held-out inputs, teacher forcing on ONNX
Runtime's own codes read from cut exports, benchmarks/measure_onnxruntime_departures.py): codes
one step off ONNX Runtime's, the reference → these rules, PP-OCR's classifier 3248 → 0 of 5.2
million (lpir.quantize; NNCF's 3239 → 0), PP-OCRv4 rec 14885 → 0 of 6.0 million, det 7807 → 1
of 6.9 million, MiniLM 14 → 6 of 1.3 million (in two attention layers no rule covers). det's one
code is a measurement artefact: its segment keeps one reader of ``p2o.Conv.43``'s output, so
lpir takes the Conv for a QLinearConv where the whole model leaves it in float; in lpir's own run
of the whole model no code of rec or det differs from ONNX Runtime's. End to end, max / mean
|difference| / output range: classifier 1.2e-7 / 3e-8 (the reference 1.8e-2); det 1.2e-7 /
1e-9, 3.2e-2 without the ConvTranspose bias rule (the cascade of the 392 codes after its first
ConvTranspose; 1.1e-2 with it but a Concat before a float Conv reading the FakeQuantizes'
values, the cascade of one code); rec 4.2e-6 / 1e-10 (4.5e-2 before, the cascade of three
codes after LayerNorms that the export computed with eps outside the square root: OpenVINO
writes ``eps_mode`` in capitals, which the export misread); MiniLM 2.9e-4 / 1e-5, the cascade of
its six flips. The ReduceMean rule moves no code of rec or MiniLM: it matters to values within
an ULP or two of a boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from lpir.analysis.patterns import is_quantization_agnostic
from lpir.errors import ValidationError
from lpir.ir import qparams, types
from lpir.ir.graph import Model, Node, Output, make_constant
from lpir.ir.rewrite import NameScope
from lpir.ops import build
from lpir.ops.reduce import reduction_axes
from lpir.runtime.arithmetic.rules import Departure, hard_sigmoid_steps, single_consumer
from lpir.runtime.constants import constant_or_none, fold_constant

if TYPE_CHECKING:
    from lpir.runtime.lowering import LayerPlan


_BIAS_FOLDED = {"Convolution": 1, "GroupConvolution": 2, "MatMul": 0}  # leading weight axes that are output channels


def _bias_after(layer: Node) -> tuple[Node, Output] | None:
    """(the Add, its constant) when ``layer``'s only consumer adds a constant per output channel."""
    add = single_consumer(layer.outputs[0])
    if add is None or add.type != "Add" or layer.outputs[0].shape is None:
        return None
    other = next((p.source for p in add.inputs if p.source is not layer.outputs[0]), None)
    value = None if other is None else constant_or_none(other)
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
    add, bias = found
    value = fold_constant(bias)
    rounded = qparams.accumulator_bias(value.reshape(-1), *scales)
    if rounded is None:
        return None
    q, scale = rounded
    return add, bias, (q.astype(np.float32) * scale).astype(value.dtype).reshape(value.shape)


def _find_int32_bias(model: Model, lowered: Mapping[str, LayerPlan]) -> list[Node]:
    """The lowered layers whose bias the export writes as int32."""
    return [node for node in model.nodes() if _int32_bias(node, lowered) is not None]


def _add_rounded_bias(found: tuple[Node, Output, np.ndarray], scope: NameScope) -> None:
    """Make the bias Add ``found[0]`` add ``found[2]`` instead of its constant ``found[1]``."""
    add, bias, grid = found
    port = next(p for p in add.inputs if p.source is bias)
    port.connect(make_constant(grid, name=scope.make(f"{bias.node.name}/int32")).outputs[0])


def _round_bias(layer: Node, scope: NameScope, lowered: Mapping[str, LayerPlan]) -> None:
    """Make the bias Add after ``layer`` add the bias on the accumulator's grid."""
    _add_rounded_bias(_int32_bias(layer, lowered), scope)


def _find_hard_activations(model: Model, lowered: Mapping[str, LayerPlan]) -> list[Node]:
    return [node for node in model.nodes() if node.type in ("HSwish", "HSigmoid")]


def _as_hard_sigmoid(node: Node, scope: NameScope, lowered: Mapping[str, LayerPlan]) -> None:
    hard_sigmoid_steps(node, scope, "onnx")


def _qdq_scales(fq: Node) -> tuple[np.ndarray, np.ndarray] | None:
    """The f32 scales of the QuantizeLinear and the DequantizeLinear the export writes for
    activation FakeQuantize ``fq``, or None when ``fq`` is on constants or has no QDQ form."""
    if fq.type != "FakeQuantize" or constant_or_none(fq.inputs[0].source) is not None:
        return None
    limits = [constant_or_none(p.source) for p in fq.inputs[1:]]
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
    op or a float cast, as integer mode looks back through them) on to one. A layer an earlier
    rule replaced by its float computation (nothing reads it any more) reads dequantized values:
    ``DequantizeLinear → Concat → Conv`` in float is fed the Concat of DequantizeLinear's values."""
    if node.name in lowered:
        return any(out.consumers for out in node.outputs)
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


_ABSORBED_BEFORE_QUANTIZE = ("Relu", "Clamp")  # ONNX Runtime's path to a QuantizeLinear allows Relu / Clip


def _quantized_transposed_bias(layer: Node, lowered: Mapping[str, LayerPlan]) -> tuple[Node, Output, np.ndarray] | None:
    """(the bias Add after ConvolutionBackpropData ``layer``, its constant, the bias as ONNX Runtime
    quantizes it) when ONNX Runtime's ``WeightBiasQuantization`` rewrites the export's float bias:
    the input straight from a per-tensor DequantizeLinear, weights quantized per tensor or per
    output channel, and from the bias a path without branches, through Relu / Clip at most, to a
    QuantizeLinear. It rounds the bias to int32 on ``s = input_scale · weight_scale`` (f32), as
    graph nodes it then folds: ``round(bias / s)`` (f32 division, half to even) then ``q · s``."""
    plan = lowered.get(layer.name)
    if layer.type != "ConvolutionBackpropData" or plan is None or plan.quantization is None:
        return None
    found, source = _bias_after(layer), layer.inputs[0].source.node
    scales = _qdq_scales(source) if source.type == "FakeQuantize" else None
    if found is None or scales is None or scales[1].size != 1:
        return None
    after = single_consumer(found[0].outputs[0])
    while after is not None and after.type in _ABSORBED_BEFORE_QUANTIZE:
        after = single_consumer(after.outputs[0])
    if after is None or _qdq_scales(after) is None:
        return None
    w = plan.quantization[1]
    weight_scale = np.broadcast_to(w.scale, w.values.shape).astype(np.float32)  # [C_in, C_out, k...]
    per_output = np.moveaxis(weight_scale, 1, 0).reshape(weight_scale.shape[1], -1)
    if np.any(per_output != per_output[:, :1]):
        return None
    add, bias = found
    value = fold_constant(bias)
    scale = (scales[1].reshape(()) * per_output[:, 0]).astype(np.float32)
    steps = np.rint((value.reshape(-1).astype(np.float32) / scale).astype(np.float32))
    return add, bias, (steps * scale).astype(value.dtype).reshape(value.shape)


def _find_quantized_transposed_bias(model: Model, lowered: Mapping[str, LayerPlan]) -> list[Node]:
    return [node for node in model.nodes() if _quantized_transposed_bias(node, lowered) is not None]


def _round_transposed_bias(layer: Node, scope: NameScope, lowered: Mapping[str, LayerPlan]) -> None:
    """Make the bias Add after ConvolutionBackpropData ``layer`` add ONNX Runtime's quantized bias."""
    _add_rounded_bias(_quantized_transposed_bias(layer, lowered), scope)


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
    x = lowered[layer.name].quantization[0]
    source = layer.inputs[0].source
    if x.scale.size != 1 or source.node.type != "FakeQuantize" or len(source.consumers) != 1:
        return False
    out = layer.outputs[0]
    after = single_consumer(out)
    if after is not None and after.type == "Add" and _bias_after(layer) is not None:
        if _int32_bias(layer, lowered) is None:
            return False
        out, after = after.outputs[0], single_consumer(after.outputs[0])
    relu = after is not None and after.type == "Relu"
    if relu:
        out, after = after.outputs[0], single_consumer(after.outputs[0])
    if after is None or after.type != "FakeQuantize" or len(after.outputs[0].consumers) != 1:
        return False  # (measured: a QuantizeLinear read by two DequantizeLinear is not fused)
    limits = [constant_or_none(p.source) for p in after.inputs[1:]]
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


def _mean_rows(node: Node) -> tuple[int, int] | None:
    """(axes reduced, values a row) of the means of MVN-6 ``node``, when the export's ReduceMean runs ONNX
    Runtime's contiguous (``FastReduceKR``) reduction whose Eigen sums :func:`_eigen_mean`
    reproduces: f32 data, static trailing axes reduced, a multiple of 4 values (every row then
    starts on a 16-byte boundary, as Eigen's packets need), else None."""
    if node.type != "MVN" or node.opset < 6 or node.inputs[0].source.etype.name != "f32":
        return None
    shape, axes = node.inputs[0].source.shape, constant_or_none(node.inputs[1].source)
    if shape is None or axes is None:
        return None
    try:
        axes = list(reduction_axes(axes, len(shape)))
    except ValidationError:  # the model's own validation reports them
        return None
    sizes = shape[len(shape) - len(axes):]
    if not axes or axes != list(range(len(shape) - len(axes), len(shape))) or not all(isinstance(d, int) for d in sizes):
        return None
    size = int(np.prod(sizes, dtype=np.int64))
    return (len(axes), size) if size % 4 == 0 else None


def _find_reduce_means(model: Model, lowered: Mapping[str, LayerPlan]) -> list[Node]:
    return [node for node in model.nodes() if _mean_rows(node) is not None]


class _Rows:
    """Builds ops on the rows of a tensor whose ``leading`` first axes are kept and whose other
    axes are read as one row (Reshape's special zero keeps the leading sizes, static or not)."""

    def __init__(self, leading: int, scope: NameScope, base: str):
        self.leading, self.scope, self.base = leading, scope, base

    def const(self, value, what: str) -> Output:
        return make_constant(np.asarray(value), name=self.scope.make(f"{self.base}/{what}")).outputs[0]

    def reshape(self, x: Output, tail: list[int], what: str) -> Output:
        target = self.const(np.asarray([0] * self.leading + tail, np.int64), f"{what}/shape")
        return build("Reshape", [x, target], {"special_zero": True}, name=self.scope.make(f"{self.base}/{what}")).outputs[0]

    def slice(self, x: Output, start: int, stop: int, what: str) -> Output:
        """Elements ``start:stop`` along the axis after the leading ones."""
        bounds = [self.const(np.asarray([v], np.int64), f"{what}/{k}")
                  for k, v in (("start", start), ("stop", stop), ("step", 1), ("axis", self.leading))]
        return build("Slice", [x, *bounds], name=self.scope.make(f"{self.base}/{what}")).outputs[0]

    def add(self, a: Output, b: Output, what: str) -> Output:
        return build("Add", [a, b], name=self.scope.make(f"{self.base}/{what}")).outputs[0]


def _eigen_mean(x: Output, reduced: int, size: int, scope: NameScope, base: str) -> Output:
    """ONNX Runtime's ReduceMean (keepdims) of ``x`` over its last ``reduced`` axes, ``size``
    values a row, a multiple of 4: each row summed by Eigen's vectorised reduction with SSE
    packets of 4 (``redux_impl``, linear vectorised traversal: two packet accumulators over pairs
    of packets, then added, a last single packet added, then the packet's lanes as ``(l0 + l2) +
    (l1 + l3)``), each step in f32; then divided by ``size`` in f32 (``FastReduceKR``)."""
    rows = _Rows(len(x.shape) - reduced, scope, base)
    flat = rows.reshape(x, [size], "row")
    paired = size // 8 * 8
    if paired:
        pairs = rows.reshape(rows.slice(flat, 0, paired, "pairs"), [paired // 8, 8], "pairs/packets")
        running = build("CumSum", [pairs, rows.const(np.int64(rows.leading), "axis")], {"exclusive": False, "reverse": False},
                        name=scope.make(f"{base}/accumulate")).outputs[0]  # numpy's running sum: in order, in f32
        last = rows.reshape(rows.slice(running, paired // 8 - 1, paired // 8, "accumulators"), [8], "accumulators/lanes")
        packet = rows.add(rows.slice(last, 0, 4, "accumulator0"), rows.slice(last, 4, 8, "accumulator1"), "accumulated")
        if size > paired:
            packet = rows.add(packet, rows.slice(flat, paired, size, "last_packet"), "with_last_packet")
    else:
        packet = flat
    halves = rows.add(rows.slice(packet, 0, 2, "lanes01"), rows.slice(packet, 2, 4, "lanes23"), "lanes")
    total = rows.add(rows.slice(halves, 0, 1, "lane0"), rows.slice(halves, 1, 2, "lane1"), "sum")
    mean = build("Divide", [total, rows.const(np.float32(size), "count")], name=scope.make(f"{base}/mean")).outputs[0]
    return rows.reshape(mean, [1] * reduced, "kept")


def _reduce_mean_chain(node: Node, scope: NameScope, lowered: Mapping[str, LayerPlan]) -> None:
    """Replace MVN-6 ``node`` by the export's ReduceMean / Sub / Mul / ReduceMean / Sqrt / Add /
    Div chain as ONNX Runtime computes it: f32 steps, the means :func:`_eigen_mean`'s (lpir's
    reference means are numpy's pairwise sums, whose roundings differ)."""
    x = node.inputs[0].source
    reduced, size = _mean_rows(node)
    base = f"{node.name}/onnx"
    mean = _eigen_mean(x, reduced, size, scope, f"{base}/mean")
    y = build("Subtract", [x, mean], name=scope.make(f"{base}/centred")).outputs[0]
    if node.attrs.get("normalize_variance", True):
        square = build("Multiply", [y, y], name=scope.make(f"{base}/square")).outputs[0]
        variance = _eigen_mean(square, reduced, size, scope, f"{base}/variance")
        eps = make_constant(np.float32(node.attrs["eps"]), name=scope.make(f"{base}/eps")).outputs[0]
        if str(node.attrs.get("eps_mode", "inside_sqrt")).lower() == "inside_sqrt":
            root = build("Add", [variance, eps], name=scope.make(f"{base}/add_eps")).outputs[0]
            denominator = build("Sqrt", [root], name=scope.make(f"{base}/std")).outputs[0]
        else:
            root = build("Sqrt", [variance], name=scope.make(f"{base}/std")).outputs[0]
            denominator = build("Add", [root, eps], name=scope.make(f"{base}/add_eps")).outputs[0]
        y = build("Divide", [y, denominator], name=node.name).outputs[0]  # stands for the node it replaces
    node.outputs[0].replace_uses(y, keep_names=True)


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

TRANSPOSED_BIAS = Departure(
    "ConvTranspose bias",
    "float bias of a ConvTranspose ending in a QuantizeLinear, rounded by ONNX Runtime to int32 on input x weight scale",
    _find_quantized_transposed_bias, None, _round_transposed_bias)  # before the layers are lowered

REDUCE_MEAN = Departure(
    "ReduceMean",
    "MVN as the export's ReduceMean chain in f32, each mean an Eigen vectorised sum (SSE packets) divided by the count",
    _find_reduce_means, None, _reduce_mean_chain)  # before the layers are lowered

FLOAT_CONVOLUTION = Departure(
    "float Conv",
    "Conv left in float by ONNX Runtime: f32 fused multiply-add over input channels and window, in order, in MLAS's K blocks",
    _find_float_convolutions, None, _sequential_convolution)  # before the layers are lowered

FLOAT_DEPTHWISE = Departure(
    "float depthwise Conv",
    "depthwise Conv left in float by ONNX Runtime: f32 products over the window, summed four at a time, as MLAS's one-row GEMM",
    _find_float_depthwise, None, _one_row_gemm)  # before the layers are lowered


DEPARTURES = (INT32_BIAS, TRANSPOSED_BIAS, FLOAT_CONVOLUTION, FLOAT_DEPTHWISE, HARD_ACTIVATIONS, FLOAT_TRANSPOSED, REDUCE_MEAN, QUANTIZE_LINEAR)
