"""Constants as ONNX initializers; weights in low precision as integers + ``DequantizeLinear``.

A weight stored compressed (``Const(i8|u8|i4|u4) → Convert → [Subtract] → Multiply → [Reshape]``)
or quantized by a FakeQuantize on a constant becomes an integer initializer read through a
``DequantizeLinear``: per-tensor, per-axis (``axis``) or, for group-wise scales, blocked
(``block_size``, ONNX opset 21). Any other constant is folded to its value. Layers that need
their weights in another layout (grouped convolutions, transposed MatMul operands) transform the
integers and their scales together, so the weight stays compressed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import gcd

import numpy as np

from lpir.io.onnx.emit import EmitContext
from lpir.ir import qparams, types
from lpir.ir.dequantization import dequantization_ending_at
from lpir.ir.graph import Output
from lpir.ir.types import ElementType

# Compressed types ONNX's DequantizeLinear reads as integers.
_INTEGER_WEIGHTS = (types.i8, types.u8, types.i4, types.u4)
# Ops between a weight and its layer that only move its elements.
_LAYOUT_OPS = ("Reshape", "Transpose", "Convert")


@dataclass(frozen=True)
class QuantizedWeight:
    """Integers ``data`` of ``etype`` whose values are ``(data - zero_point) * scale``.

    ``scale`` and ``zero_point`` have data's rank (size-1 axes broadcast).
    """

    data: np.ndarray
    etype: ElementType
    scale: np.ndarray
    zero_point: np.ndarray | None

    def transformed(self, move: Callable[[np.ndarray], np.ndarray], *, keeps_axes: bool) -> QuantizedWeight:
        """The weight after ``move`` (a reshape or transpose of its elements). ``keeps_axes``: the
        move maps axes to axes (a transpose), so broadcast scales move as they are."""
        def params(a):
            if a is None:
                return None
            return move(a) if keeps_axes else move(np.broadcast_to(a, self.data.shape))
        return QuantizedWeight(move(self.data), self.etype, params(self.scale), params(self.zero_point))


def emit_constant(ctx: EmitContext, output: Output) -> str:
    """Write a constant output: compressed weights through DequantizeLinear, the rest folded."""
    weight = quantized_weight(ctx, output)
    base = output.names[0] if output.names else output.node.name
    written = None if weight is None else emit_dequantize(ctx, weight, base, output)
    if written is not None:
        return written
    value = ctx.value(output)
    etype = output.etype if output.etype in (types.f16, types.bf16) or not output.etype.is_float else types.f32
    if etype is types.dynamic or etype.name in ("nf4", "f4e2m1"):
        etype = types.f32
    return ctx.initializer(np.asarray(value).astype(etype.dtype, copy=False), base, etype)


def weight_input(ctx: EmitContext, output: Output, move: Callable[[np.ndarray], np.ndarray] | None = None,
                 *, keeps_axes: bool = True) -> str | None:
    """The ONNX name of a layer's weight, laid out by ``move``; None when ``move`` is needed but the
    weight is computed at run time (the caller then writes the move as ONNX nodes)."""
    if move is None:
        return ctx.name(output)
    if not ctx.is_constant(output):
        return None
    base = output.names[0] if output.names else output.node.name
    weight = quantized_weight(ctx, output)
    written = None if weight is None else emit_dequantize(ctx, weight.transformed(move, keeps_axes=keeps_axes),
                                                          base, output)
    if written is not None:
        return written
    value = np.asarray(ctx.value(output))
    etype = types.f32 if output.etype.is_float and output.etype is not types.f16 else output.etype
    return ctx.initializer(move(value).astype(etype.dtype, copy=False), base, etype)


def quantized_weight(ctx: EmitContext, output: Output) -> QuantizedWeight | None:
    """The integers behind a constant ``output``, looking back through layout ops; None when it is
    not a compressed or FakeQuantize'd weight."""
    moves = []
    while output.node.type in _LAYOUT_OPS and dequantization_ending_at(output) is None:
        node = output.node
        if node.type == "Convert" and not (node.inputs[0].source.etype.is_float and output.etype.is_float):
            return None
        moves.append((node, output))
        output = node.inputs[0].source
    weight = _base_weight(ctx, output)
    if weight is None:
        return None
    for node, moved in reversed(moves):
        if node.type == "Reshape":
            shape = tuple(int(d) for d in moved.shape)
            weight = weight.transformed(lambda a, s=shape: a.reshape(s), keeps_axes=False)
        elif node.type == "Transpose":
            perm = [int(p) for p in ctx.value(node.inputs[1].source)]
            perm = perm or list(range(weight.data.ndim))[::-1]
            weight = weight.transformed(lambda a, p=perm: np.transpose(a, p), keeps_axes=True)
    return weight


def _base_weight(ctx: EmitContext, output: Output) -> QuantizedWeight | None:
    if output.node.type == "FakeQuantize":
        return _fake_quantized(ctx, output)
    dq = dequantization_ending_at(output)
    if dq is None or not ctx.is_constant(dq.data) or dq.data.etype not in _INTEGER_WEIGHTS:
        return None
    data = np.asarray(ctx.value(dq.data))
    scale_port = next(p for p in dq.multiply.inputs if p.source.node is not (dq.subtract or dq.convert))
    scale = np.asarray(ctx.value(scale_port.source), np.float32)
    zero_point = None
    if dq.subtract is not None:
        zp = np.asarray(ctx.value(dq.subtract.inputs[1].source))
        zero_point = np.rint(zp).astype(data.dtype)
    weight = QuantizedWeight(data, dq.data.etype, _rank(scale, data.ndim), _rank(zero_point, data.ndim))
    if dq.reshape is not None:
        shape = tuple(int(d) for d in dq.reshape.outputs[0].shape)
        weight = weight.transformed(lambda a: a.reshape(shape), keeps_axes=False)
    return weight


def _fake_quantized(ctx: EmitContext, output: Output) -> QuantizedWeight | None:
    node = output.node
    values = [ctx.value(p.source) for p in node.inputs]
    if any(v is None for v in values):
        return None
    levels = int(node.attrs["levels"])
    try:
        form = qparams.fake_quantize_to_qdq(*values[1:], levels)
    except ValueError:
        return None  # folded to float: the same values, uncompressed
    quantized = ctx.value(output)
    data = qparams.quantize_values(quantized, form.dequantize, levels)
    rank = data.ndim
    zero_point = _rank(form.dequantize.zero_point.astype(data.dtype), rank)
    return QuantizedWeight(data, form.etype, _rank(form.dequantize.scale, rank),
                           None if not np.any(zero_point) else zero_point)


def _rank(value: np.ndarray | None, rank: int) -> np.ndarray | None:
    if value is None:
        return None
    value = np.asarray(value)
    if value.ndim > rank:
        value = value.reshape(value.shape[value.ndim - rank:])
    return value.reshape((1,) * (rank - value.ndim) + value.shape)


def emit_dequantize(ctx: EmitContext, weight: QuantizedWeight, base: str, output: Output) -> str | None:
    """An integer initializer and the DequantizeLinear that reads it back as f32; None when its
    scales are neither per tensor, per axis nor blocked (the caller writes the float values)."""
    try:
        scale, zero_point, axis, block = _granularity(weight)
    except ValueError:
        return None
    if block is not None:
        ctx.require(21, f"{_label(output)}: group-wise weights (DequantizeLinear block_size)")
    if weight.etype.bits == 4:
        ctx.require(21, f"{_label(output)}: 4-bit weights ({weight.etype.name})")
    data = ctx.initializer(weight.data, f"{base}/quantized", weight.etype)
    inputs = [data, ctx.initializer(scale, f"{base}/scale", types.f32)]
    if zero_point is not None:
        inputs.append(ctx.initializer(zero_point.astype(weight.etype.dtype), f"{base}/zero_point", weight.etype))
    name = ctx.add("DequantizeLinear", inputs, name=f"{base}/dequantize",
                   axis=axis if axis is not None and scale.ndim >= 1 else None, block_size=block)[0]
    if block is None:
        ctx.weight_scales[name] = (scale, axis)
    return name


def _label(output: Output) -> str:
    return f"weight '{output.node.name}'"


def _granularity(weight: QuantizedWeight) -> tuple[np.ndarray, np.ndarray | None, int | None, int | None]:
    """(scale, zero point, axis, block size) in the smallest ONNX form that holds the scales."""
    shape = weight.data.shape
    params = [weight.scale] + ([weight.zero_point] if weight.zero_point is not None else [])
    params = [_squeeze_constant_axes(np.broadcast_to(p, np.broadcast_shapes(*(q.shape for q in params))))
              for p in params]
    varying = [a for a, d in enumerate(params[0].shape) if d != 1]
    zero_point = params[1] if len(params) > 1 else None
    if not varying:
        return params[0].reshape(()), None if zero_point is None else zero_point.reshape(()), None, None
    if len(varying) == 1:
        axis = varying[0]
        return (params[0].reshape(-1), None if zero_point is None else zero_point.reshape(-1), axis, None)
    for axis in varying:
        block = _block_size([np.broadcast_to(p, shape) for p in params], axis)
        if block > 1:
            take = np.arange(0, shape[axis], block)
            full = [np.take(np.broadcast_to(p, shape), take, axis=axis) for p in params]
            return full[0], full[1] if len(full) > 1 else None, axis, block
    raise ValueError(f"scales vary along axes {varying} of a weight of shape {list(shape)}: "
                     "neither per-axis nor blocked")


def _squeeze_constant_axes(value: np.ndarray) -> np.ndarray:
    """Collapse axes along which ``value`` does not change to size 1."""
    for axis in range(value.ndim):
        if value.shape[axis] > 1:
            first = np.take(value, [0], axis=axis)
            if np.array_equal(value, np.broadcast_to(first, value.shape)):
                value = first
    return np.ascontiguousarray(value)


def _block_size(params: list[np.ndarray], axis: int) -> int:
    """The length of the runs of equal parameters along ``axis`` (1 when there is none)."""
    length = params[0].shape[axis]
    changes = np.zeros(length - 1, dtype=bool)
    for p in params:
        diff = np.diff(p, axis=axis) != 0
        changes |= np.any(diff, axis=tuple(a for a in range(p.ndim) if a != axis))
    block = length
    for position in np.flatnonzero(changes) + 1:
        block = gcd(block, int(position))
    if block <= 1:
        return 1
    take = np.arange(0, length, block)
    for p in params:
        if not np.array_equal(np.repeat(np.take(p, take, axis=axis), block, axis=axis)[tuple(
                slice(None) if a != axis else slice(0, length) for a in range(p.ndim))], p):
            return 1
    return block
