"""Arithmetic, comparison and logical ops with broadcasting (Add, Multiply, Select, ...).

Every binary op takes ``auto_broadcast`` = numpy (default) | none | pdpd; with pdpd the start
axis is the IR attribute ``auto_broadcast.auto_broadcast_axis`` (-1: right-aligned), which is
how OpenVINO serializes it. Integer arithmetic wraps as C++ does; integer Divide floors when
``m_pythondiv`` is true and truncates otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from lpir.errors import EvaluationError, ValidationError
from lpir.ir import types
from lpir.ir.shape import DYNAMIC, Dim
from lpir.ops.common import broadcast_arrays, broadcast_shapes, pdpd_aligned_shape
from lpir.ops.registry import Attr, InferContext, Op, Traits, register

PDPD_AXIS = "auto_broadcast.auto_broadcast_axis"
BROADCAST_ATTRS = {"auto_broadcast": Attr("str", default="numpy"), PDPD_AXIS: Attr("int", default=-1)}

_WIDE_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_QUANTIZABLE = Traits(elementwise=True, quantizable=True)
_ELEMENTWISE = Traits(elementwise=True)
# Max/Min of quantized values is one of them: quantizers may also move up through it (as NNCF does).
_EXTREMUM = Traits(elementwise=True, quantizable=True, quantization_agnostic=True)


def as_compute(x: np.ndarray) -> np.ndarray:
    """``x`` in the type OpenVINO computes it in: f16/bf16/f8 widened to f32, others unchanged.

    Results are cast back to the input type once, so composite formulas round only once.
    """
    if x.dtype.kind in "fV" and x.dtype not in _WIDE_FLOATS:
        return x.astype(np.float32)
    return x


def broadcast_infer(ctx: InferContext, inputs: Iterable[int]):
    """The broadcast shape of ``inputs`` under the node's auto_broadcast attributes."""
    shapes = [ctx.shape(i) for i in inputs]
    try:
        return broadcast_shapes(shapes, ctx.attrs["auto_broadcast"], ctx.attrs.get(PDPD_AXIS, -1))
    except ValidationError as exc:
        raise ctx.fail(f"auto_broadcast={ctx.attrs['auto_broadcast']}: {exc}") from exc


def _same_type(ctx: InferContext, inputs: Iterable[int]):
    """The one element type of ``inputs`` (OpenVINO requires them equal)."""
    inputs = list(inputs)
    etype = ctx.etype(inputs[0])
    for i in inputs[1:]:
        other = ctx.etype(i)
        if etype is types.dynamic:
            etype = other
        elif other is not types.dynamic and other is not etype:
            raise ctx.fail(f"input {i} is {other}, input {inputs[0]} is {etype}: element types must be equal")
    return etype


# -- partial values: shape arithmetic with dynamic dimensions (ShapeOf → Equal → Select → Broadcast)

def _broadcast_partials(values: list[tuple | None]) -> list[tuple] | None:
    """Flat partial values brought to one length (each has that length or length 1)."""
    if any(v is None for v in values):
        return None
    length = max(len(v) for v in values)
    if any(len(v) not in (1, length) for v in values):
        return None
    return [v * length if len(v) == 1 else v for v in values]


def _equal_dims(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return int(a == b)
    dim, other = (a, b) if isinstance(a, Dim) else (b, a)
    if isinstance(other, int) and (other < dim.lo or (dim.hi is not None and other > dim.hi)):
        return 0  # a dimension in [lo, hi] never equals a value outside it (e.g. -1)
    return DYNAMIC


def _multiply_dims(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    return b if a == 1 else a if b == 1 else DYNAMIC


_PARTIAL_COMBINE = {"Equal": _equal_dims, "Multiply": _multiply_dims}


class _Binary(Op):
    """A binary op: same-typed inputs broadcast together, output of the same type."""

    attrs = BROADCAST_ATTRS
    traits = _QUANTIZABLE
    fresh_outputs = True  # compute() is a numpy function of both inputs: a new array
    boolean_result = False
    boolean_inputs = False

    def infer(self, ctx: InferContext):
        etype = _same_type(ctx, (0, 1))
        if self.boolean_inputs and etype not in (types.boolean, types.dynamic):
            raise ctx.fail(f"inputs are {etype}: {self.type} takes boolean inputs")
        return [(types.boolean if self.boolean_result else etype, broadcast_infer(ctx, (0, 1)))]

    def partial_value(self, ctx: InferContext):
        combine = _PARTIAL_COMBINE.get(self.type)
        values = _broadcast_partials([ctx.partial_value(0), ctx.partial_value(1)]) if combine else None
        return None if values is None else tuple(combine(a, b) for a, b in zip(*values))

    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def evaluate(self, a, b, *, auto_broadcast, **pdpd):
        a, b = broadcast_arrays([np.asarray(a), np.asarray(b)], auto_broadcast, pdpd.get(PDPD_AXIS, -1))
        with np.errstate(all="ignore"):  # inf/NaN results are IEEE's answer, as in OpenVINO: no warnings
            result = np.asarray(self.compute(as_compute(a), as_compute(b)))
            return (result if self.boolean_result else result.astype(np.result_type(a, b), copy=False),)


def _simple(op_type: str, function: Callable, traits: Traits = _QUANTIZABLE, *, boolean_result: bool = False,
            boolean_inputs: bool = False, opset: int = 1) -> type[_Binary]:
    """Register a binary op whose evaluation is one numpy function."""
    cls = type(op_type, (_Binary,), {
        "traits": traits, "boolean_result": boolean_result, "boolean_inputs": boolean_inputs,
        "compute": lambda self, a, b: function(a, b), "__doc__": f"{op_type}: elementwise {function.__name__}.",
    })
    return register(op_type, opset=opset)(cls)


Add = _simple("Add", np.add)
Subtract = _simple("Subtract", np.subtract)
Multiply = _simple("Multiply", np.multiply)
# As OpenVINO's reference: the first input wins unless the comparison holds (so NaN in a wins,
# NaN in b loses), unlike np.maximum, which propagates any NaN.
Maximum = _simple("Maximum", lambda a, b: np.where(a < b, b, a), _EXTREMUM)
Minimum = _simple("Minimum", lambda a, b: np.where(a > b, b, a), _EXTREMUM)
SquaredDifference = _simple("SquaredDifference", lambda a, b: np.square(a - b))
Equal = _simple("Equal", np.equal, boolean_result=True)
NotEqual = _simple("NotEqual", np.not_equal, boolean_result=True)
Less = _simple("Less", np.less, boolean_result=True)
LessEqual = _simple("LessEqual", np.less_equal, boolean_result=True)
Greater = _simple("Greater", np.greater, boolean_result=True)
GreaterEqual = _simple("GreaterEqual", np.greater_equal, boolean_result=True)
LogicalAnd = _simple("LogicalAnd", np.logical_and, boolean_result=True, boolean_inputs=True)
LogicalOr = _simple("LogicalOr", np.logical_or, boolean_result=True, boolean_inputs=True)
LogicalXor = _simple("LogicalXor", np.logical_xor, boolean_result=True, boolean_inputs=True)


def _check_integer_divisor(b: np.ndarray, what: str) -> None:
    if b.dtype.kind in "iu" and not np.all(b):
        raise EvaluationError(f"{what}: integer division by zero")


@register("Divide", opset=1)
class Divide(_Binary):
    """Division; integers floor when ``m_pythondiv`` (the default), else truncate toward zero."""

    attrs = {**BROADCAST_ATTRS, "m_pythondiv": Attr("bool", default=True)}

    def evaluate(self, a, b, *, auto_broadcast, m_pythondiv=True, **pdpd):
        a, b = broadcast_arrays([np.asarray(a), np.asarray(b)], auto_broadcast, pdpd.get(PDPD_AXIS, -1))
        if a.dtype.kind not in "iu":
            with np.errstate(divide="ignore", invalid="ignore"):
                return (np.divide(as_compute(a), as_compute(b)).astype(a.dtype, copy=False),)
        _check_integer_divisor(b, "Divide")
        if m_pythondiv:
            return (np.floor_divide(a, b),)
        quotient = np.floor_divide(a, b)
        # floor differs from truncation where the division is inexact and the signs differ
        quotient += ((a % b) != 0) & ((a < 0) != (b < 0))
        return (quotient,)


@register("Power", opset=1)
class Power(_Binary):
    """Power; integer results as OpenVINO's ``std::pow`` then a cast (negative exponents truncate)."""

    def compute(self, a, b):
        if a.dtype.kind in "iu":
            with np.errstate(all="ignore"):
                return np.power(a.astype(np.float64), b).astype(a.dtype)
        return np.power(a, b)


@register("FloorMod", opset=1)
class FloorMod(_Binary):
    """Remainder with the sign of the divisor (Python's %)."""

    traits = _QUANTIZABLE

    def compute(self, a, b):
        _check_integer_divisor(b, "FloorMod")
        return np.mod(a, b)


@register("Mod", opset=1)
class Mod(_Binary):
    """Remainder with the sign of the dividend (C's fmod)."""

    traits = _ELEMENTWISE

    def compute(self, a, b):
        _check_integer_divisor(b, "Mod")
        return np.fmod(a, b)


@register("LogicalNot", opset=1)
class LogicalNot(Op):
    traits = _QUANTIZABLE

    def infer(self, ctx: InferContext):
        if ctx.etype(0) not in (types.boolean, types.dynamic):
            raise ctx.fail(f"input is {ctx.etype(0)}: LogicalNot takes a boolean input")
        return [(types.boolean, ctx.shape(0))]

    def evaluate(self, x):
        return (np.logical_not(x),)


@register("Select", opset=1)
class Select(Op):
    """``cond ? then : else``; with pdpd, cond and else are aligned to then's shape."""

    attrs = BROADCAST_ATTRS
    traits = _ELEMENTWISE

    def infer(self, ctx: InferContext):
        if ctx.etype(0) not in (types.boolean, types.dynamic):
            raise ctx.fail(f"condition is {ctx.etype(0)}: Select needs a boolean condition")
        etype = _same_type(ctx, (1, 2))
        if str(ctx.attrs["auto_broadcast"]).lower() == "pdpd":
            shape = broadcast_infer(ctx, (1, 2, 0))
        else:
            shape = broadcast_infer(ctx, (0, 1, 2))
        return [(etype, shape)]

    def partial_value(self, ctx: InferContext):
        if str(ctx.attrs["auto_broadcast"]).lower() != "numpy":
            return None
        values = _broadcast_partials([ctx.partial_value(i) for i in range(3)])
        if values is None:
            return None
        return tuple(then if cond == 1 else other if cond == 0 else then if then == other else DYNAMIC
                     for cond, then, other in zip(*values))

    def evaluate(self, cond, then, other, *, auto_broadcast, **pdpd):
        cond, then, other = np.asarray(cond), np.asarray(then), np.asarray(other)
        if str(auto_broadcast).lower() == "pdpd":
            axis = pdpd.get(PDPD_AXIS, -1)
            cond = cond.reshape(pdpd_aligned_shape(then.shape, cond.shape, axis))
            other = other.reshape(pdpd_aligned_shape(then.shape, other.shape, axis))
        else:
            broadcast_arrays([cond, then, other], auto_broadcast)
        return (np.where(cond, then, other).astype(np.result_type(then, other), copy=False),)
