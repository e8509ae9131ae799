"""ONNX loss functions: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (its LogSoftmax,
then the same loss). The class of each sample picks its log-probability (GatherElements along
the class axis) and its weight; ignored samples weigh 0; ``mean`` divides by the total weight.
"""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter
from lpir.ir.graph import Output

_I64 = np.int64
_EMITS = ("NotEqual", "Select", "Unsqueeze", "Squeeze", "GatherElements", "Gather", "ConvertLike", "Multiply",
          "Negative", "ReduceSum", "Divide", "LogSoftmax")


def _negative_log_likelihood(ctx: NodeContext, log_prob: Output, target: Output, weight: Output | None) -> Output:
    ignore = ctx.attr("ignore_index")
    class_axis = ctx.const(np.asarray([1], dtype=_I64), "class_axis")
    valid = None
    if ignore is not None:
        valid = ctx.op("NotEqual", target, ctx.const(np.asarray(ignore, dtype=target.etype.dtype), "ignore_index"),
                       suffix="valid")
        target = ctx.op("Select", valid, target, ctx.const(np.asarray(0, dtype=target.etype.dtype), "no_class"),
                        suffix="safe_target")
    picked = ctx.op("GatherElements", log_prob, ctx.op("Unsqueeze", target, class_axis, suffix="target_column"),
                    opset=6, axis=1, suffix="picked")
    loss = ctx.op("Negative", ctx.op("Squeeze", picked, class_axis, suffix="picked_flat"), suffix="neg_picked")
    weights = None
    if weight is not None:
        weights = ctx.op("Gather", weight, target, ctx.const(_I64(0), "weight_axis"), opset=8, suffix="weights")
    if valid is not None:
        kept = ctx.op("ConvertLike", valid, log_prob, suffix="kept")
        weights = kept if weights is None else ctx.op("Multiply", weights, kept, suffix="kept_weights")
    reduction = ctx.attr("reduction", "mean")
    if reduction not in ("none", "sum", "mean"):
        raise ctx.fail(f"reduction {reduction!r} is not none, sum or mean")
    last = reduction == "none"
    if weights is not None:
        loss = ctx.op("Multiply", loss, weights, suffix=None if last else "weighted")
    if last:
        return loss
    axes = ctx.const(np.arange(ctx.rank(target), dtype=_I64), "all_axes")
    total = ctx.op("ReduceSum", loss, axes, keep_dims=False, suffix=None if reduction == "sum" else "total")
    if reduction == "sum":
        return total
    if weights is None:
        return ctx.op("ReduceMean", loss, axes, keep_dims=False)
    return ctx.op("Divide", total, ctx.op("ReduceSum", weights, axes, keep_dims=False, suffix="total_weight"))


@converter("NegativeLogLikelihoodLoss", emits=_EMITS + ("ReduceMean",))
def _nll_loss(ctx: NodeContext) -> Output:
    return _negative_log_likelihood(ctx, ctx.input(0), ctx.input(1), ctx.optional_input(2))


@converter("SoftmaxCrossEntropyLoss", emits=_EMITS + ("ReduceMean",))
def _softmax_cross_entropy(ctx: NodeContext) -> list[Output]:
    log_prob = ctx.op("LogSoftmax", ctx.input(0), opset=5, axis=1, suffix="log_prob")
    return [_negative_log_likelihood(ctx, log_prob, ctx.input(1), ctx.optional_input(2)), log_prob]
