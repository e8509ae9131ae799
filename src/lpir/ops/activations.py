"""Unary math and activation functions (Relu, Sigmoid, Clamp, HSwish, Gelu, Erf, ...).

Floating inputs are computed in at least f32 (f16/bf16 in f32, rounded back once), which is
what OpenVINO's CPU plugin does with the f32 precision hint. Ops that OpenVINO's reference
evaluates on integers with C++ integer arithmetic (Relu, Clamp, Abs, Negative, Sign, Floor,
Ceiling, Round, PRelu, Identity) accept integers exactly; the transcendental ones (Exp, Sigmoid,
Gelu ...) take floating inputs only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from lpir.errors import ValidationError
from lpir.ir import types
from lpir.ir.shape import is_static
from lpir.ops.elementwise import as_compute
from lpir.ops.registry import Attr, InferContext, Op, Traits, register, signature_input_range

_ELEMENTWISE = Traits(elementwise=True)
_FLOAT_KINDS = "fV"  # numpy floats and ml_dtypes' bf16 (kind V)


# Numerical Recipes' erfc fit, for |z| >= 0.5 (Horner order, highest power first).
_ERFC_FIT = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807,
             -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223)
# Maclaurin series of erf(z) / z in powers of z**2 (highest first): below 0.5 its first nine
# terms are exact to 1e-11, where the fit's error would be large relative to erf itself.
_ERF_SERIES = tuple((-1) ** n * 2 / (math.sqrt(math.pi) * math.factorial(n) * (2 * n + 1)) for n in range(8, -1, -1))


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, vectorised: in f32 for f32 inputs (within 4 ulp, relative near 0;
    numpy's f32 exp is SIMD, its f64 exp is not: 7 ms instead of 19 on MiniLM's [1,128,1536]),
    else in f64 (within 1e-7 absolute). Both branches run on every element, then one is kept:
    masked gathers cost more than the arithmetic."""
    work = np.float32 if x.dtype == np.float32 else np.float64
    z = np.abs(x, dtype=work)
    square = np.square(z)
    t = z * work(0.5)
    t += 1
    np.divide(1, t, out=t)
    result = _horner(_ERFC_FIT, t)
    result -= square
    np.exp(result, out=result)
    result *= t
    np.subtract(1, result, out=result)
    series = _horner(_ERF_SERIES, square)
    series *= z
    np.copyto(result, series, where=z < 0.5)
    return np.copysign(result, x, out=result)


def _horner(coefficients: tuple[float, ...], t: np.ndarray) -> np.ndarray:
    """The polynomial with ``coefficients`` (highest power first) at ``t``, in place passes."""
    poly = np.full_like(t, coefficients[0])
    for c in coefficients[1:]:
        poly *= t
        poly += c
    return poly


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(x.dtype.type(0), x)


def _gelu_erf(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1 + erf(x / math.sqrt(2.0)))).astype(x.dtype, copy=False)


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(x.dtype.type(math.sqrt(2 / math.pi)) * (x + x.dtype.type(0.044715) * x ** 3)))


def _relu6_of_x_plus_3(x: np.ndarray) -> np.ndarray:
    """min(max(x + 3, 0), 6) as one new array, the callers going on in place (on large maps an
    allocation costs as much as the arithmetic)."""
    y = x + x.dtype.type(3)
    np.clip(y, x.dtype.type(0), x.dtype.type(6), out=y)
    return y


def _hsigmoid(x: np.ndarray) -> np.ndarray:
    y = _relu6_of_x_plus_3(x)
    y /= x.dtype.type(6)
    return y


def hswish(x: np.ndarray) -> np.ndarray:
    """x * min(max(x + 3, 0), 6) / 6, in the reference's order (multiply, then divide)."""
    y = _relu6_of_x_plus_3(x)
    y *= x
    y /= x.dtype.type(6)
    return y


def _round_half_away(x: np.ndarray) -> np.ndarray:
    nearest = np.rint(x)
    ties = np.abs(x - np.trunc(x)) == 0.5
    return np.where(ties, np.trunc(x) + np.sign(x), nearest)


class _Unary(Op):
    """A unary op: one input, output of the same type and shape."""

    traits = _ELEMENTWISE
    integers = False  # True when the function is exact on integers

    def function(self, x: np.ndarray, **attrs) -> np.ndarray:
        raise NotImplementedError

    def infer(self, ctx: InferContext):
        etype = ctx.etype(0)
        if not (etype.is_float or etype is types.dynamic or (self.integers and etype.is_integral)):
            raise ctx.fail(f"input is {etype}: {self.type} takes floating-point inputs")
        return [(etype, ctx.shape(0))]

    def evaluate(self, x, **attrs):
        x = np.asarray(x)
        if x.dtype.kind not in _FLOAT_KINDS:
            return (np.asarray(self.function(x, **attrs)).astype(x.dtype, copy=False),)
        with np.errstate(all="ignore"):  # exp overflow, log(-1) ...: IEEE results, as in OpenVINO
            return (np.asarray(self.function(as_compute(x), **attrs)).astype(x.dtype, copy=False),)


def _unary(op_type: str, function: Callable[[np.ndarray], np.ndarray], *, integers: bool = False,
           opset: int = 1, fresh: bool = False) -> type[_Unary]:
    """Register a unary op whose evaluation is one numpy function (``fresh``: it always allocates)."""
    cls = type(f"{op_type}Opset{opset}", (_Unary,), {
        "integers": integers, "function": lambda self, x: function(x), "__doc__": f"{op_type}-{opset}.",
        "fresh_outputs": fresh,
    })
    return register(op_type, opset=opset)(cls)


def _relu(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind == "f":  # clip with two finite-or-infinite bounds is numpy's fastest path
        return np.clip(x, x.dtype.type(0), x.dtype.type(np.inf))
    return np.maximum(x, x.dtype.type(0))


_unary("Relu", _relu, integers=True, fresh=True)
_unary("Abs", np.abs, integers=True)
_unary("Negative", np.negative, integers=True)
_unary("Sign", np.sign, integers=True)
_unary("Floor", np.floor, integers=True)
_unary("Ceiling", np.ceil, integers=True)
_unary("Identity", np.copy, integers=True, opset=16)
_unary("Sigmoid", _sigmoid)
_unary("Tanh", np.tanh)
_unary("Exp", np.exp)
_unary("Log", np.log)
_unary("Sqrt", np.sqrt)
_unary("Sin", np.sin)
_unary("Cos", np.cos)
_unary("Erf", lambda x: erf(x).astype(x.dtype, copy=False))
_unary("Gelu", _gelu_erf, opset=2)
_unary("HSwish", hswish, opset=4)
_unary("HSigmoid", _hsigmoid, opset=5)
_unary("Mish", lambda x: x * np.tanh(_softplus(x)), opset=4)
_unary("SoftPlus", _softplus, opset=4)
_unary("SoftSign", lambda x: x / (1 + np.abs(x)), opset=9)
_unary("Tan", np.tan)
_unary("Asin", np.arcsin)
_unary("Acos", np.arccos)
_unary("Atan", np.arctan)
_unary("Sinh", np.sinh)
_unary("Cosh", np.cosh)
_unary("Asinh", np.arcsinh, opset=4)
_unary("Acosh", np.arccosh, opset=4)
_unary("Atanh", np.arctanh, opset=4)


@register("Gelu", opset=7)
class Gelu7(_Unary):
    attrs = {"approximation_mode": Attr("str", default="erf")}

    def infer(self, ctx: InferContext):
        mode = ctx.attrs["approximation_mode"].lower()
        if mode not in ("erf", "tanh"):
            raise ctx.fail(f"approximation_mode={mode!r}: must be erf or tanh")
        return super().infer(ctx)

    def function(self, x, *, approximation_mode="erf"):
        return _gelu_tanh(x) if approximation_mode.lower() == "tanh" else _gelu_erf(x)


@register("Round", opset=5)
class Round(_Unary):
    attrs = {"mode": Attr("str", default="half_to_even")}
    integers = True

    def infer(self, ctx: InferContext):
        if ctx.attrs["mode"] not in ("half_to_even", "half_away_from_zero"):
            raise ctx.fail(f"mode={ctx.attrs['mode']!r}: must be half_to_even or half_away_from_zero")
        return super().infer(ctx)

    def function(self, x, *, mode="half_to_even"):
        if x.dtype.kind not in "f":
            return x
        return np.rint(x) if mode == "half_to_even" else _round_half_away(x)


@register("Elu", opset=1)
class Elu(_Unary):
    attrs = {"alpha": Attr("float")}

    def function(self, x, *, alpha):
        return np.where(x > 0, x, x.dtype.type(alpha) * np.expm1(np.minimum(x, 0)))


def _clamp_bounds(dtype: np.dtype, low: float, high: float) -> tuple:
    """Clamp's bounds in ``dtype``: integers take ceil(min) and floor(max), saturated."""
    if dtype.kind not in "iu":
        return dtype.type(low), dtype.type(high)
    info = np.iinfo(dtype)
    return (dtype.type(min(max(math.ceil(low), info.min), info.max)),
            dtype.type(min(max(math.floor(high), info.min), info.max)))


@register("Clamp", opset=1)
class Clamp(_Unary):
    attrs = {"min": Attr("float"), "max": Attr("float")}
    integers = True
    fresh_outputs = True  # np.clip always allocates

    def infer(self, ctx: InferContext):
        if not ctx.attrs["min"] <= ctx.attrs["max"]:
            raise ctx.fail(f"min={ctx.attrs['min']} is greater than max={ctx.attrs['max']}")
        return super().infer(ctx)

    def function(self, x, *, min, max):
        low, high = _clamp_bounds(x.dtype, min, max)
        return np.clip(x, low, high)  # one pass; several times faster than minimum(maximum())


class _WithScalarInputs(Op):
    """An activation whose parameters are inputs 1.. (scalars or broadcastable tensors)."""

    traits = _ELEMENTWISE

    def input_count_range(self) -> tuple[int, int | None]:
        return signature_input_range(type(self).compute)  # the data, then the parameters compute takes

    def infer(self, ctx: InferContext):
        etype = ctx.etype(0)
        if not (etype.is_float or etype is types.dynamic):
            raise ctx.fail(f"input is {etype}: {self.type} takes floating-point inputs")
        fewest, most = self.input_count_range()
        if not fewest <= ctx.num_inputs <= most:
            raise ctx.fail(f"{self.type} takes {fewest if fewest == most else f'{fewest} or {most}'} inputs, "
                           f"got {ctx.num_inputs}")
        for i in range(1, ctx.num_inputs):
            if ctx.etype(i) is not etype and ctx.etype(i) is not types.dynamic:
                raise ctx.fail(f"input {i} is {ctx.etype(i)}, the data is {etype}: types must be equal")
        return [(etype, ctx.shape(0))]

    def compute(self, x: np.ndarray, *params: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def evaluate(self, x, *params):
        x = np.asarray(x)
        computed = [as_compute(np.asarray(p)) for p in params]
        with np.errstate(all="ignore"):
            return (np.asarray(self.compute(as_compute(x), *computed)).astype(x.dtype, copy=False),)


@register("HardSigmoid", opset=1)
class HardSigmoid(_WithScalarInputs):
    def compute(self, x, alpha, beta):
        return np.clip(alpha * x + beta, 0, 1)


@register("Selu", opset=1)
class Selu(_WithScalarInputs):
    def compute(self, x, alpha, lambda_):
        return lambda_ * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


@register("Swish", opset=4)
class Swish(_WithScalarInputs):
    """x * sigmoid(beta * x); beta (input 1) is optional and 1 by default."""

    def compute(self, x, beta=None):
        return x * _sigmoid(x if beta is None else beta * x)


def prelu_slope(x_shape: tuple[int, ...], slope: np.ndarray) -> np.ndarray:
    """PRelu's slope shaped for numpy broadcasting: a 1-D slope as long as dim 1 is per channel."""
    if slope.ndim == 1 and len(x_shape) >= 2 and slope.shape[0] == x_shape[1] and slope.shape[0] != 1:
        return slope.reshape((-1,) + (1,) * (len(x_shape) - 2))
    return slope


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


@register("PRelu", opset=1)
class PRelu(Op):
    traits = _ELEMENTWISE

    def infer(self, ctx: InferContext):
        etype, shape, slope_shape = ctx.etype(0), ctx.shape(0), ctx.shape(1)
        if ctx.etype(1) is not etype:
            raise ctx.fail(f"slope is {ctx.etype(1)}, the data is {etype}: types must be equal")
        if is_static(shape) and is_static(slope_shape):
            aligned = prelu_slope(shape, np.empty(slope_shape, dtype=np.uint8)).shape
            if not _broadcasts_to(aligned, shape):
                raise ctx.fail(f"slope shape {list(slope_shape)} does not broadcast to the data {list(shape)}")
        return [(etype, shape)]

    def evaluate(self, x, slope):
        x, slope = np.asarray(x), np.asarray(slope)
        slope = prelu_slope(x.shape, slope)
        if x.dtype.kind in _FLOAT_KINDS:
            result = np.where(x < 0, as_compute(slope) * as_compute(x), as_compute(x))
        else:
            result = np.where(x < 0, slope * x, x)
        if result.shape != x.shape:
            raise ValidationError(f"PRelu slope {list(slope.shape)} broadcasts the data {list(x.shape)} "
                                  f"to {list(result.shape)}")
        return (result.astype(x.dtype, copy=False),)
