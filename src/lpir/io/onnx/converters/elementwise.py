"""Elementwise ONNX ops: arithmetic, comparisons, logic, activations, Clip, Cast, Where."""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter, element_type
from lpir.ir import types
from lpir.ir.graph import Output

_BINARY = {
    "Add": "Add", "Sub": "Subtract", "Mul": "Multiply",
    "Equal": "Equal", "Less": "Less", "Greater": "Greater", "LessOrEqual": "LessEqual",
    "GreaterOrEqual": "GreaterEqual", "And": "LogicalAnd", "Or": "LogicalOr", "Xor": "LogicalXor",
    "BitwiseAnd": "BitwiseAnd", "BitwiseOr": "BitwiseOr", "BitwiseXor": "BitwiseXor",
}
_UNARY = {
    "Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Erf": "Erf", "Exp": "Exp", "Log": "Log",
    "Neg": "Negative", "Abs": "Abs", "Floor": "Floor", "Ceil": "Ceiling", "Sqrt": "Sqrt",
    "Not": "LogicalNot", "Sign": "Sign", "Sin": "Sin", "Cos": "Cos", "Tan": "Tan", "Asin": "Asin",
    "Acos": "Acos", "Atan": "Atan", "Sinh": "Sinh", "Cosh": "Cosh", "Asinh": "Asinh", "Acosh": "Acosh",
    "Atanh": "Atanh", "Softsign": "SoftSign", "IsNaN": "IsNaN", "BitwiseNot": "BitwiseNot",
}


# These lpir ops have one definition each: the newest is the one.
_NEWEST = 1000


def _binary(ctx: NodeContext) -> Output:
    return ctx.op(_BINARY[ctx.op_type], ctx.input(0), ctx.input(1), opset=_NEWEST)


for _onnx, _ov in _BINARY.items():
    converter(_onnx, emits=_ov)(_binary)


@converter("Div", emits="Divide")
def _divide(ctx: NodeContext) -> Output:
    # ONNX integer division truncates toward zero, which is Divide without Python flooring.
    a, b = ctx.input(0), ctx.input(1)
    return ctx.op("Divide", a, b, m_pythondiv=not a.etype.is_integral)


def _unary(ctx: NodeContext) -> Output:
    return ctx.op(_UNARY[ctx.op_type], ctx.input(0), opset=_NEWEST)


for _onnx, _ov in _UNARY.items():
    converter(_onnx, emits=_ov)(_unary)


@converter("Reciprocal", emits="Divide")
def _reciprocal(ctx: NodeContext) -> Output:
    x = ctx.input(0)
    return ctx.op("Divide", ctx.const_like(1, x, "one"), x)


@converter("Sum", "Max", "Min", "Mean", emits=("Add", "Maximum", "Minimum", "Divide"))
def _variadic(ctx: NodeContext) -> Output:
    """Folds the inputs pairwise, left to right; the node giving the result has the ONNX name."""
    ov_type = {"Sum": "Add", "Mean": "Add", "Max": "Maximum", "Min": "Minimum"}[ctx.op_type]
    inputs = ctx.inputs()
    total = inputs[0]
    for step, operand in enumerate(inputs[1:], start=1):
        is_last = step == len(inputs) - 1 and ctx.op_type != "Mean"
        total = ctx.op(ov_type, total, operand, suffix=None if is_last else f"{ov_type}_{step}")
    if ctx.op_type == "Mean":
        total = ctx.op("Divide", total, ctx.const_like(len(inputs), total, "count"))
    return total


@converter("Softplus", emits="SoftPlus")
def _softplus(ctx: NodeContext) -> Output:
    return ctx.op("SoftPlus", ctx.input(0), opset=4)


@converter("HardSwish", emits="HSwish")
def _hswish(ctx: NodeContext) -> Output:
    return ctx.op("HSwish", ctx.input(0), opset=4)


@converter("Mish", emits="Mish")
def _mish(ctx: NodeContext) -> Output:
    return ctx.op("Mish", ctx.input(0), opset=4)


@converter("HardSigmoid", emits="HardSigmoid")
def _hard_sigmoid(ctx: NodeContext) -> Output:
    x = ctx.input(0)
    alpha = ctx.const_like(ctx.attr("alpha", 0.2), x, "alpha")
    beta = ctx.const_like(ctx.attr("beta", 0.5), x, "beta")
    return ctx.op("HardSigmoid", x, alpha, beta)


@converter("LeakyRelu", emits="PRelu")
def _leaky_relu(ctx: NodeContext) -> Output:
    x = ctx.input(0)
    return ctx.op("PRelu", x, ctx.const_like(ctx.attr("alpha", 0.01), x, "alpha"))


@converter("PRelu", emits="PRelu")
def _prelu(ctx: NodeContext) -> Output:
    return ctx.op("PRelu", ctx.input(0), ctx.input(1))


@converter("Elu", emits="Elu")
def _elu(ctx: NodeContext) -> Output:
    return ctx.op("Elu", ctx.input(0), alpha=float(ctx.attr("alpha", 1.0)))


@converter("Gelu", emits="Gelu")
def _gelu(ctx: NodeContext) -> Output:
    mode = ctx.attr("approximate", "none")
    return ctx.op("Gelu", ctx.input(0), opset=7, approximation_mode="tanh" if mode == "tanh" else "erf")


@converter("Clip", emits=lambda opset: ("Clamp",) if opset < 11 else ("Maximum", "Minimum"))
def _clip(ctx: NodeContext) -> Output:
    """Attributes (opset < 11) give a Clamp; inputs (opset ≥ 11) give Maximum then Minimum."""
    x = ctx.input(0)
    if ctx.opset < 11:
        info = np.finfo(np.float32)
        return ctx.op("Clamp", x, min=float(ctx.attr("min", info.min)), max=float(ctx.attr("max", info.max)))
    low, high = ctx.optional_input(1), ctx.optional_input(2)
    if low is None and high is None:
        return x
    if low is not None:
        x = ctx.op("Maximum", x, low, suffix=None if high is None else "min")
    if high is not None:
        x = ctx.op("Minimum", x, high)
    return x


# largest finite value of each float8 type: a saturating cast clamps to it
_FLOAT8_LIMITS = {types.f8e4m3: 448.0, types.f8e5m2: 57344.0}


def saturated_float8(ctx: NodeContext, x: Output, etype: types.ElementType) -> Output:
    """From opset 19 a cast to float8 saturates by default: values beyond the type's range,
    infinities included, become its largest finite value (Convert alone gives NaN or inf)."""
    limit = _FLOAT8_LIMITS.get(etype)
    if limit is None or ctx.opset < 19 or not ctx.attr("saturate", 1) or not (x.etype.is_float or x.etype.is_integral):
        return x
    return ctx.op("Clamp", x, min=-limit, max=limit, suffix="saturated")


def _power_of_two(ctx: NodeContext, x: Output) -> Output:
    """x rounded to a power of two (FLOAT8E8M0) as ONNX's ``round_mode`` says: ``up`` (the
    default), ``down``, or ``nearest`` with ties up. Convert rounds to nearest with ties to an
    even exponent: the power it gives is moved to the neighbour the mode asks for."""
    mode = ctx.attr("round_mode", "up")
    if mode not in ("up", "down", "nearest"):
        raise ctx.fail(f"round_mode={mode!r} is not one of up, down, nearest")
    x = x if x.etype is types.f32 else ctx.op("Convert", x, destination_type=types.f32, suffix="f32")
    converted = ctx.op("Convert", x, destination_type=types.f8e8m0, suffix="nearest")
    power = ctx.op("Convert", converted, destination_type=types.f32, suffix="nearest_f32")
    doubled = ctx.op("Multiply", power, ctx.const(np.float32(2), "two"), suffix="doubled")
    halved = ctx.op("Multiply", power, ctx.const(np.float32(0.5), "half"), suffix="halved")
    up = ctx.op("Select", ctx.op("Less", power, x, suffix="below"), doubled, power, suffix="up")
    if mode == "up":
        return up
    down = ctx.op("Select", ctx.op("Greater", power, x, suffix="above"), halved, power, suffix="down")
    if mode == "down":
        return down
    # both distances are exact in f32 (x lies between down and up = 2 * down)
    nearer_up = ctx.op("GreaterEqual", ctx.op("Subtract", x, down, suffix="from_down"),
                       ctx.op("Subtract", up, x, suffix="to_up"), suffix="nearer_up")
    return ctx.op("Select", nearer_up, up, down, suffix="rounded")


@converter("Cast", emits=("Convert", "Clamp", "Multiply", "Less", "Greater", "GreaterEqual", "Subtract", "Select"))
def _cast(ctx: NodeContext) -> Output:
    etype = element_type(ctx.attr("to"), f"ONNX node '{ctx.name}'")
    if etype is types.f8e8m0:
        return ctx.op("Convert", _power_of_two(ctx, ctx.input(0)), destination_type=etype)
    return ctx.op("Convert", saturated_float8(ctx, ctx.input(0), etype), destination_type=etype)


@converter("CastLike", emits=("ConvertLike", "Convert", "Clamp"))
def _cast_like(ctx: NodeContext) -> Output:
    """ConvertLike, or Convert to a sub-byte type: ConvertLike's evaluation sees only the int8/
    uint8/float32 holder of a 2- or 4-bit ``like``, so it would miss the wrap or rounding."""
    like = ctx.input(1)
    x = saturated_float8(ctx, ctx.input(0), like.etype)
    if like.etype in types.ML_DTYPES:
        return ctx.op("Convert", x, destination_type=like.etype)
    return ctx.op("ConvertLike", x, like)


@converter("Where", emits="Select")
def _where(ctx: NodeContext) -> Output:
    return ctx.op("Select", ctx.input(0), ctx.input(1), ctx.input(2))


@converter("Identity", "Dropout", emits=("ShapeOf", "Broadcast"))
def _identity(ctx: NodeContext) -> list[Output]:
    """Identity and inference-mode Dropout pass their input through (no node is built); the
    mask of Dropout keeps every element (all true)."""
    x = ctx.input(0)
    if ctx.op_type != "Dropout" or len(ctx.node.output) < 2 or not ctx.node.output[1]:
        return [x]
    training = ctx.value(2)
    if training is None and ctx.optional_input(2) is not None:
        raise ctx.fail("training_mode must be a constant")
    if training is not None and bool(training.reshape(-1)[0]):
        raise ctx.fail("Dropout in training mode is not supported")
    shape = ctx.op("ShapeOf", x, opset=3, output_type=types.i64, suffix="shape")
    return [x, ctx.op("Broadcast", ctx.const(np.bool_(True), "keep"), shape, opset=3, mode="numpy", suffix="mask")]


@converter("Mod", emits=("FloorMod", "Mod"))
def _mod(ctx: NodeContext) -> Output:
    """fmod=0: the sign of the divisor (FloorMod); fmod=1: C's fmod, the sign of the dividend (Mod)."""
    return ctx.op("Mod" if ctx.attr("fmod", 0) else "FloorMod", ctx.input(0), ctx.input(1))


@converter("BitShift", emits=("BitwiseLeftShift", "BitwiseRightShift"))
def _bit_shift(ctx: NodeContext) -> Output:
    direction = ctx.attr("direction")
    if direction not in ("LEFT", "RIGHT"):
        raise ctx.fail(f"direction {direction!r} is not LEFT or RIGHT")
    return ctx.op("BitwiseLeftShift" if direction == "LEFT" else "BitwiseRightShift", ctx.input(0), ctx.input(1),
                  opset=15)


@converter("IsInf", emits="IsInf")
def _is_inf(ctx: NodeContext) -> Output:
    return ctx.op("IsInf", ctx.input(0), opset=10, detect_negative=bool(ctx.attr("detect_negative", 1)),
                  detect_positive=bool(ctx.attr("detect_positive", 1)))


@converter("Round", emits="Round")
def _round(ctx: NodeContext) -> Output:
    return ctx.op("Round", ctx.input(0), opset=5, mode="half_to_even")


@converter("Selu", emits="Selu")
def _selu(ctx: NodeContext) -> Output:
    x = ctx.input(0)
    alpha = ctx.const_like(ctx.attr("alpha", 1.67326319217681884765625), x, "alpha")
    gamma = ctx.const_like(ctx.attr("gamma", 1.05070102214813232421875), x, "lambda")
    return ctx.op("Selu", x, alpha, gamma)


@converter("Swish", emits="Swish", spec_opset=24)
def _swish(ctx: NodeContext) -> Output:
    x = ctx.input(0)
    return ctx.op("Swish", x, ctx.const_like(ctx.attr("alpha", 1.0), x, "beta"), opset=4)


@converter("Celu", emits=("Divide", "Elu", "Multiply"))
def _celu(ctx: NodeContext) -> Output:
    """alpha * Elu(x / alpha), which is x above 0 and alpha * (exp(x / alpha) - 1) below."""
    x = ctx.input(0)
    alpha = ctx.const_like(ctx.attr("alpha", 1.0), x, "alpha")
    scaled = ctx.op("Divide", x, alpha, suffix="scaled")
    return ctx.op("Multiply", ctx.op("Elu", scaled, alpha=1.0, suffix="elu"), alpha)


@converter("ThresholdedRelu", emits=("Greater", "Select"))
def _thresholded_relu(ctx: NodeContext) -> Output:
    x = ctx.input(0)
    above = ctx.op("Greater", x, ctx.const_like(ctx.attr("alpha", 1.0), x, "alpha"), suffix="above")
    return ctx.op("Select", above, x, ctx.const_like(0, x, "zero"))


@converter("Shrink", emits=("Less", "Greater", "Add", "Subtract", "Select"))
def _shrink(ctx: NodeContext) -> Output:
    """x + bias below -lambd, x - bias above lambd, 0 between."""
    x = ctx.input(0)
    lambd, bias = float(ctx.attr("lambd", 0.5)), float(ctx.attr("bias", 0.0))
    low = ctx.op("Less", x, ctx.const_like(-lambd, x, "low"), suffix="below")
    high = ctx.op("Greater", x, ctx.const_like(lambd, x, "high"), suffix="above")
    raised = ctx.op("Add", x, ctx.const_like(bias, x, "bias"), suffix="raised")
    lowered = ctx.op("Subtract", x, ctx.const_like(bias, x, "bias_sub"), suffix="lowered")
    upper = ctx.op("Select", high, lowered, ctx.const_like(0, x, "zero"), suffix="upper")
    return ctx.op("Select", low, raised, upper)


@converter("Pow", emits=("Power", "ConvertLike"))
def _pow(ctx: NodeContext) -> Output:
    """The result has the base's type: a float exponent of an integer base is applied in float,
    then truncated; other exponents take the base's type."""
    base, exponent = ctx.input(0), ctx.input(1)
    if exponent.etype is base.etype:
        return ctx.op("Power", base, exponent)
    if base.etype.is_integral and exponent.etype.is_float:
        wide = ctx.op("ConvertLike", base, exponent, suffix="base")
        return ctx.op("ConvertLike", ctx.op("Power", wide, exponent, suffix="power"), base)
    return ctx.op("Power", base, ctx.op("ConvertLike", exponent, base, suffix="exponent"))
