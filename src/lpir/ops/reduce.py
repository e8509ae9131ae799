"""Reductions (ReduceMean, ReduceSum, ReduceMax, ...) and CumSum.

Every ReduceX takes its axes as a second input (a scalar or 1-D integer tensor, negative axes
counted from the end, repeats ignored) and ``keep_dims``. Empty axes reduce over nothing: the
output is the input mapped elementwise (ReduceL1 of ``x`` over ``[]`` is ``|x|``). Float sums are accumulated in float64 and rounded once to the input type, which is
as close to OpenVINO's compensated (Kahan) summation as a single rounding allows; integer
reductions stay in the integer type, as OpenVINO's reference does.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from lpir.errors import ValidationError
from lpir.ir import types
from lpir.ir.shape import DYNAMIC, Shape
from lpir.ops.common import normalize_axis
from lpir.ops.registry import Attr, InferContext, Op, Traits, register


def reduction_axes(axes: np.ndarray | Iterable[int], rank: int, what: str = "axes") -> tuple[int, ...]:
    """Sorted, deduplicated non-negative axes; raises ValidationError on an out-of-range one."""
    flat = np.asarray(axes).reshape(-1)
    if flat.size and not np.issubdtype(flat.dtype, np.integer):
        raise ValidationError(f"{what} must be integers, got {flat.dtype} values {flat.tolist()}")
    return tuple(sorted({normalize_axis(int(a), rank, what) for a in flat}))


def reduced_shape(shape: Shape, axes: tuple[int, ...], keep_dims: bool) -> Shape:
    """``shape`` with ``axes`` reduced away (or to 1 when ``keep_dims``)."""
    if keep_dims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def infer_reduced(ctx: InferContext, axes_input: int, keep_dims: bool) -> Shape | None:
    """Output shape of a reduction over the axes held by input ``axes_input``."""
    shape = ctx.shape(0)
    axes_shape = ctx.shape(axes_input)
    if axes_shape is not None and len(axes_shape) > 1:
        raise ctx.fail(f"axes must be a scalar or 1-D, got shape {list(axes_shape)}")
    if not ctx.etype(axes_input).is_integral:
        raise ctx.fail(f"axes must be of an integer type, got {ctx.etype(axes_input)}")
    if shape is None:
        return None
    value = ctx.value(axes_input)
    if value is not None:
        try:
            return reduced_shape(shape, reduction_axes(value, len(shape)), keep_dims)
        except ValidationError as exc:
            raise ctx.fail(str(exc)) from exc
    if keep_dims:
        return tuple(DYNAMIC for _ in shape)
    if axes_shape is not None and all(isinstance(d, int) for d in axes_shape):
        count = int(np.prod(axes_shape, dtype=np.int64))
        if count == 0:
            return shape
        # Repeated axes would reduce fewer dims; the rank is exact only for distinct ones.
        return tuple(DYNAMIC for _ in range(max(len(shape) - count, 0)))
    return None


def _sum(x: np.ndarray, axes: tuple[int, ...], keep_dims: bool) -> np.ndarray:
    if x.dtype.kind == "f" or x.dtype.kind == "V":
        return np.sum(x, axis=axes, keepdims=keep_dims, dtype=np.float64).astype(x.dtype)
    return np.sum(x, axis=axes, keepdims=keep_dims, dtype=x.dtype)


def _mean(x: np.ndarray, axes: tuple[int, ...], keep_dims: bool) -> np.ndarray:
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    if x.dtype.kind in "iu":
        total = np.sum(x, axis=axes, keepdims=keep_dims, dtype=x.dtype)
        if count == 0:
            return total
        # C++ integer division truncates toward zero.
        quotient = np.abs(total.astype(np.int64)) // count * np.sign(total.astype(np.int64))
        return quotient.astype(x.dtype)
    total = np.sum(x, axis=axes, keepdims=keep_dims, dtype=np.float64)
    return (total / max(count, 1) if count else total).astype(x.dtype)


def _extreme(func, x: np.ndarray, axes: tuple[int, ...], keep_dims: bool) -> np.ndarray:
    """max/min of empty ranges as OpenVINO's reference (``node.evaluate``) gives them: the type's
    lowest value for max, its highest for min, except +inf for a float min (the CPU plugin gives
    the float's highest value there too; ONNX wants +inf and -inf)."""
    if x.size == 0 and axes:
        if x.dtype.kind == "f" and func is np.min:
            initial = np.inf
        else:
            info = np.finfo(x.dtype) if x.dtype.kind == "f" else np.iinfo(x.dtype) if x.dtype.kind in "iu" else None
            initial = (info.min if func is np.max else info.max) if info is not None else func is np.min
        return func(x, axis=axes, keepdims=keep_dims, initial=initial)
    return func(x, axis=axes, keepdims=keep_dims)


def _prod(x: np.ndarray, axes, keep_dims):
    return np.prod(x, axis=axes, keepdims=keep_dims, dtype=x.dtype)


def _l1(x: np.ndarray, axes, keep_dims):
    return _sum(np.abs(x), axes, keep_dims)


def _l2(x: np.ndarray, axes, keep_dims):
    squares = np.square(x.astype(np.float64))
    return np.sqrt(np.sum(squares, axis=axes, keepdims=keep_dims)).astype(x.dtype)


def _all(x: np.ndarray, axes, keep_dims):
    return np.all(x, axis=axes, keepdims=keep_dims)


def _any(x: np.ndarray, axes, keep_dims):
    return np.any(x, axis=axes, keepdims=keep_dims)


class _Reduce(Op):
    """A reduction over the axes given by input 1."""

    attrs = {"keep_dims": Attr("bool", default=False)}
    is_logical = False

    @staticmethod
    def compute(x: np.ndarray, axes: tuple[int, ...], keep_dims: bool) -> np.ndarray:
        raise NotImplementedError

    def infer(self, ctx: InferContext):
        etype = ctx.etype(0)
        if self.is_logical and etype is not types.boolean:
            raise ctx.fail(f"input 0 must be boolean, got {etype}")
        if not self.is_logical and etype is types.boolean:
            raise ctx.fail("input 0 must be numeric, got boolean")
        return [(etype, infer_reduced(ctx, 1, ctx.attrs["keep_dims"]))]

    def evaluate(self, x, axes, *, keep_dims):
        x = np.asarray(x)
        axes = reduction_axes(axes, x.ndim)
        return (np.asarray(self.compute(x, axes, keep_dims), dtype=x.dtype),)


_PLAIN = Traits(activation_inputs=(0,))


def _reduction(name: str, func, *, opset: int = 1, logical: bool = False, traits: Traits = _PLAIN) -> type[Op]:
    """Define and register ``name`` (from ``opset`` on) computing ``func(x, axes, keep_dims)``."""
    cls = type(name, (_Reduce,), {"compute": staticmethod(func), "is_logical": logical, "traits": traits,
                                  "__doc__": f"{name}-{opset}: a reduction over the given axes."})
    return register(name, opset=opset)(cls)


ReduceMean = _reduction("ReduceMean", _mean, traits=Traits(quantizable=True, activation_inputs=(0,)))
ReduceSum = _reduction("ReduceSum", _sum)
ReduceMax = _reduction("ReduceMax", lambda x, a, k: _extreme(np.max, x, a, k),
                       traits=Traits(quantization_agnostic=True, activation_inputs=(0,)))
ReduceMin = _reduction("ReduceMin", lambda x, a, k: _extreme(np.min, x, a, k))
ReduceProd = _reduction("ReduceProd", _prod)
ReduceLogicalAnd = _reduction("ReduceLogicalAnd", _all, logical=True)
ReduceLogicalOr = _reduction("ReduceLogicalOr", _any, logical=True)
ReduceL1 = _reduction("ReduceL1", _l1, opset=4)
ReduceL2 = _reduction("ReduceL2", _l2, opset=4)


@register("CumSum", opset=3)
class CumSum(Op):
    """Running sums along one axis, optionally exclusive (shifted by one) and/or reversed."""

    attrs = {"exclusive": Attr("bool", default=False), "reverse": Attr("bool", default=False)}

    def infer(self, ctx: InferContext):
        shape = ctx.shape(0)
        if ctx.num_inputs > 1:
            axis_shape = ctx.shape(1)
            if axis_shape is not None and len(axis_shape) != 0:
                raise ctx.fail(f"axis must be a scalar, got shape {list(axis_shape)}")
            if not ctx.etype(1).is_integral:
                raise ctx.fail(f"axis must be of an integer type, got {ctx.etype(1)}")
            value = ctx.value(1)
            if value is not None and shape is not None:
                try:
                    normalize_axis(int(value), len(shape))
                except ValidationError as exc:
                    raise ctx.fail(str(exc)) from exc
        return [(ctx.etype(0), shape)]

    def evaluate(self, x, axis=None, *, exclusive, reverse):
        x = np.asarray(x)
        if axis is None:
            axis = 0
        axis = normalize_axis(int(np.asarray(axis)), x.ndim)
        data = np.flip(x, axis) if reverse else x
        result = np.cumsum(data, axis=axis, dtype=x.dtype)
        if exclusive and x.shape[axis]:
            result = np.concatenate([np.zeros_like(np.take(result, [0], axis=axis)),
                                     np.take(result, np.arange(x.shape[axis] - 1), axis=axis)], axis=axis)
        if reverse:
            result = np.flip(result, axis)
        return (np.ascontiguousarray(result),)
