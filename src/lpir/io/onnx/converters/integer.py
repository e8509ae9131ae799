"""ONNX integer arithmetic: QLinearMatMul, QLinearConv, MatMulInteger, ConvInteger, DynamicQuantizeLinear.

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


def _integer_conv(ctx: NodeContext, x_zero_point: Output | None, w_index: int, w_zero_point: Output | None) -> Output:
    """The convolution of the zero-point-shifted input and weights, in f32 (grouped when
    ``group`` > 1). Padding adds zeros after the shift (the input is padded with its zero
    point); weight zero points are per tensor or per output channel."""
    from lpir.io.onnx.converters.nn import _reshape_static, _window_attrs

    x = _shifted(ctx, ctx.input(0), x_zero_point, "x")
    spatial = len(ctx.attr("kernel_shape") or []) or ctx.rank(ctx.input(w_index)) - 2
    weights = _shifted(ctx, ctx.input(w_index), _per_output_channel(ctx, w_zero_point, spatial, "w_point"), "w")
    groups = ctx.attr("group", 1)
    if groups == 1:
        return ctx.op("Convolution", x, weights, suffix="conv", **_window_attrs(ctx, spatial))
    return ctx.op("GroupConvolution", x, _reshape_static(ctx, weights, groups), suffix="conv",
                  **_window_attrs(ctx, spatial))


def _per_output_channel(ctx: NodeContext, value: Output | None, spatial: int, name: str) -> Output | None:
    """A 1-D per-output-channel parameter reshaped to [C_OUT, 1, ...] (per tensor: unchanged)."""
    if value is None or value.shape is None or len(value.shape) != 1:
        return value
    target = ctx.const(np.asarray([-1] + [1] * (spatial + 1), dtype=np.int64), f"{name}_shape")
    return ctx.op("Reshape", value, target, special_zero=False, suffix=f"{name}_per_channel")


@converter("ConvInteger", emits=("Convert", "Subtract", "Reshape", "Convolution", "GroupConvolution"))
def _conv_integer(ctx: NodeContext) -> Output:
    conv = _integer_conv(ctx, ctx.optional_input(2), 1, ctx.optional_input(3))
    return ctx.op("Convert", conv, destination_type=types.i32)


@converter("QLinearConv", emits=("Convert", "Subtract", "Reshape", "Convolution", "GroupConvolution", "Add",
                                 "Multiply", "Divide", "Round", "Clamp"))
def _qlinear_conv(ctx: NodeContext) -> Output:
    """y = saturate(round((conv(x - x_zp, w - w_zp) + B) * x_scale * w_scale / y_scale) + y_zp);
    B (i32) is in the product's scale; w_scale and w_zp may be per output channel."""
    conv = _integer_conv(ctx, ctx.input(2), 3, ctx.input(5))
    spatial = ctx.rank(ctx.input(3)) - 2
    bias = ctx.optional_input(8)
    if bias is not None:
        shape = ctx.const(np.asarray([1, -1] + [1] * spatial, dtype=np.int64), "bias_shape")
        wide = ctx.op("Convert", bias, destination_type=_F32, suffix="bias")
        conv = ctx.op("Add", conv, ctx.op("Reshape", wide, shape, special_zero=False, suffix="bias_per_channel"),
                      suffix="biased")
    w_scale = ctx.op("Convert", ctx.input(4), destination_type=_F32, suffix="w_scale")
    if w_scale.shape is not None and len(w_scale.shape) == 1:
        shape = ctx.const(np.asarray([1, -1] + [1] * spatial, dtype=np.int64), "w_scale_shape")
        w_scale = ctx.op("Reshape", w_scale, shape, special_zero=False, suffix="w_scale_per_channel")
    x_scale = ctx.op("Convert", ctx.input(1), destination_type=_F32, suffix="x_scale")
    y_scale = ctx.op("Convert", ctx.input(6), destination_type=_F32, suffix="y_scale")
    factor = ctx.op("Divide", ctx.op("Multiply", x_scale, w_scale, suffix="scale_xw"), y_scale, suffix="factor")
    scaled = ctx.op("Multiply", conv, factor, suffix="scaled")
    shifted = ctx.op("Add", scaled, ctx.op("Convert", ctx.input(7), destination_type=_F32, suffix="y_zero_point"),
                     suffix="shifted")
    return _saturate(ctx, shifted, ctx.input(7).etype, None)


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
