"""Random generators: RandomUniform(Like), RandomNormal(Like) and Bernoulli over RandomUniform-8;
Multinomial over Multinomial-13.

They are built as OpenVINO's ONNX frontend builds them, so a model gives the same numbers in lpir
as in OpenVINO: the float ``seed`` becomes ``op_seed`` through its 32 bits (global_seed 0), a
normal draw is the Box-Muller transform of two uniform draws (the second seeded 10000 higher).
Without a seed OpenVINO draws a fresh sequence on every run, and so does lpir.
"""

from __future__ import annotations

import numpy as np
import onnx

from lpir.io.onnx.context import NodeContext, converter, element_type
from lpir.ir import types
from lpir.ir.graph import Output
from lpir.ir.types import ElementType

_SECOND_SEED_OFFSET = 10000
# Box-Muller's first draw starts at the smallest normal f32 so that its logarithm is finite.
_SMALLEST_NORMAL = np.finfo(np.float32).tiny
_FLOAT_TYPES = (types.f16, types.bf16, types.f32, types.f64)


def _op_seed(ctx: NodeContext) -> int:
    """The seed OpenVINO derives from ONNX's float seed: the bits of its f32 value (0: unseeded)."""
    return int(np.float32(ctx.attr("seed", 0.0)).view(np.uint32))


def _shape_and_type(ctx: NodeContext) -> tuple[Output, ElementType]:
    """The output shape (the ``shape`` attribute, or the input's shape for the ``*Like`` forms)
    and element type (``dtype``; for ``*Like`` the input's type by default)."""
    dtype = ctx.attr("dtype")
    if ctx.op_type.endswith("Like"):
        x = ctx.input(0)
        etype = x.etype if dtype is None else element_type(dtype, ctx.name)
        shape = ctx.op("ShapeOf", x, opset=3, output_type=types.i64, suffix="shape")
    else:
        etype = types.f32 if dtype is None else element_type(dtype, ctx.name)
        shape = ctx.const(np.asarray(ctx.attr("shape", required=True), dtype=np.int64).reshape(-1), "shape")
    if etype not in _FLOAT_TYPES:
        raise ctx.fail(f"{ctx.op_type} of {etype} is not supported (f16, bf16, f32, f64)")
    return shape, etype


def _uniform(ctx: NodeContext, shape: Output, low: Output, high: Output, etype: ElementType, seed: int,
             suffix: str | None = None) -> Output:
    return ctx.op("RandomUniform", shape, low, high, opset=8, suffix=suffix, output_type=etype, global_seed=0,
                  op_seed=seed)


def _scalar(ctx: NodeContext, value: float, etype: ElementType, suffix: str, shape: tuple[int, ...] = ()) -> Output:
    """A constant of ``etype`` holding the f32 value of ``value``, as the frontend makes it."""
    return ctx.const(np.full(shape, np.float32(value)).astype(etype.dtype), suffix)


@converter("RandomUniform", "RandomUniformLike", emits=("RandomUniform", "ShapeOf"))
def _random_uniform(ctx: NodeContext) -> Output:
    """RandomUniform-8 of ``[low, high)``."""
    shape, etype = _shape_and_type(ctx)
    low, high = _scalar(ctx, ctx.attr("low", 0.0), etype, "low"), _scalar(ctx, ctx.attr("high", 1.0), etype, "high")
    return _uniform(ctx, shape, low, high, etype, _op_seed(ctx))


@converter("RandomNormal", "RandomNormalLike",
           emits=("RandomUniform", "ShapeOf", "Log", "Sqrt", "Cos", "Multiply", "Add"))
def _random_normal(ctx: NodeContext) -> Output:
    """``scale * sqrt(-2 log u1) * cos(2 pi u2) + mean`` with u1, u2 uniform in [tiny, 1), in the
    frontend's order of operations (each a separate rounding)."""
    shape, etype = _shape_and_type(ctx)
    seed = _op_seed(ctx)
    low, high = _scalar(ctx, _SMALLEST_NORMAL, etype, "low", (1,)), _scalar(ctx, 1.0, etype, "high", (1,))
    first = _uniform(ctx, shape, low, high, etype, seed, "uniform_1")
    second = _uniform(ctx, shape, low, high, etype, seed + _SECOND_SEED_OFFSET if seed else 0, "uniform_2")
    radius = ctx.op("Sqrt", ctx.op("Multiply", ctx.op("Log", first, suffix="log"),
                                   _scalar(ctx, -2.0, etype, "minus_two", (1,)), suffix="minus_two_log"), suffix="radius")
    two_pi = ctx.op("Multiply", _scalar(ctx, 2.0, etype, "two", (1,)), _scalar(ctx, np.pi, etype, "pi", (1,)),
                    suffix="two_pi")
    cosine = ctx.op("Cos", ctx.op("Multiply", two_pi, second, suffix="angle"), suffix="cos")
    product = ctx.op("Multiply", _scalar(ctx, ctx.attr("scale", 1.0), etype, "scale", (1,)),
                     ctx.op("Multiply", radius, cosine, suffix="standard"), suffix="scaled")
    return ctx.op("Add", product, _scalar(ctx, ctx.attr("mean", 0.0), etype, "mean", (1,)))


@converter("Bernoulli", emits=("RandomUniform", "ShapeOf", "Less", "Convert"))
def _bernoulli(ctx: NodeContext) -> Output:
    """1 where a uniform draw in [0, 1) falls below the input probability, else 0, in ``dtype``
    (the input's type by default)."""
    p = ctx.input(0)
    if p.etype not in _FLOAT_TYPES:
        raise ctx.fail(f"Bernoulli of {p.etype} probabilities is not supported (f16, bf16, f32, f64)")
    dtype = ctx.attr("dtype")
    etype = p.etype if dtype is None else element_type(dtype, ctx.name)
    shape = ctx.op("ShapeOf", p, opset=3, output_type=types.i64, suffix="shape")
    draw = _uniform(ctx, shape, _scalar(ctx, 0.0, p.etype, "low"), _scalar(ctx, 1.0, p.etype, "high"), p.etype,
                    _op_seed(ctx), "uniform")
    return ctx.op("Convert", ctx.op("Less", draw, p, suffix="hit"), destination_type=etype)


@converter("Multinomial", emits=("Multinomial",))
def _multinomial(ctx: NodeContext) -> Output:
    """Multinomial-13 over the rows of unnormalised log-probabilities, with replacement; the
    seed's bits become global_seed, as OpenVINO's frontend sets them."""
    dtype = ctx.attr("dtype", int(onnx.TensorProto.INT32))
    etype = element_type(dtype, ctx.name)
    if etype not in (types.i32, types.i64):
        raise ctx.fail(f"Multinomial dtype {etype} is not supported (int32, int64)")
    samples = ctx.const(np.int64(ctx.attr("sample_size", 1)), "sample_size")
    return ctx.op("Multinomial", ctx.input(0), samples, opset=13, convert_type=etype, with_replacement=True,
                  log_probs=True, global_seed=_op_seed(ctx), op_seed=0)
