"""MatMul: batched matrix product with optional transposes and numpy batch broadcasting.

Quantization traits: input 1 holds the weights; an output channel is a column of the product,
which is the last weight axis when ``transpose_b`` is false (``[..., K, N]``) and the one before
it when true (``[..., N, K]``): :meth:`MatMul.weight_channel_axes` gives the axis for the node's
own ``transpose_b``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lpir.errors import ValidationError
from lpir.ir.shape import Dimension, Shape
from lpir.ops.common import broadcast_shapes
from lpir.ops.registry import Attr, InferContext, Op, Traits, register


_EXACT_IN_F64 = 1 << 53


def accumulation_dtype(a: np.ndarray, b: np.ndarray, depth: int) -> np.dtype:
    """Type to sum ``depth`` products of elements of ``a`` and ``b`` in.

    Narrow floats accumulate in f32, f32/f64 in themselves. Integers must stay exact: f64 (so
    that BLAS does the work) when no partial sum can reach 2**53, where f64 stops being exact,
    else i64 (numpy's much slower integer loops).
    """
    dtype = np.result_type(a, b)
    if dtype.kind not in "iub":
        return np.dtype(dtype if dtype in (np.float32, np.float64) else np.float32)
    if a.size == 0 or b.size == 0:
        return np.dtype(np.int64)
    bound = max(abs(int(a.min())), abs(int(a.max()))) * max(abs(int(b.min())), abs(int(b.max()))) * max(depth, 1)
    return np.dtype(np.float64 if bound < _EXACT_IN_F64 else np.int64)


def to_output(result: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """An accumulated result in the op's output type (integers wrap as OpenVINO's do)."""
    if np.dtype(dtype).kind in "iub" and result.dtype.kind == "f":
        result = result.astype(np.int64)
    return result.astype(dtype, copy=False)


def _as_matrix(shape: Shape, transpose: bool, is_first: bool) -> Shape:
    """The operand's shape as the product sees it: 1-D promoted to a row (first) or column
    (second) vector, then the two last axes swapped when ``transpose`` asks for it."""
    if len(shape) == 1:
        return (1, shape[0]) if is_first else (shape[0], 1)
    if transpose:
        return tuple(shape[:-2]) + (shape[-1], shape[-2])
    return tuple(shape)


def _same(a: Dimension, b: Dimension) -> bool:
    return not (isinstance(a, int) and isinstance(b, int)) or a == b


@register("MatMul", opset=1)
class MatMul(Op):
    """``A @ B`` over the two last axes, batch axes broadcast as numpy does."""

    attrs = {"transpose_a": Attr("bool", default=False), "transpose_b": Attr("bool", default=False)}
    traits = Traits(quantizable=True, weight_inputs=(1,), has_bias=True)
    fresh_outputs = True

    def weight_channel_axes(self, attrs: dict[str, Any]) -> tuple[int, ...]:
        return (-2,) if attrs.get("transpose_b", False) else (-1,)

    def infer(self, ctx: InferContext):
        a, b = ctx.shape(0), ctx.shape(1)
        ta, tb = ctx.etype(0), ctx.etype(1)
        if ta != tb and "dynamic" not in (ta.name, tb.name):
            raise ctx.fail(f"inputs have element types {ta} and {tb}; MatMul needs equal types")
        if a is None or b is None:
            return [(ta, None)]
        if len(a) == 0 or len(b) == 0:
            raise ctx.fail(f"inputs of shapes {list(a)} and {list(b)} must not be scalars")
        ma = _as_matrix(a, ctx.attrs["transpose_a"], True)
        mb = _as_matrix(b, ctx.attrs["transpose_b"], False)
        if not _same(ma[-1], mb[-2]):
            raise ctx.fail(f"inner dimensions differ: A {list(a)} gives K={ma[-1]}, B {list(b)} gives K={mb[-2]} "
                           f"(transpose_a={ctx.attrs['transpose_a']}, transpose_b={ctx.attrs['transpose_b']})")
        try:
            batch = broadcast_shapes([ma[:-2], mb[:-2]])
        except ValidationError as exc:
            raise ctx.fail(f"batch axes of {list(a)} and {list(b)} do not broadcast ({exc})") from exc
        rows = () if len(a) == 1 else (ma[-2],)
        cols = () if len(b) == 1 else (mb[-1],)
        return [(ta, tuple(batch) + rows + cols)]

    def evaluate(self, a, b, *, transpose_a, transpose_b):
        if a.ndim > 1 and transpose_a:
            a = np.swapaxes(a, -1, -2)
        if b.ndim > 1 and transpose_b:
            b = np.swapaxes(b, -1, -2)
        work = accumulation_dtype(a, b, a.shape[-1])
        result = np.matmul(a.astype(work, copy=False), b.astype(work, copy=False))
        return (to_output(np.asarray(result), np.result_type(a, b)),)
