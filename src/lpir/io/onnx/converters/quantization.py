"""QuantizeLinear / DequantizeLinear, imported as OpenVINO's ONNX frontend does.

QuantizeLinear becomes ``Convert(FakeQuantize(x, in_low, in_high, out_low, out_high, levels))``
with the output bands the integer range of the zero point's type, ``in_low = scale * (out_low -
zp)``, ``in_high = scale * (out_high - zp)`` and ``levels = 2^bits``; DequantizeLinear becomes
``Multiply(Subtract(Convert(x), Convert(zp)), scale)``. Per-axis scales and zero points are
reshaped to broadcast along ``axis``; blocked ones (``block_size``) are gathered over their blocks.

FakeQuantize rounds ``(x - in_low) / step`` while ONNX rounds ``x / scale`` and then adds the
zero point; both round half to even, so the two may differ by one quantum at exact ties.
"""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter, element_type
from lpir.io.onnx.converters.elementwise import saturated_float8
from lpir.ir import types
from lpir.ir.graph import Output
from lpir.ir.qparams import scale_to_range
from lpir.ir.types import ElementType
from lpir.ops import static_value

# Zero-point types ONNX Runtime and OpenVINO's frontend quantize to (and u2, f4e2m1, which
# OpenVINO's element types have); the integer ones' bands are the types' ranges, the float8 and
# float4 ones are rounded to and saturated.
_ZERO_POINT_TYPES = (types.i8, types.u8, types.i16, types.u16, types.u2, types.i4, types.u4,
                     types.f8e4m3, types.f8e5m2, types.f4e2m1)


def _axis(ctx: NodeContext, rank: int) -> int:
    axis = ctx.attr("axis", 1)
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise ctx.fail(f"axis {ctx.attr('axis', 1)} is out of range for an input of rank {rank}")
    return axis


def _blocks_expanded(ctx: NodeContext, x: Output, param: Output | None, suffix: str) -> Output | None:
    """Blocked quantization (block_size > 0): the scale or zero point holds one value per run of
    block_size elements along ``axis``; each value is gathered over its run so that the
    parameter broadcasts like ``x``."""
    block = ctx.attr("block_size", 0)
    if not block or param is None:
        return param
    rank = ctx.rank(x)
    axis = _axis(ctx, rank)
    length = x.shape[axis]
    if not isinstance(length, int):
        raise ctx.fail(f"blocked quantization needs a static size of axis {axis}, got {list(x.shape)}")
    blocks = -(-length // block)
    if param.shape is None or len(param.shape) != rank or param.shape[axis] not in (blocks,) and \
            isinstance(param.shape[axis], int):
        raise ctx.fail(f"{suffix} of shape {param.shape} does not hold {blocks} blocks of {block} along axis {axis} "
                       f"of the input {list(x.shape)}")
    index = ctx.const(np.arange(length, dtype=np.int64) // block, f"{suffix}_block_of")
    return ctx.op("Gather", param, index, ctx.const(np.int64(axis), f"{suffix}_axis"), opset=8,
                  suffix=f"{suffix}_blocks")


def _per_axis_shape(ctx: NodeContext, x: Output, param: Output) -> list[int] | None:
    """The broadcast shape for a 1-D per-axis parameter, or None when it is per-tensor."""
    shape = param.shape
    if shape is None or len(shape) == 0 or (len(shape) == 1 and shape[0] == 1) or ctx.attr("block_size", 0):
        return None  # per tensor, or blocks already expanded to the input's shape
    if len(shape) != 1:
        raise ctx.fail(f"scale/zero point of shape {list(shape)} is neither per-tensor nor per-axis")
    rank = ctx.rank(x)
    axis = _axis(ctx, rank)
    length = x.shape[axis]
    if isinstance(length, int) and isinstance(shape[0], int) and length != shape[0]:
        raise ctx.fail(f"{shape[0]} scale/zero-point values for axis {axis} of size {length}")
    target = [1] * rank
    target[axis] = -1
    return target


def _broadcastable(ctx: NodeContext, x: Output, param: Output, suffix: str) -> Output:
    target = _per_axis_shape(ctx, x, param)
    if target is None:
        return param
    return ctx.op("Reshape", param, ctx.const(np.asarray(target, dtype=np.int64), f"{suffix}_shape"),
                  special_zero=False, suffix=suffix)


def _zero_point_type(ctx: NodeContext, zero_point: Output | None) -> ElementType:
    """The quantized type: the zero point's, else ``output_dtype`` (opset 21), else u8."""
    if zero_point is not None:
        etype = zero_point.etype
    elif ctx.attr("output_dtype", 0):
        etype = element_type(ctx.attr("output_dtype", 0), f"ONNX node '{ctx.name}'")
    else:
        etype = types.u8
    if etype not in _ZERO_POINT_TYPES:
        raise ctx.fail(f"zero point of type {etype.name} is not supported (one of "
                       f"{', '.join(t.name for t in _ZERO_POINT_TYPES)})")
    return etype


def _as_f32(ctx: NodeContext, value: Output, suffix: str) -> Output:
    if value.etype is types.f32:
        return value
    return ctx.op("Convert", value, destination_type=types.f32, suffix=suffix)


@converter("QuantizeLinear", emits=("FakeQuantize", "Convert", "Multiply", "Subtract", "Reshape", "Gather", "Divide",
                                    "Add", "Clamp"))
def _quantize(ctx: NodeContext) -> Output:
    x = _as_f32(ctx, ctx.input(0), "x_f32")
    scale = _blocks_expanded(ctx, x, ctx.input(1), "scale")
    zero_point = _blocks_expanded(ctx, x, ctx.optional_input(2), "zero_point")
    target = _zero_point_type(ctx, zero_point)
    if target.is_float or target is types.f4e2m1:
        return _quantize_to_float8(ctx, x, scale, zero_point, target)
    low, high = target.min, target.max
    band_shape = _band_shape(x)
    out_low = ctx.const(np.full(band_shape, low, dtype=np.float32), "output_low")
    out_high = ctx.const(np.full(band_shape, high, dtype=np.float32), "output_high")
    in_low, in_high = _input_bands(ctx, x, scale, zero_point, low, high)
    fq = ctx.op("FakeQuantize", x, in_low, in_high, out_low, out_high, levels=1 << target.bits,
                auto_broadcast="numpy", suffix="fq")
    return ctx.op("Convert", fq, destination_type=target)


def _quantize_to_float8(ctx: NodeContext, x: Output, scale: Output, zero_point: Output | None,
                        target: ElementType) -> Output:
    """float8/float4 quantization: x / scale (+ zero point, 0 by the spec) rounded to the nearest
    value of the type, float8 saturated to its largest finite value unless saturate=0 (float4
    has no infinity: Convert saturates it)."""
    values = ctx.op("Divide", x, _broadcastable(ctx, x, _as_f32(ctx, scale, "scale_f32"), "scale"), suffix="scaled")
    if zero_point is not None:
        values = ctx.op("Add", values, _broadcastable(ctx, x, _as_f32(ctx, zero_point, "zero_point_f32"), "zero_point"),
                        suffix="shifted")
    return ctx.op("Convert", saturated_float8(ctx, values, target), destination_type=target)


def _band_shape(x: Output) -> list[int]:
    """Per-tensor limits as [1], or as a scalar for scalar data (limits may not raise the rank)."""
    return [] if x.shape is not None and len(x.shape) == 0 else [1]


def _input_bands(ctx: NodeContext, x: Output, scale_in: Output, zero_point: Output | None, low: int,
                 high: int) -> tuple[Output, Output]:
    """scale * (band - zp), folded to constants when scale and zero point are known."""
    scale = static_value(scale_in)
    zp = static_value(zero_point) if zero_point is not None else np.zeros((), np.float32)
    if scale is not None and zp is not None:
        target = _per_axis_shape(ctx, x, scale_in) or (list(scale.shape) if scale.ndim > 1 else _band_shape(x))
        zp_target = _per_axis_shape(ctx, x, zero_point) if zero_point is not None else None
        zp_target = zp_target or (list(zp.shape) if zp.ndim > 1 else _band_shape(x))
        in_low, in_high = scale_to_range(scale.reshape(target), zp.reshape(zp_target), low, high)
        return ctx.const(in_low, "input_low"), ctx.const(in_high, "input_high")
    scale_out = _broadcastable(ctx, x, _as_f32(ctx, scale_in, "scale_f32"), "scale")
    zp_out = ctx.const(np.zeros(1, np.float32), "zero_point") if zero_point is None else \
        _broadcastable(ctx, x, _as_f32(ctx, zero_point, "zero_point_f32"), "zero_point")
    bands = []
    for name, band in (("input_low", low), ("input_high", high)):
        shifted = ctx.op("Subtract", ctx.const(np.array([band], np.float32), f"{name}_band"), zp_out, suffix=f"{name}_sub")
        bands.append(ctx.op("Multiply", scale_out, shifted, suffix=name))
    # (limits computed at run time keep their own broadcast shapes)
    return bands[0], bands[1]


@converter("DequantizeLinear", emits=("Convert", "Subtract", "Multiply", "Reshape", "Gather"))
def _dequantize(ctx: NodeContext) -> Output:
    x = ctx.input(0)
    scale, zero_point = _blocks_expanded(ctx, x, ctx.input(1), "scale"), _blocks_expanded(ctx, x, ctx.optional_input(2), "zero_point")
    scale_type = scale.etype
    values = ctx.op("Convert", x, destination_type=scale_type, suffix="convert")
    if zero_point is not None:
        zp = ctx.op("Convert", zero_point, destination_type=scale_type, suffix="zero_point_convert")
        values = ctx.op("Subtract", values, _broadcastable(ctx, x, zp, "zero_point"), suffix="subtract")
    return ctx.op("Multiply", values, _broadcastable(ctx, x, scale, "scale"))
