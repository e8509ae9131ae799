"""Reductions (axes as an attribute or, from a per-op opset, an input), ArgMax/ArgMin, TopK."""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter
from lpir.ir import types
from lpir.ir.graph import Output

_REDUCE = {"ReduceMean": "ReduceMean", "ReduceSum": "ReduceSum", "ReduceMax": "ReduceMax",
           "ReduceMin": "ReduceMin", "ReduceProd": "ReduceProd", "ReduceL1": "ReduceL1", "ReduceL2": "ReduceL2"}
# On booleans the largest is true when any is, the smallest when all are.
_LOGICAL = {"ReduceMax": "ReduceLogicalOr", "ReduceMin": "ReduceLogicalAnd"}
# ReduceSum took its axes as an input from opset 13, the other reductions from opset 18.
_AXES_INPUT_SINCE = {"ReduceSum": 13}


@converter(*_REDUCE, "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp",
           emits=tuple(_REDUCE.values()) + tuple(_LOGICAL.values()) + (
               "Multiply", "Log", "Exp", "Subtract", "Add", "ShapeOf", "Range", "Concat", "Slice", "Select", "Equal"))
def _reduce(ctx: NodeContext) -> Output:
    """Axes known when converting or given at run time; ReduceSumSquare, ReduceLogSum and
    ReduceLogSumExp as the ReduceSum of x*x, the Log of a ReduceSum, and max + Log(ReduceSum(Exp(x - max)))."""
    x = ctx.input(0)
    since = _AXES_INPUT_SINCE.get(ctx.op_type, 18)
    keep = bool(ctx.attr("keepdims", 1))
    axes = _reduction_axes(ctx, x, since)
    if axes is None:
        return x
    if ctx.op_type == "ReduceSumSquare":
        return ctx.op("ReduceSum", ctx.op("Multiply", x, x, suffix="square"), axes, keep_dims=keep)
    if ctx.op_type == "ReduceLogSum":
        return ctx.op("Log", ctx.op("ReduceSum", x, axes, keep_dims=keep, suffix="sum"))
    if ctx.op_type == "ReduceLogSumExp":
        peak = ctx.op("ReduceMax", x, axes, keep_dims=True, suffix="max")
        total = ctx.op("ReduceSum", ctx.op("Exp", ctx.op("Subtract", x, peak, suffix="shifted"), suffix="exp"),
                       axes, keep_dims=keep, suffix="sum")
        if not keep:
            peak = ctx.op("ReduceMax", x, axes, keep_dims=False, suffix="max_reduced")
        return ctx.op("Add", ctx.op("Log", total, suffix="log"), peak)
    opset = 4 if ctx.op_type in ("ReduceL1", "ReduceL2") else 1
    op_type = _REDUCE[ctx.op_type]
    if x.etype is types.boolean and op_type in _LOGICAL:
        op_type = _LOGICAL[op_type]
    return ctx.op(op_type, x, axes, opset=opset, keep_dims=keep)


def _reduction_axes(ctx: NodeContext, x: Output, since: int) -> Output | None:
    """The axes to reduce (None: none, the op returns x). Absent or empty axes mean all of them
    unless noop_with_empty_axes; axes computed at run time may be empty only then."""
    noop = ctx.opset >= since and bool(ctx.attr("noop_with_empty_axes", 0))
    if ctx.opset >= since and ctx.optional_input(1) is not None and ctx.value(1) is None:
        axes = ctx.input(1)
        if noop:
            return axes  # empty axes reduce over nothing
        return _all_if_empty(ctx, x, axes)
    axes = ctx.axes("axes", 1, since)
    if axes is None or axes.size == 0:
        if noop:
            return None
        axes = np.arange(ctx.rank(x), dtype=np.int64)
    return ctx.const(axes, "axes")


def _all_if_empty(ctx: NodeContext, x: Output, axes: Output) -> Output:
    """``axes``, or every axis of ``x`` when ``axes`` is empty at run time: the first
    len(axes) (or, when that is 0, rank) elements of axes ++ [0, 1, ..., rank-1]."""
    i64 = types.i64
    rank = ctx.op("ShapeOf", ctx.op("ShapeOf", x, opset=3, output_type=i64, suffix="shape"), opset=3,
                  output_type=i64, suffix="rank")
    count = ctx.op("ShapeOf", axes, opset=3, output_type=i64, suffix="axes_count")
    every = ctx.op("Range", ctx.const(np.int64(0), "zero"), ctx.op("Squeeze", rank, suffix="rank_scalar"),
                   ctx.const(np.int64(1), "one"), opset=4, output_type=i64, suffix="every_axis")
    joined = ctx.build("Concat", [ctx.op("Convert", axes, destination_type=i64, suffix="axes_i64"), every],
                       {"axis": 0}, suffix="joined").outputs[0]
    empty = ctx.op("Equal", count, ctx.const([0], "none", i64), suffix="empty")
    stop = ctx.op("Select", empty, rank, count, suffix="stop")
    return ctx.op("Slice", joined, ctx.const([0], "start", i64), stop, ctx.const([1], "step", i64), opset=8,
                  suffix="axes")


@converter("ArgMax", "ArgMin", emits=("TopK", "Squeeze", "Reverse", "ShapeOf", "Gather", "Subtract"))
def _arg_extreme(ctx: NodeContext) -> Output:
    """TopK with k=1 keeps the first extreme index, as ONNX does by default; select_last_index
    runs it on the reversed axis and counts the index from the end."""
    axis = ctx.attr("axis", 0)
    keep = ctx.attr("keepdims", 1)
    last = bool(ctx.attr("select_last_index", 0))
    x = ctx.input(0)
    axes = ctx.const(np.asarray([axis], dtype=np.int64), "axes")
    if last:
        x = ctx.op("Reverse", x, axes, mode="index", suffix="reversed")
    mode = "max" if ctx.op_type == "ArgMax" else "min"
    top = ctx.build("TopK", [x, ctx.const(np.int64(1), "k")],
                    {"axis": axis, "mode": mode, "sort": "none", "index_element_type": types.i64},
                    opset=11, suffix=None if keep and not last else "topk")
    index = top.outputs[1]
    if last:
        shape = ctx.op("ShapeOf", x, opset=3, output_type=types.i64, suffix="shape")
        length = ctx.op("Gather", shape, axes, ctx.const(np.int64(0), "gather_axis"), opset=8, suffix="length")
        last_index = ctx.op("Subtract", length, ctx.const([1], "one", types.i64), suffix="last")
        index = ctx.op("Subtract", last_index, index, suffix=None if keep else "from_end")
    if keep:
        return index
    return ctx.op("Squeeze", index, axes)


@converter("TopK", emits=("TopK", "Squeeze"))
def _topk(ctx: NodeContext) -> list[Output]:
    if ctx.opset < 10:
        k = ctx.const(np.int64(ctx.attr("k")), "k")
    else:
        known = ctx.value(1)
        k = ctx.const(np.int64(known.reshape(-1)[0]), "k") if known is not None else \
            ctx.op("Squeeze", ctx.input(1), ctx.const(np.asarray([0], dtype=np.int64), "k_axes"), suffix="k")
    attrs = {"axis": ctx.attr("axis", -1), "mode": "max" if ctx.attr("largest", 1) else "min",
             "sort": "value" if ctx.attr("sorted", 1) else "none", "index_element_type": types.i64}
    return ctx.build("TopK", [ctx.input(0), k], attrs, opset=11).outputs
