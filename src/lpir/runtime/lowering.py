"""The integer interpretation of a FakeQuantize model, as a graph rewrite in standard OpenVINO ops.

For every Convolution / GroupConvolution / ConvolutionBackpropData / MatMul whose inputs are
quantized and that OpenVINO's CPU rules (:mod:`lpir.runtime.integer_rules`) let run in integers,
the layer is replaced by (facts §1.4, §4.3, §4.6)::

    activation:  x → FakeQuantize(x, il, ih, lo, hi) → Convert(u8|i8) → Convert(i32) → [Subtract zp]
    weights:     Const(i8) → Convert(i32) → [Subtract zp]
    layer(i32, i32) → i32 accumulator → Convert(f64) → Multiply(s_x · s_w per output channel) → Convert(f32)

The quantize FakeQuantize maps the input range onto the integer interval ``[lo, hi]``
(``hi - lo = levels - 1``), so it computes exactly the rounding of the original FakeQuantize and
its outputs are integers. The dequantization multiplies in f64 and rounds once: the layer's
output is the exact dequantized product correctly rounded to f32. The bias Add that follows
the layer stays as it was, in float after dequantization. The result is an ordinary model:
:func:`lpir.save_model` writes it, OpenVINO reads and runs it, and lpir's interpreter runs the
i32 layers with exact integer kernels (:mod:`lpir.runtime.kernels.integer`).

The *exact* form (:func:`lower`, ``form="exact"``) is the reference integer mode is proven
against: the same layers, quantized by the same FakeQuantize, dequantized *before* the layer
in f64 (``(q - zp) · s``, exact) and the layer computed in f64 (products of these values are
exact, their sums carry a relative error near 2^-53) and rounded once to f32::

    x → FakeQuantize(x, il, ih, lo, hi) → Convert(f64) → [Subtract zp] → Multiply(s_x) ┐
    Const(f64 weights (q - zp) · s_w) ───────────────────────────────────────────────────┴→ layer (f64) → Convert(f32)

It is the float emulation without its f32 roundings inside a quantized layer (of each
FakeQuantize output, and of the layer's partial sums); the zero points are the plan's (an
integer within ``ZERO_POINT_TOLERANCE`` of the FakeQuantize's own). Integer mode computes
the same correctly rounded values, so the two agree end to end, where the f32 emulation's
roundings, moving values across the next FakeQuantize's rounding boundaries, make it drift
from both.

The plan (:class:`Plan`) says for each such layer whether it was lowered, its input precisions
and zero points, or the rule that kept it in float.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from lpir.analysis.patterns import quantization_of
from lpir.analysis.precision import precision_details
from lpir.ir import types
from lpir.ir.graph import Model, Node, Output, make_constant
from lpir.ir.passes import clone_model
from lpir.ir.rewrite import NameScope, layer_name
from lpir.ops import build, lookup
from lpir.runtime.arithmetic import F32_DEQUANTIZATION, RUNTIMES, find_departures
from lpir.runtime.constants import constant_or_none, fold_constant
from lpir.runtime.integer_rules import CPU_RULES, INTEGER_LEVELS, INTERVALS, LayerRule, Reasons

ZERO_POINT_TOLERANCE = 1e-3  # a zero point this close to an integer is that integer


@dataclass
class LayerPlan:
    """One row of the plan: how a layer runs."""

    name: str
    type: str
    integer: bool
    inputs: list[str]
    reason: str = ""
    kernel: str = "dense"
    quantization: list[InputQuantization] | None = field(default=None, repr=False)  # integer layers: scales, zero points

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "integer": self.integer, "inputs": self.inputs,
                "reason": self.reason, "kernel": self.kernel}


@dataclass
class Plan:
    """How a compiled model runs its Convolution/MatMul layers; ``str(plan)`` is a table."""

    layers: list[LayerPlan] = field(default_factory=list)
    form: str = "integer"  # "exact": the rows marked integer are computed in f64 on dequantized inputs
    arithmetic: str = "reference"  # or a runtime's departures applied (lpir.runtime.arithmetic)
    departures: list[tuple[str, str]] = field(default_factory=list)  # (node, rule) rewritten for them
    # Integer layers whose input 0 is a quantized activation: the largest magnitude it can take.
    input_bounds: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def integer_layers(self) -> list[LayerPlan]:
        return [layer for layer in self.layers if layer.integer]

    def layer(self, name: str) -> LayerPlan:
        return next(layer for layer in self.layers if layer.name == name)

    def __str__(self) -> str:
        from lpir.analysis.report import table
        rows = [(layer.name, layer.type, self.form if layer.integer else "float", " | ".join(layer.inputs),
                 layer.kernel, layer.reason) for layer in self.layers]
        how = "in integers" if self.form == "integer" else "exactly (f64 on dequantized inputs, rounded once)"
        head = f"{len(self.integer_layers)} of {len(self.layers)} layers run {how}"
        text = head + "\n" + table(["layer", "op", "runs", "inputs", "kernel", "why float"], rows, limit=None)
        if self.arithmetic != "reference":
            text += (f"\n{self.arithmetic} arithmetic: {len(self.departures)} node(s) computed as "
                     f"{RUNTIMES[self.arithmetic]} does\n" + table(["node", "departure"], self.departures, limit=None))
        return text


@dataclass
class InputQuantization:
    """How one layer input becomes integers: the values ``(q - zero_point) * scale``."""

    port: int
    precision: str
    levels: int
    scale: np.ndarray        # float64, broadcastable to the input as the layer sees it
    zero_point: np.ndarray   # integers (as float64), same layout
    values: np.ndarray | None = None          # weights: the integers q, in the layer's layout
    source: Output | None = None              # activations: the tensor to quantize ...
    input_range: tuple[np.ndarray, np.ndarray] | None = None  # ... and the range mapped onto [lo, hi]
    zero_point_after: bool = False  # the (possibly fractional) zero point is applied after the layer
    scale_f32: np.ndarray | None = None  # the scale as OpenVINO's f32 dequantization computes it (same layout)

    def describe(self) -> str:
        zp = self.zero_point
        if not zp.any():
            return self.precision
        text = f"{zp.reshape(-1)[0]:g}" if np.all(zp == zp.reshape(-1)[0]) else "per-channel"
        return f"{self.precision} zp {text}"


FORMS = ("integer", "exact")


def lower_to_integer(model: Model, *, rewrite: bool = True) -> tuple[Model, Plan]:
    """A copy of ``model`` with its quantized layers running in integers, and the plan.

    Without ``rewrite`` the model is returned as it is and the plan says which layers would run
    in integers.
    """
    return lower(model, "integer", rewrite=rewrite)


def lower(model: Model, form: str, *, rewrite: bool = True, arithmetic: str = "reference") -> tuple[Model, Plan]:
    """A copy of ``model`` with the layers integer mode lowers rewritten in ``form``
    (``"integer"``: i32 layers; ``"exact"``: f64 layers on exactly dequantized inputs), and the plan.

    ``arithmetic="openvino-cpu"`` (or ``"openvino-cpu-avx2"``) / ``"onnxruntime"`` also rewrites the nodes that runtime computes
    differently from the reference (:mod:`lpir.runtime.arithmetic`)."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    if rewrite:
        model = clone_model(model)
    departures = []
    if arithmetic != "reference":
        layers = {row.name: row for row in lower(model, form, rewrite=False)[1].integer_layers}
        departures = find_departures(model, arithmetic, layers)
    plan = Plan(form=form, arithmetic=arithmetic)
    scope = NameScope(model)
    for fq, rule in departures:
        if rewrite and rule.prepare is not None:
            rule.prepare(fq, scope, layers)
    quantized_once: dict[tuple, Output] = {}
    for node in model.nodes():
        rule = CPU_RULES.get(node.type)
        if rule is None:
            continue
        quantized = [_input(node, port, rule) for port in (0, 1)]
        reasons = [q for q in quantized if isinstance(q, str)]
        if not reasons:
            reasons = _granularity(node, rule, quantized)
        if not reasons and quantized[0].zero_point_after and quantized[1].values is None:  # needs Σ_K B at compile time
            reasons = [Reasons.fractional_zero_point(0, float(quantized[0].zero_point.reshape(-1)[0]))]
        if reasons:
            inputs = [q.describe() if isinstance(q, InputQuantization) else "float" for q in quantized]
            plan.layers.append(LayerPlan(node.name, node.type, False, inputs, "; ".join(reasons)))
            continue
        inputs = [q.describe() for q in quantized]
        if not rewrite:
            plan.layers.append(LayerPlan(node.name, node.type, True, inputs, quantization=quantized))
            continue
        if form == "integer":
            _rewrite(node, quantized, scope, quantized_once, f32_dequantization=arithmetic in F32_DEQUANTIZATION)
        else:
            _rewrite_exact(node, quantized, scope, quantized_once)
        plan.layers.append(LayerPlan(node.name, node.type, True, inputs, quantization=quantized))
        if quantized[0].values is None:
            lo, hi = INTERVALS[(quantized[0].precision, quantized[0].levels)]
            zero_point = 0 if quantized[0].zero_point_after else quantized[0].zero_point
            plan.input_bounds[node.name] = int(max(np.abs(lo - zero_point).max(), np.abs(hi - zero_point).max()))
    for fq, rule in departures:
        if rewrite and rule.rewrite is not None:
            rule.rewrite(fq, scope)
        plan.departures.append((fq.name, rule.description))
    return model, plan


# ---------------------------------------------------------------- analysis

def _input(node: Node, port: int, rule: LayerRule) -> InputQuantization | str:
    """How input ``port`` of ``node`` is quantized, or why it cannot run in integers."""
    out = node.inputs[port].source
    found = quantization_of(out)
    if found is None:
        return Reasons.not_quantized(port)
    path = _path(out, (found.fake_quantize.outputs[0] if found.fake_quantize is not None
                       else found.dequantization.output))
    allowed = rule.precisions[port]
    if found.dequantization is not None:
        dq = found.dequantization
        if not dq.is_weight:
            return Reasons.dequantized_activation(port)
        if dq.etype not in allowed:
            return Reasons.precision(port, dq.etype, allowed)
        values = fold_constant(dq.data)
        scale = fold_constant(_other_input(dq.multiply, dq.subtract if dq.subtract is not None else dq.convert))
        zero_point = (fold_constant(_other_input(dq.subtract, dq.convert)) if dq.subtract is not None
                      else np.zeros(1))
        full = [np.broadcast_to(np.asarray(a, np.float64), values.shape) for a in (values, scale, zero_point)]
        if dq.reshape is not None:
            target = fold_constant(dq.reshape.inputs[1].source)
            full = [_evaluate(dq.reshape, a, [target]) for a in full]
        values, scale, zero_point = (_carry(path, a) for a in full)
        return _checked(port, rule, node.type, InputQuantization(port, dq.etype, 0, scale, zero_point, values,
                                                                 scale_f32=scale.astype(np.float32)))
    fq = found.fake_quantize
    levels = int(fq.attrs["levels"])
    ranges = [constant_or_none(fq.inputs[i].source) for i in range(1, 5)]
    if any(r is None for r in ranges):
        return Reasons.not_constant(port)
    if levels not in INTEGER_LEVELS:
        return Reasons.levels(port, levels)
    il, ih, ol, oh = (np.asarray(r, np.float64) for r in ranges)
    details = precision_details(levels, ol, oh)
    precision = details.precision if details.precision in allowed else allowed[0]
    has_zero_point = details.has_zero_point or precision != details.precision
    lo, hi = INTERVALS[(precision, levels)]
    scale = np.where(oh != ol, (oh - ol) / (hi - lo), 1.0)
    scale_f32 = _f32_scale(*ranges[2:], hi - lo)
    exact_zero_point = lo - ol / scale
    zero_point = np.rint(exact_zero_point) if has_zero_point else np.zeros_like(scale)
    after = False
    if has_zero_point and np.abs(zero_point - exact_zero_point).max() > ZERO_POINT_TOLERANCE:
        if not (rule.zero_point_after and port == 0 and exact_zero_point.size == 1):
            return Reasons.fractional_zero_point(port, float(exact_zero_point.reshape(-1)[0]))
        zero_point, after = exact_zero_point, True
    data = fq.inputs[0].source
    weights = constant_or_none(data)
    if weights is not None:  # FakeQuantize on weights: quantize them now
        op = lookup("FakeQuantize", 1)
        values = op.evaluate(weights, *(np.asarray(a, weights.dtype) for a in (il, ih, np.float64(lo), np.float64(hi))),
                             levels=levels, auto_broadcast="numpy")[0]
        full = [np.broadcast_to(np.asarray(a, np.float64), values.shape) for a in (values, scale, zero_point)]
        values, scale, zero_point, scale_f32 = (_carry(path, a) for a in (*full, np.broadcast_to(scale_f32, values.shape)))
        return _checked(port, rule, node.type, InputQuantization(port, precision, levels, scale, zero_point, values,
                                                                 scale_f32=scale_f32.astype(np.float32)))
    if path and (scale.size > 1 or zero_point.size > 1):
        return Reasons.per_channel_through(port, path[0].type)
    source, limits = (data, (il, ih)) if not path else (out, (ol, oh))
    quantization = InputQuantization(port, precision, levels, scale, zero_point, source=source, input_range=limits,
                                     zero_point_after=after, scale_f32=scale_f32)
    return _checked(port, rule, node.type, quantization)


def _f32_scale(low: np.ndarray, high: np.ndarray, steps: int) -> np.ndarray:
    """``(high - low) / steps`` in f32, each step rounded, as OpenVINO's low-precision
    transformations fold the dequantization scale of a FakeQuantize."""
    low, high = (np.asarray(a, np.float32) for a in (low, high))
    return np.where(high != low, (high - low) / np.float32(steps), np.float32(1)).astype(np.float32)


def _checked(port: int, rule: LayerRule, op_type: str, q: InputQuantization) -> InputQuantization | str:
    if port == 1 and q.zero_point.any() and not rule.zero_point_on_input_1:
        return Reasons.zero_point(port, op_type)
    return q


def _granularity(node: Node, rule: LayerRule, quantized: list[InputQuantization]) -> list[str]:
    """Reasons the scales' layout keeps the layer in float (empty when it can be lowered)."""
    reasons = []
    op = lookup(node.type, node.opset)
    attrs = op.resolved_attrs(node.attrs, node.name)
    for q in quantized:
        if q.values is not None:  # weights: one scale and zero point per output channel at most
            keep = {a % q.values.ndim for a in op.weight_channel_axes(attrs)}
            if _reduced(q.scale, keep) is None or _reduced(q.zero_point, keep, exact=True) is None:
                reasons.append(Reasons.weight_granularity(q.port))
        elif not _activation_layout_ok(rule.activation_granularity, node, attrs, q):
            reasons.append(Reasons.granularity(q.port, node.type, rule.activation_granularity))
    return reasons


def _activation_layout_ok(kind: str, node: Node, attrs: dict, q: InputQuantization) -> bool:
    rank = len(node.inputs[q.port].source.shape or ())
    scale = _aligned(q.scale, rank)
    zero_point = _aligned(q.zero_point, rank)
    if kind == "per-tensor":
        return scale.size == 1 and zero_point.size == 1
    if kind == "per-group":
        if scale.size == 1:
            return True
        if any(d != 1 for i, d in enumerate(scale.shape) if i != 1):
            return False
        groups = node.inputs[1].source.shape[0]
        per_group = scale.reshape(groups, -1)
        return bool(np.all(per_group == per_group[:, :1]))
    k_axis = _k_axis(q.port, attrs, rank)
    return scale.shape[k_axis] == 1


def _k_axis(port: int, attrs: dict, rank: int) -> int:
    """The contraction axis of MatMul input ``port`` (of rank ``rank``)."""
    if rank == 1:
        return 0
    transposed = attrs["transpose_a"] if port == 0 else attrs["transpose_b"]
    first = port == 0
    return rank - (1 if first != transposed else 2)


# ---------------------------------------------------------------- rewrite

def _rewrite(node: Node, quantized: list[InputQuantization], scope: NameScope, shared: dict[tuple, Output], *,
             f32_dequantization: bool = False) -> None:
    """Replace ``node`` by its integer form; ``shared`` holds the quantized activations already
    made, so layers reading the same tensor with the same quantization share one.

    With ``f32_dequantization`` the accumulator is dequantized as OpenVINO's CPU plugin does in
    its int8 kernels: converted to f32 and multiplied in f32 by the f32 product of the two f32
    scales (``Convolution`` with the dequantization scales as oneDNN weight scales), instead of
    in f64 and rounded once. A zero point applied after the layer keeps the f64 form."""
    stem = layer_name(node)
    op = lookup(node.type, node.opset)
    attrs = op.resolved_attrs(node.attrs, node.name)
    integer_inputs = [_shared_input(node, q, scope, stem, shared, _integer_input) for q in quantized]
    layer = build(node.type, integer_inputs + [p.source for p in node.inputs[2:]], dict(node.attrs),
                  name=node.name, opset=node.opset)
    layer.rt_info = node.rt_info
    if f32_dequantization and not quantized[0].zero_point_after:
        scale = _output_scale(node, attrs, [replace(q, scale=q.scale_f32) for q in quantized]).astype(np.float32)
        accumulator = build("Convert", [layer.outputs[0]], {"destination_type": types.f32},
                            name=scope.make(f"{stem}/accumulator")).outputs[0]
    else:
        scale = _output_scale(node, attrs, quantized)
        accumulator = build("Convert", [layer.outputs[0]], {"destination_type": types.f64},
                            name=scope.make(f"{stem}/accumulator")).outputs[0]
    if quantized[0].zero_point_after:
        correction = _zero_point_correction(node, attrs, quantized)
        accumulator = build("Subtract", [accumulator, _const(correction, scope, f"{stem}/zero_point_0")],
                            name=scope.make(f"{stem}/shift")).outputs[0]
    result = build("Multiply", [accumulator, _const(scale, scope, f"{stem}/scale")],
                   name=scope.make(f"{stem}/dequantize")).outputs[0]
    _round_into(node, result, scope, stem)


def _rewrite_exact(node: Node, quantized: list[InputQuantization], scope: NameScope, shared: dict[tuple, Output]) -> None:
    """Replace ``node`` by the same layer in f64 on its exactly dequantized inputs (the exact form)."""
    stem = layer_name(node)
    real_inputs = [_shared_input(node, q, scope, stem, shared, _dequantized_input) for q in quantized]
    layer = build(node.type, real_inputs + [p.source for p in node.inputs[2:]], dict(node.attrs),
                  name=node.name, opset=node.opset)
    layer.rt_info = node.rt_info
    _round_into(node, layer.outputs[0], scope, stem)


def _round_into(node: Node, result: Output, scope: NameScope, stem: str) -> None:
    """Let the consumers of ``node`` read ``result`` (f64) rounded once to the layer's type."""
    original = node.outputs[0]
    result = build("Convert", [result], {"destination_type": original.etype},
                   name=scope.make(f"{stem}/to_{original.etype.name}")).outputs[0]
    original.replace_uses(result, keep_names=True)


def _shared_input(node: Node, q: InputQuantization, scope: NameScope, stem: str, shared: dict[tuple, Output],
                  make) -> Output:
    """``make(node, q, scope, stem)``, built once for all layers quantizing the same activation the same way."""
    if q.values is not None:
        return make(node, q, scope, stem)
    key = (id(q.source), q.precision, q.levels, q.port, q.zero_point_after,
           *(np.asarray(a, np.float64).tobytes() for a in (*q.input_range, q.zero_point, q.scale)))
    if key not in shared:
        shared[key] = make(node, q, scope, stem)
    return shared[key]


def _quantized_activation(q: InputQuantization, scope: NameScope, stem: str) -> Output:
    """FakeQuantize of the activation onto the integer interval of its precision (f32 integers)."""
    lo, hi = INTERVALS[(q.precision, q.levels)]
    dtype = q.source.etype.dtype
    limits = [np.asarray(v, dtype) for v in (*q.input_range, lo, hi)]
    return build("FakeQuantize", [q.source] + [_const(v, scope, f"{stem}/quantize_{q.port}/range") for v in limits],
                 {"levels": q.levels, "auto_broadcast": "numpy"}, name=scope.make(f"{stem}/quantize_{q.port}")).outputs[0]


def _dequantized_input(node: Node, q: InputQuantization, scope: NameScope, stem: str) -> Output:
    """Input ``q.port`` as the real values ``(q - zp) · s`` in f64 (exact: 8-bit integers times f64 scales)."""
    rank = len(node.inputs[q.port].source.shape or ())
    if q.values is not None:
        return _const((q.values - q.zero_point) * q.scale, scope, f"{stem}/weights_{q.port}")
    value = build("Convert", [_quantized_activation(q, scope, stem)], {"destination_type": types.f64},
                  name=scope.make(f"{stem}/input_{q.port}/f64")).outputs[0]
    if q.zero_point.any():
        value = build("Subtract", [value, _const(_aligned(q.zero_point, rank), scope, f"{stem}/zero_point_{q.port}")],
                      name=scope.make(f"{stem}/input_{q.port}/shift")).outputs[0]
    return build("Multiply", [value, _const(_aligned(q.scale, rank), scope, f"{stem}/scale_{q.port}")],
                 name=scope.make(f"{stem}/input_{q.port}/dequantize")).outputs[0]


def _integer_input(node: Node, q: InputQuantization, scope: NameScope, stem: str) -> Output:
    if q.values is not None:
        etype = types.parse_type(q.precision)
        data = _const(q.values.astype(etype.dtype), scope, f"{stem}/weights_{q.port}")
    else:
        data = build("Convert", [_quantized_activation(q, scope, stem)], {"destination_type": types.parse_type(q.precision)},
                     name=scope.make(f"{stem}/quantize_{q.port}/{q.precision}")).outputs[0]
    value = build("Convert", [data], {"destination_type": types.i32}, name=scope.make(f"{stem}/input_{q.port}/i32")).outputs[0]
    if q.zero_point.any() and not q.zero_point_after:
        rank = len(node.inputs[q.port].source.shape or ())
        if q.values is None:
            zero_point = _aligned(q.zero_point, rank)
        else:  # one zero point per output channel (checked by _granularity)
            op = lookup(node.type, node.opset)
            axes = op.weight_channel_axes(op.resolved_attrs(node.attrs, node.name))
            zero_point = _reduced(q.zero_point, {a % q.zero_point.ndim for a in axes}, exact=True)
        value = build("Subtract", [value, _const(zero_point.astype(np.int32), scope, f"{stem}/zero_point_{q.port}")],
                      name=scope.make(f"{stem}/input_{q.port}/shift")).outputs[0]
    return value


def _zero_point_correction(node: Node, attrs: dict, quantized: list[InputQuantization]) -> np.ndarray:
    """``zp · Σ_K B`` for a MatMul whose input 0 keeps its zero point: one value per output column."""
    weights = quantized[1].values.astype(np.float64)
    if weights.ndim == 1:
        return quantized[0].zero_point.reshape(()) * weights.sum()
    column_sums = weights.sum(axis=-1 if attrs["transpose_b"] else -2, keepdims=True)
    if attrs["transpose_b"]:
        column_sums = np.swapaxes(column_sums, -1, -2)
    return _aligned(quantized[0].zero_point.reshape(()) * column_sums, len(node.outputs[0].shape))


def _output_scale(node: Node, attrs: dict, quantized: list[InputQuantization]) -> np.ndarray:
    """``s_0 · s_1`` laid out along the layer's output (one value per output channel or column)."""
    out_rank = len(node.outputs[0].shape)
    op = lookup(node.type, node.opset)
    x, w = quantized
    if node.type == "MatMul":
        factors = []
        for q in quantized:
            rank = len(node.inputs[q.port].source.shape)
            scale = _aligned(q.scale, rank)
            if q.values is not None:
                scale = _reduced(scale, {a % rank for a in op.weight_channel_axes(attrs)})
            if rank == 1:
                scale = scale.reshape(())
            elif attrs["transpose_a" if q.port == 0 else "transpose_b"]:
                scale = np.swapaxes(scale, -1, -2)
            factors.append(scale)
        return _aligned(factors[0] * factors[1], out_rank)
    channel_axes = [a % w.scale.ndim for a in op.weight_channel_axes(attrs)]
    per_channel = _reduced(w.scale, set(channel_axes))
    weights = np.moveaxis(per_channel, channel_axes, range(len(channel_axes))).reshape(-1)
    activation = _aligned(x.scale, out_rank).reshape(-1)
    if activation.size > 1:  # per group (GroupConvolution): one value per input channel, constant in a group
        groups = w.values.shape[0]
        activation = np.repeat(activation.reshape(groups, -1)[:, 0], weights.size // groups)
    return (activation * weights).reshape((1, -1) + (1,) * (out_rank - 2))


# ---------------------------------------------------------------- helpers

def _aligned(a: np.ndarray, rank: int) -> np.ndarray:
    """``a`` with leading unit axes up to ``rank`` (numpy broadcasting's right alignment)."""
    a = np.asarray(a)
    return a.reshape((1,) * (rank - a.ndim) + a.shape) if a.ndim < rank else a


def _reduced(a: np.ndarray, keep: set[int], *, exact: bool = False) -> np.ndarray | None:
    """``a`` with the axes outside ``keep`` reduced to size 1, if it is constant along them."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a
    first = a[tuple(slice(None) if i in keep else slice(0, 1) for i in range(a.ndim))]
    same = np.array_equal(np.broadcast_to(first, a.shape), a) if exact else np.allclose(
        np.broadcast_to(first, a.shape), a, rtol=1e-6, atol=0)
    return first if same else None


def _path(out: Output, end: Output) -> list[Node]:
    """The nodes from ``end`` (exclusive) to ``out`` (inclusive), in data-flow order."""
    nodes = []
    while out is not end:
        nodes.append(out.node)
        out = out.node.inputs[0].source
    return nodes[::-1]


def _carry(path: list[Node], value: np.ndarray) -> np.ndarray:
    """``value`` moved through the ops of ``path`` (Reshape, Transpose ...) as the weights are;
    float casts leave values as they are."""
    for node in path:
        if node.type == "Convert":
            continue
        value = _evaluate(node, value, [fold_constant(p.source) for p in node.inputs[1:]])
    return value


def _evaluate(node: Node, value: np.ndarray, rest: list[np.ndarray]) -> np.ndarray:
    op = lookup(node.type, node.opset)
    return op.evaluate(value, *rest, **op.resolved_attrs(node.attrs, node.name))[0]


def _other_input(node: Node, producer: Node) -> Output:
    return next(p.source for p in node.inputs if p.source.node is not producer)


def _const(value: np.ndarray, scope: NameScope, name: str) -> Output:
    return make_constant(np.ascontiguousarray(value), name=scope.make(name)).outputs[0]
