"""ONNX integer arithmetic: QLinearMatMul, MatMulInteger, ConvInteger, DynamicQuantizeLinear.

The integer products are computed in f32 on the zero-point-shifted values, which is exact while
every sum stays below 2**24 (8-bit operands, reductions of up to 256 terms); requantization
rounds half to even and saturates to the output type, as ONNX specifies.
"""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter
from lpir.ir import types
from lpir.ir.graph import Output
from lpir.ir.types import ElementType

_F32 = types.f32


def _shifted(ctx: NodeContext, value: Output, zero_point: Output | None, name: str) -> Output:
    """``value - zero_point`` in f32."""
    wide = ctx.op("Convert", value, destination_type=_F32, suffix=name)
    if zero_point is None:
        return wide
    point = ctx.op("Convert", zero_point, destination_type=_F32, suffix=f"{name}_zero_point")
    return ctx.op("Subtract", wide, point, suffix=f"{name}_shifted")


def _saturate(ctx: NodeContext, value: Output, etype: ElementType, suffix: str | None) -> Output:
    """Round half to even, clamp to ``etype``'s range, convert."""
    info = np.iinfo(etype.dtype)
    rounded = ctx.op("Round", value, opset=5, mode="half_to_even", suffix=f"{suffix or 'out'}_rounded")
    clamped = ctx.op("Clamp", rounded, min=float(info.min), max=float(info.max), suffix=f"{suffix or 'out'}_clamped")
    return ctx.op("Convert", clamped, destination_type=etype, suffix=suffix)


@converter("QLinearMatMul", emits=("Convert", "Subtract", "MatMul", "Multiply", "Divide", "Add", "Round", "Clamp"))
def _qlinear_matmul(ctx: NodeContext) -> Output:
    a = _shifted(ctx, ctx.input(0), ctx.input(2), "a")
    b = _shifted(ctx, ctx.input(3), ctx.input(5), "b")
    product = ctx.op("MatMul", a, b, transpose_a=False, transpose_b=False, suffix="product")
    scales = [ctx.op("Convert", ctx.input(i), destination_type=_F32, suffix=f"scale{i}") for i in (1, 4, 6)]
    factor = ctx.op("Divide", ctx.op("Multiply", scales[0], scales[1], suffix="scale_ab"), scales[2], suffix="factor")
    scaled = ctx.op("Multiply", product, factor, suffix="scaled")
    shifted = ctx.op("Add", scaled, ctx.op("Convert", ctx.input(7), destination_type=_F32, suffix="y_zero_point"),
                     suffix="shifted")
    return _saturate(ctx, shifted, ctx.input(7).etype, None)


@converter("MatMulInteger", emits=("Convert", "Subtract", "MatMul"))
def _matmul_integer(ctx: NodeContext) -> Output:
    a = _shifted(ctx, ctx.input(0), ctx.optional_input(2), "a")
    b = _shifted(ctx, ctx.input(1), ctx.optional_input(3), "b")
    product = ctx.op("MatMul", a, b, transpose_a=False, transpose_b=False, suffix="product")
    return ctx.op("Convert", product, destination_type=types.i32)


@converter("ConvInteger", emits=("Convert", "Subtract", "Reshape", "Convolution"))
def _conv_integer(ctx: NodeContext) -> Output:
    """Padding adds zeros after the shift (the input is padded with its zero point); weight zero
    points are per tensor or per output channel."""
    from lpir.io.onnx.converters.nn import _window_attrs

    if ctx.attr("group", 1) != 1:
        raise ctx.fail("ConvInteger with groups is not supported")
    x = _shifted(ctx, ctx.input(0), ctx.optional_input(2), "x")
    w_point = ctx.optional_input(3)
    spatial = len(ctx.attr("kernel_shape") or []) or ctx.rank(ctx.input(1)) - 2
    if w_point is not None and w_point.shape is not None and len(w_point.shape) == 1:
        target = ctx.const(np.asarray([-1] + [1] * (spatial + 1), dtype=np.int64), "w_point_shape")
        w_point = ctx.op("Reshape", w_point, target, special_zero=False, suffix="w_point_per_channel")
    weights = _shifted(ctx, ctx.input(1), w_point, "w")
    conv = ctx.op("Convolution", x, weights, suffix="conv", **_window_attrs(ctx, spatial))
    return ctx.op("Convert", conv, destination_type=types.i32)


@converter("DynamicQuantizeLinear", emits=("ReduceMin", "ReduceMax", "Minimum", "Maximum", "Subtract", "Divide",
                                           "Negative", "Round", "Clamp", "Convert", "Add"))
def _dynamic_quantize(ctx: NodeContext) -> list[Output]:
    """u8 with the range of x widened to include 0: scale = (max - min) / 255, zero point =
    saturate(round(-min / scale)), y = saturate(round(x / scale) + zero point)."""
    x = ctx.input(0)
    axes = ctx.const(np.arange(ctx.rank(x), dtype=np.int64), "axes")
    zero = ctx.const_like(0, x, "zero")
    low = ctx.op("Minimum", ctx.op("ReduceMin", x, axes, keep_dims=False, suffix="min"), zero, suffix="low")
    high = ctx.op("Maximum", ctx.op("ReduceMax", x, axes, keep_dims=False, suffix="max"), zero, suffix="high")
    scale = ctx.op("Divide", ctx.op("Subtract", high, low, suffix="range"), ctx.const_like(255, x, "levels"),
                   suffix="scale")
    point = _saturate(ctx, ctx.op("Divide", ctx.op("Negative", low, suffix="neg_low"), scale, suffix="point_f"),
                      types.u8, "zero_point")
    point_f = ctx.op("Convert", point, destination_type=x.etype, suffix="zero_point_f")
    y = _saturate(ctx, ctx.op("Add", ctx.op("Round", ctx.op("Divide", x, scale, suffix="scaled"), opset=5,
                                            mode="half_to_even", suffix="scaled_rounded"), point_f, suffix="shifted"),
                  types.u8, None)
    return [y, scale, point]
