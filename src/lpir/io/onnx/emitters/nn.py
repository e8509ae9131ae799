"""Layers: convolutions and MatMul (biases folded in), normalisations, pooling, Softmax, Interpolate.

ONNX Runtime turns ``DequantizeLinear → Conv/MatMul/Gemm → QuantizeLinear`` into one integer
kernel only when the bias is inside the Conv/Gemm, so a bias ``Add`` that follows a layer is
absorbed into it. When both the input and the weights come through DequantizeLinear, the bias is
written as int32 in the scale ``input_scale * weight_scale``, the form the integer kernels take.
"""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.emit import EmitContext, emitter
from lpir.io.onnx.emitters.weights import weight_input
from lpir.ir import qparams, types
from lpir.ir.graph import Node, Output

_AUTO_PAD = {"explicit": "NOTSET", "notset": "NOTSET", "valid": "VALID", "same_upper": "SAME_UPPER",
             "same_lower": "SAME_LOWER"}


def _window(ctx: EmitContext, node: Node, *, dilations: bool = True) -> dict:
    attrs = node.attrs
    auto_pad = str(attrs.get("auto_pad", "explicit")).lower()
    if auto_pad not in _AUTO_PAD:
        raise ctx.fail(node, f"auto_pad {auto_pad!r} has no ONNX form")
    result = {"strides": list(attrs["strides"]), "auto_pad": _AUTO_PAD[auto_pad]}
    if result["auto_pad"] == "NOTSET":
        result["pads"] = list(attrs["pads_begin"]) + list(attrs["pads_end"])
    if dilations and attrs.get("dilations"):
        result["dilations"] = list(attrs["dilations"])
    return result


def foldable_bias(ctx: EmitContext, output: Output, channels: int, axis: int) -> tuple[np.ndarray, Node] | None:
    """(bias values, the Add) when ``output``'s only consumer adds a constant along ``axis`` only."""
    if len(output.consumers) != 1 or output.shape is None:
        return None
    add = output.consumers[0].node
    if add.type != "Add" or add.attrs.get("auto_broadcast", "numpy") != "numpy":
        return None
    other = add.inputs[1 - output.consumers[0].index].source
    value = ctx.value(other)
    rank = len(output.shape)
    if value is None or value.size != channels or value.ndim > rank or not value.dtype.kind == "f":
        return None
    shape = (1,) * (rank - value.ndim) + value.shape
    if channels > 1 and shape[axis] != channels:
        return None
    return value.reshape(-1).astype(np.float32), add


def bias_input(ctx: EmitContext, bias: np.ndarray, x_name: str, w_name: str, base: str) -> str:
    """The bias of a Conv/Gemm: int32 through DequantizeLinear when input and weights are quantized
    per tensor / per output channel, else float."""
    x_scale = ctx.activation_scales.get(x_name)
    w = ctx.weight_scales.get(w_name)
    if x_scale is not None and w is not None and (w[1] in (None, 0) or np.size(w[0]) == 1):
        rounded = qparams.accumulator_bias(bias, x_scale, w[0])
        if rounded is not None:
            data = ctx.initializer(rounded[0], f"{base}/bias_quantized", types.i32)
            scale_name = ctx.initializer(rounded[1], f"{base}/bias_scale", types.f32)
            return ctx.add("DequantizeLinear", [data, scale_name], name=f"{base}/bias_dequantize", axis=0)[0]
    return ctx.initializer(bias, f"{base}/bias", types.f32)


def _output_after_bias(ctx: EmitContext, node: Node, channels: int, axis: int):
    folded = foldable_bias(ctx, node.outputs[0], channels, axis)
    if folded is None:
        return None, node.outputs[0]
    bias, add = folded
    ctx.absorb(add)
    return bias, add.outputs[0]


def _grouped_weights(ctx: EmitContext, node: Node):
    """(weights, static shape, group, move): grouped weights [G, A/G, ...] are [A, ...] in ONNX."""
    weights = node.inputs[1].source
    shape = weights.shape
    if shape is None or not all(isinstance(d, int) for d in shape):
        raise ctx.fail(node, "weights of unknown shape")
    if not node.type.startswith("Group"):
        return weights, shape, 1, None
    onnx_shape = (shape[0] * shape[1],) + tuple(shape[2:])
    return weights, shape, shape[0], lambda a: a.reshape(onnx_shape)


@emitter("Convolution", "GroupConvolution")
def _convolution(ctx: EmitContext, node: Node) -> None:
    weights, shape, group, move = _grouped_weights(ctx, node)
    w_name = weight_input(ctx, weights, move, keeps_axes=False)
    if w_name is None:  # weights computed at run time: reshape them in the graph
        target = ctx.initializer(np.asarray((-1,) + tuple(shape[2:]), np.int64), f"{node.name}/weights_shape")
        w_name = ctx.add("Reshape", [ctx.name(weights), target], name=f"{node.name}/weights")[0]
    channels = int(np.prod(shape[:2])) if group > 1 else shape[0]
    bias, output = _output_after_bias(ctx, node, channels, 1)
    x_name = ctx.name(node.inputs[0].source)
    inputs = [x_name, w_name]
    if bias is not None:
        inputs.append(bias_input(ctx, bias, x_name, w_name, node.name))
    ctx.add("Conv", inputs, ctx.output_name(output), name=node.name, group=group if group > 1 else None,
            kernel_shape=list(shape[-len(node.attrs["strides"]):]), **_window(ctx, node))


@emitter("ConvolutionBackpropData", "GroupConvolutionBackpropData")
def _transposed_convolution(ctx: EmitContext, node: Node) -> None:
    weights, shape, group, move = _grouped_weights(ctx, node)  # [G, Cin/G, Cout/G, k...] → [Cin, Cout/G, k...]
    w_name = weight_input(ctx, weights, move, keeps_axes=False)
    if w_name is None:
        raise ctx.fail(node, "grouped transposed convolution weights must be constant")
    spatial = len(node.attrs["strides"])
    attrs = _window(ctx, node)
    if node.attrs.get("output_padding"):
        attrs["output_padding"] = list(node.attrs["output_padding"])
    if len(node.inputs) > 2:
        attrs["output_shape"] = [int(v) for v in ctx.static(node.inputs[2].source, "output_shape")]
        attrs.pop("pads", None)
        if attrs["auto_pad"] == "NOTSET":
            attrs["auto_pad"] = "SAME_UPPER"
    channels = shape[-spatial - 1] * group
    bias, output = _output_after_bias(ctx, node, channels, 1)
    inputs = [ctx.name(node.inputs[0].source), w_name]
    if bias is not None:
        inputs.append(ctx.initializer(bias, f"{node.name}/bias", types.f32))
    ctx.add("ConvTranspose", inputs, ctx.output_name(output), name=node.name, group=group if group > 1 else None,
            kernel_shape=list(shape[-spatial:]), **attrs)


def _swap_last(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def _transposed(ctx: EmitContext, node: Node, name: str, rank: int | None, suffix: str) -> str:
    if rank is None:
        raise ctx.fail(node, "a transposed MatMul operand needs a known rank")
    perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    return ctx.add("Transpose", [name], name=f"{node.name}/{suffix}", perm=perm)[0]


@emitter("MatMul")
def _matmul(ctx: EmitContext, node: Node) -> None:
    a, b = node.inputs[0].source, node.inputs[1].source
    rank_a, rank_b = (len(v.shape) if v.shape is not None else None for v in (a, b))
    a_name = ctx.name(a)
    if node.attrs.get("transpose_a") and rank_a != 1:
        a_name = _transposed(ctx, node, a_name, rank_a, "transpose_a")
    if node.attrs.get("transpose_b") and rank_b != 1:
        b_name = weight_input(ctx, b, _swap_last, keeps_axes=True)
        if b_name is None:
            b_name = _transposed(ctx, node, ctx.name(b), rank_b, "transpose_b")
    else:
        b_name = ctx.name(b)
    out = node.outputs[0]
    if rank_a == 2 and rank_b == 2 and out.shape is not None and isinstance(out.shape[-1], int):
        bias, output = _output_after_bias(ctx, node, out.shape[-1], 1)
        if bias is not None:
            ctx.add("Gemm", [a_name, b_name, bias_input(ctx, bias, a_name, b_name, node.name)],
                    ctx.output_name(output), name=node.name)
            return
    ctx.add("MatMul", [a_name, b_name], ctx.output_name(out), name=node.name)


@emitter("BatchNormInference")
def _batch_norm(ctx: EmitContext, node: Node) -> None:
    order = (0, 1, 2, 3, 4) if node.opset >= 5 else (2, 0, 1, 3, 4)
    inputs = [ctx.name(node.inputs[i].source) for i in order]
    ctx.add("BatchNormalization", inputs, ctx.output_name(node.outputs[0]), name=node.name,
            epsilon=float(node.attrs["epsilon"]))


def _pool_attrs(ctx: EmitContext, node: Node, *, dilations: bool) -> dict:
    rounding = node.attrs.get("rounding_type", "floor")
    if rounding not in ("floor", "ceil"):
        raise ctx.fail(node, f"rounding_type {rounding!r} has no ONNX form")
    attrs = _window(ctx, node, dilations=dilations)
    attrs["kernel_shape"] = list(node.attrs["kernel"])
    attrs["ceil_mode"] = 1 if rounding == "ceil" else 0
    return attrs


@emitter("MaxPool")
def _max_pool(ctx: EmitContext, node: Node) -> None:
    if len(node.outputs) > 1 and node.outputs[1].consumers:
        raise ctx.fail(node, "MaxPool indices are laid out differently in ONNX; only the values can be exported")
    attrs = _pool_attrs(ctx, node, dilations=node.opset >= 8)
    ctx.add("MaxPool", [ctx.name(node.inputs[0].source)], ctx.output_name(node.outputs[0]), name=node.name, **attrs)


@emitter("AvgPool")
def _avg_pool(ctx: EmitContext, node: Node) -> None:
    attrs = _pool_attrs(ctx, node, dilations=False)
    attrs["count_include_pad"] = 0 if node.attrs.get("exclude-pad") else 1
    ctx.add("AveragePool", [ctx.name(node.inputs[0].source)], ctx.output_name(node.outputs[0]), name=node.name,
            **attrs)


@emitter("Softmax", "LogSoftmax")
def _softmax(ctx: EmitContext, node: Node) -> None:
    ctx.add(node.type, [ctx.name(node.inputs[0].source)], ctx.output_name(node.outputs[0]), name=node.name,
            axis=int(node.attrs.get("axis", 1)))


@emitter("MVN")
def _mvn(ctx: EmitContext, node: Node) -> None:
    """(x - mean) / sqrt(var + eps) (or / (sqrt(var) + eps)) over the axes, from ReduceMean."""
    x = node.inputs[0].source
    if node.opset >= 6:
        axes = [int(a) for a in ctx.static(node.inputs[1].source, "MVN axes")]
        inside = str(node.attrs.get("eps_mode", "inside_sqrt")).lower() == "inside_sqrt"  # OpenVINO writes it in capitals
    else:
        rank = len(x.shape)
        axes = list(node.attrs.get("reduction_axes") or range(1 if node.attrs.get("across_channels") else 2, rank))
        inside = True  # MVN-1 adds eps to the variance
    base = node.name
    x_name = ctx.name(x)
    mean = ctx.add("ReduceMean", [x_name], name=f"{base}/mean", axes=axes, keepdims=1)[0]
    centred = ctx.add("Sub", [x_name, mean], name=f"{base}/centred")[0]
    if not node.attrs.get("normalize_variance", True):
        ctx.bind(node.outputs[0], centred)
        return
    variance = ctx.add("ReduceMean", [ctx.add("Mul", [centred, centred], name=f"{base}/square")[0]],
                       name=f"{base}/variance", axes=axes, keepdims=1)[0]
    eps = ctx.initializer(np.asarray(node.attrs["eps"], np.float32), f"{base}/eps", types.f32)
    if inside:
        denominator = ctx.add("Sqrt", [ctx.add("Add", [variance, eps], name=f"{base}/add_eps")[0]], name=f"{base}/std")[0]
    else:
        denominator = ctx.add("Add", [ctx.add("Sqrt", [variance], name=f"{base}/std")[0], eps], name=f"{base}/add_eps")[0]
    ctx.add("Div", [centred, denominator], ctx.output_name(node.outputs[0]), name=base)


_RESIZE_MODES = {"nearest": "nearest", "linear_onnx": "linear", "linear": "linear", "cubic": "cubic"}


@emitter("Interpolate")
def _interpolate(ctx: EmitContext, node: Node) -> None:
    """Interpolate-4/11 → Resize with full-rank scales or sizes (axes folded in)."""
    attrs = node.attrs
    if node.opset < 4:
        raise ctx.fail(node, "Interpolate-1 is not exported (only Interpolate-4 and -11)")
    if any(attrs.get("pads_begin") or []) or any(attrs.get("pads_end") or []):
        raise ctx.fail(node, "Interpolate with pads has no ONNX form")
    mode = _RESIZE_MODES.get(attrs["mode"])
    if mode is None:
        raise ctx.fail(node, f"Interpolate mode {attrs['mode']!r} has no ONNX form")
    x = node.inputs[0].source
    rank = len(x.shape)
    by_scales = attrs.get("shape_calculation_mode") == "scales"
    target_index = (2 if by_scales else 1) if node.opset == 4 else 1
    target = ctx.static(node.inputs[target_index].source, "Interpolate scales/sizes")
    axes_index = 3 if node.opset == 4 else 2
    axes = (list(range(rank)) if len(node.inputs) <= axes_index else
            [int(a) % rank for a in ctx.static(node.inputs[axes_index].source, "Interpolate axes")])
    full = np.ones(rank, np.float32) if by_scales else np.asarray(x.shape, dtype=object)
    for axis, value in zip(axes, target):
        full[axis] = value
    onnx_attrs = {"mode": mode, "coordinate_transformation_mode": attrs.get("coordinate_transformation_mode", "half_pixel")}
    if mode == "nearest":
        onnx_attrs["nearest_mode"] = attrs.get("nearest_mode", "round_prefer_floor")
    if mode == "cubic":
        onnx_attrs["cubic_coeff_a"] = float(attrs.get("cube_coeff", -0.75))
    if attrs.get("antialias"):
        ctx.require(18, f"Interpolate '{node.name}' with antialias")
        onnx_attrs["antialias"] = 1
    x_name = ctx.name(x)
    if by_scales:
        inputs = [x_name, "", ctx.initializer(full.astype(np.float32), f"{node.name}/scales", types.f32)]
    else:
        if not all(isinstance(d, (int, np.integer)) for d in full):
            raise ctx.fail(node, "Interpolate to sizes on an input of dynamic shape")
        inputs = [x_name, "", "", ctx.initializer(full.astype(np.int64), f"{node.name}/sizes", types.i64)]
    ctx.add("Resize", inputs, ctx.output_name(node.outputs[0]), name=node.name, **onnx_attrs)


@emitter("Einsum")
def _einsum(ctx: EmitContext, node: Node) -> None:
    ctx.add("Einsum", [ctx.name(p.source) for p in node.inputs], ctx.output_name(node.outputs[0]), name=node.name,
            equation=node.attrs["equation"])


@emitter("ScaledDotProductAttention")
def _attention(ctx: EmitContext, node: Node) -> None:
    """softmax(Q Kᵀ · scale + mask) V, from MatMul, Softmax and a mask made additive."""
    q, k, v = (node.inputs[i].source for i in range(3))
    base = node.name
    if k.shape is None or q.shape is None:
        raise ctx.fail(node, "attention inputs need a known rank")
    rank = len(k.shape)
    key_t = ctx.add("Transpose", [ctx.name(k)], name=f"{base}/key_t",
                    perm=list(range(rank - 2)) + [rank - 1, rank - 2])[0]
    logits = ctx.add("MatMul", [ctx.name(q), key_t], name=f"{base}/logits")[0]
    if len(node.inputs) > 4:
        scale = ctx.name(node.inputs[4].source)
    else:
        depth = q.shape[-1]
        if not isinstance(depth, int):
            raise ctx.fail(node, "the default scale needs a static embedding size")
        scale = ctx.initializer(np.asarray(1.0 / np.sqrt(np.float32(depth)), np.float32), f"{base}/scale", types.f32)
    logits = ctx.add("Mul", [logits, scale], name=f"{base}/scaled")[0]
    bias = _attention_bias(ctx, node, q, k)
    if bias is not None:
        logits = ctx.add("Add", [logits, bias], name=f"{base}/masked")[0]
    weights = ctx.add("Softmax", [logits], name=f"{base}/softmax", axis=-1)[0]
    ctx.add("MatMul", [weights, ctx.name(v)], ctx.output_name(node.outputs[0]), name=base)


def _attention_bias(ctx: EmitContext, node: Node, q: Output, k: Output) -> str | None:
    if node.attrs.get("causal"):
        length, source = q.shape[-2], k.shape[-2]
        if not (isinstance(length, int) and isinstance(source, int)):
            raise ctx.fail(node, "a causal mask needs static query and key lengths")
        mask = np.triu(np.full((length, source), -np.inf, np.float32), k=1)
        return ctx.initializer(mask, f"{node.name}/causal_mask", types.f32)
    if len(node.inputs) < 4:
        return None
    mask = node.inputs[3].source
    if mask.etype is not types.boolean:
        return ctx.name(mask)
    zero = ctx.initializer(np.asarray(0.0, np.float32), f"{node.name}/zero", types.f32)
    minus_inf = ctx.initializer(np.asarray(-np.inf, np.float32), f"{node.name}/minus_inf", types.f32)
    return ctx.add("Where", [ctx.name(mask), zero, minus_inf], name=f"{node.name}/mask")[0]
