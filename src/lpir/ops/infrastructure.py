"""Parameter, Const and Result: the ops that delimit a graph and hold its data."""

from __future__ import annotations

from lpir.ops.registry import Attr, InferContext, Op, register


@register("Parameter", opset=1)
class Parameter(Op):
    attrs = {"element_type": Attr("etype"), "shape": Attr("shape")}

    def infer(self, ctx: InferContext):
        return [(ctx.attrs["element_type"], ctx.attrs["shape"])]


@register("Const", opset=1)
class Const(Op):
    attrs = {"element_type": Attr("etype"), "shape": Attr("shape")}

    def infer(self, ctx: InferContext):
        tensor = ctx.node.tensor
        return [(tensor.etype, tensor.shape)]

    def evaluate(self, **attrs):
        raise NotImplementedError("a Const is read from its tensor, not evaluated")


@register("Result", opset=1)
class Result(Op):
    def infer(self, ctx: InferContext):
        return []

    def evaluate(self, x):
        return (x,)
