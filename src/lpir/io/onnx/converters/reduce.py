"""Reductions (axes as an attribute or, from a per-op opset, an input), ArgMax/ArgMin, TopK."""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter
from lpir.ir import types
from lpir.ir.graph import Output

_REDUCE = {"ReduceMean": "ReduceMean", "ReduceSum": "ReduceSum", "ReduceMax": "ReduceMax",
           "ReduceMin": "ReduceMin", "ReduceProd": "ReduceProd", "ReduceL1": "ReduceL1", "ReduceL2": "ReduceL2"}
# ReduceSum took its axes as an input from opset 13, the other reductions from opset 18.
_AXES_INPUT_SINCE = {"ReduceSum": 13}


@converter(*_REDUCE, emits=tuple(_REDUCE.values()))
def _reduce(ctx: NodeContext) -> Output:
    x = ctx.input(0)
    since = _AXES_INPUT_SINCE.get(ctx.op_type, 18)
    axes = ctx.axes("axes", 1, since)
    if axes is None or axes.size == 0:
        if ctx.opset >= since and ctx.attr("noop_with_empty_axes", 0):
            return x
        axes = np.arange(ctx.rank(x), dtype=np.int64)
    opset = 4 if ctx.op_type in ("ReduceL1", "ReduceL2") else 1
    return ctx.op(_REDUCE[ctx.op_type], x, ctx.const(axes, "axes"), opset=opset,
                  keep_dims=bool(ctx.attr("keepdims", 1)))


@converter("ArgMax", "ArgMin", emits=("TopK", "Squeeze"))
def _arg_extreme(ctx: NodeContext) -> Output:
    """TopK with k=1 keeps the first extreme index, as ONNX does by default."""
    if ctx.attr("select_last_index", 0):
        raise ctx.fail("select_last_index=1 is not supported")
    axis = ctx.attr("axis", 0)
    keep = ctx.attr("keepdims", 1)
    mode = "max" if ctx.op_type == "ArgMax" else "min"
    top = ctx.build("TopK", [ctx.input(0), ctx.const(np.int64(1), "k")],
                    {"axis": axis, "mode": mode, "sort": "none", "index_element_type": types.i64},
                    opset=11, suffix=None if keep else "topk")
    if keep:
        return top.outputs[1]
    return ctx.op("Squeeze", top.outputs[1], ctx.const(np.asarray([axis], dtype=np.int64), "axes"))


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
