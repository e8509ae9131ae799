"""Bitwise ops on integers and booleans (BitwiseAnd/Or/Xor/Not, shifts) and the float
classifiers IsNaN / IsInf / IsFinite, which give a boolean per element.

Shifts follow C++ on the element type, as OpenVINO's reference: a right shift of a signed value
is arithmetic; bits shifted past the width are lost.
"""

from __future__ import annotations

import numpy as np

from lpir.ir import types
from lpir.ops.elementwise import _Binary
from lpir.ops.registry import Attr, InferContext, Op, Traits, register

_ELEMENTWISE = Traits(elementwise=True)


class _BitwiseBinary(_Binary):
    """Same-typed integer (or, but for shifts, boolean) inputs, broadcast; output of that type."""

    traits = _ELEMENTWISE
    function = staticmethod(np.bitwise_and)
    booleans = True

    def infer(self, ctx: InferContext):
        result = super().infer(ctx)
        etype = result[0][0]
        if etype.is_float or (etype is types.boolean and not self.booleans):
            raise ctx.fail(f"inputs are {etype}: {self.type} takes integers{' or booleans' if self.booleans else ''}")
        return result

    def compute(self, a, b):
        return self.function(a, b)


def _bitwise(op_type: str, function, opset: int, booleans: bool = True) -> type[_BitwiseBinary]:
    cls = type(op_type, (_BitwiseBinary,), {"function": staticmethod(function), "booleans": booleans,
                                            "__doc__": f"{op_type}-{opset}: elementwise {function.__name__}."})
    return register(op_type, opset=opset)(cls)


BitwiseAnd = _bitwise("BitwiseAnd", np.bitwise_and, 13)
BitwiseOr = _bitwise("BitwiseOr", np.bitwise_or, 13)
BitwiseXor = _bitwise("BitwiseXor", np.bitwise_xor, 13)
BitwiseLeftShift = _bitwise("BitwiseLeftShift", np.left_shift, 15, booleans=False)
BitwiseRightShift = _bitwise("BitwiseRightShift", np.right_shift, 15, booleans=False)


@register("BitwiseNot", opset=13)
class BitwiseNot(Op):
    traits = _ELEMENTWISE

    def infer(self, ctx: InferContext):
        etype = ctx.etype(0)
        if etype.is_float:
            raise ctx.fail(f"input is {etype}: BitwiseNot takes integers or booleans")
        return [(etype, ctx.shape(0))]

    def evaluate(self, x):
        x = np.asarray(x)
        return (np.logical_not(x) if x.dtype == np.bool_ else np.invert(x),)


class _Classifier(Op):
    """A float predicate per element: boolean output of the input's shape."""

    traits = _ELEMENTWISE

    def infer(self, ctx: InferContext):
        etype = ctx.etype(0)
        if not (etype.is_float or etype is types.dynamic):
            raise ctx.fail(f"input is {etype}: {self.type} takes floating-point inputs")
        return [(types.boolean, ctx.shape(0))]


@register("IsNaN", opset=10)
class IsNaN(_Classifier):
    def evaluate(self, x):
        return (np.isnan(np.asarray(x, dtype=np.float64) if np.asarray(x).dtype.kind == "V" else x),)


@register("IsFinite", opset=10)
class IsFinite(_Classifier):
    def evaluate(self, x):
        return (np.isfinite(np.asarray(x, dtype=np.float64) if np.asarray(x).dtype.kind == "V" else x),)


@register("IsInf", opset=10)
class IsInf(_Classifier):
    attrs = {"detect_negative": Attr("bool", default=True), "detect_positive": Attr("bool", default=True)}

    def evaluate(self, x, *, detect_negative=True, detect_positive=True):
        x = np.asarray(x)
        x = x.astype(np.float64) if x.dtype.kind == "V" else x
        return ((np.isneginf(x) & detect_negative) | (np.isposinf(x) & detect_positive),)
