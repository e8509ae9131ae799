"""Unique-10: the distinct elements of a tensor (or distinct slices along an axis), where each
first occurs, where each input element went, and how often each occurs.

Sorted output is ascending (slices compared lexicographically); unsorted keeps the order of
first occurrence. Output lengths depend on the values, so they are dynamic.
"""

from __future__ import annotations

import numpy as np

from lpir.ir import types
from lpir.ir.shape import DYNAMIC, Dim
from lpir.ops.common import normalize_axis
from lpir.ops.movement.base import MovementOp, _check, _scalar
from lpir.ops.registry import Attr, register


def _count_dim(size) -> Dim:
    return Dim(1 if size else 0, size) if isinstance(size, int) else DYNAMIC


@register("Unique", opset=10)
class Unique(MovementOp):
    attrs = {"sorted": Attr("bool", default=True), "index_element_type": Attr("etype", default=types.i64),
             "count_element_type": Attr("etype", default=types.i64)}

    def infer_outputs(self, ctx):
        index_type, count_type = (types.parse_type(t) if isinstance(t, str) else t
                                  for t in (ctx.attrs["index_element_type"], ctx.attrs["count_element_type"]))
        _check(index_type in (types.i32, types.i64) and count_type in (types.i32, types.i64),
               f"index and count element types must be i32 or i64, got {index_type} and {count_type}")
        shape = ctx.shape(0)
        if ctx.num_inputs < 2:
            size = None if shape is None else int(np.prod(shape)) if all(isinstance(d, int) for d in shape) else None
            count = _count_dim(size)
            return [(ctx.etype(0), (count,)), (index_type, (count,)), (index_type, (DYNAMIC if size is None else size,)),
                    (count_type, (count,))]
        axis = _scalar(ctx.value(1))
        if shape is None or axis is None:
            return [(ctx.etype(0), None), (index_type, (DYNAMIC,)), (index_type, (DYNAMIC,)), (count_type, (DYNAMIC,))]
        axis = normalize_axis(axis, len(shape), "Unique axis")
        count = _count_dim(shape[axis])
        dims = tuple(count if i == axis else d for i, d in enumerate(shape))
        return [(ctx.etype(0), dims), (index_type, (count,)), (index_type, (shape[axis],)), (count_type, (count,))]

    def evaluate(self, data, axis=None, *, sorted=True, index_element_type=types.i64, count_element_type=types.i64):
        data = np.asarray(data)
        index_dtype, count_dtype = ((types.parse_type(t) if isinstance(t, str) else t).dtype
                                    for t in (index_element_type, count_element_type))
        if axis is None:
            values, first, inverse, counts = np.unique(data.reshape(-1), return_index=True, return_inverse=True,
                                                       return_counts=True)
            along = 0
        else:
            along = normalize_axis(_scalar(axis), data.ndim, "Unique axis")
            values, first, inverse, counts = np.unique(data, return_index=True, return_inverse=True,
                                                       return_counts=True, axis=along)
        inverse = inverse.reshape(-1)
        if not sorted:
            order = np.argsort(first, kind="stable")  # by first occurrence
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            values, first, counts, inverse = np.take(values, order, axis=along), first[order], counts[order], rank[inverse]
        return (values, first.astype(index_dtype), inverse.astype(index_dtype), counts.astype(count_dtype))
