"""Elementwise ONNX ops: arithmetic, comparisons, logic, activations, Clip, Cast, Where."""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter, element_type
from lpir.ir.graph import Output

_BINARY = {
    "Add": "Add", "Sub": "Subtract", "Mul": "Multiply", "Pow": "Power",
    "Equal": "Equal", "Less": "Less", "Greater": "Greater", "LessOrEqual": "LessEqual",
    "GreaterOrEqual": "GreaterEqual", "And": "LogicalAnd", "Or": "LogicalOr", "Xor": "LogicalXor",
}
_UNARY = {
    "Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Erf": "Erf", "Exp": "Exp", "Log": "Log",
    "Neg": "Negative", "Abs": "Abs", "Floor": "Floor", "Ceil": "Ceiling", "Sqrt": "Sqrt",
    "Not": "LogicalNot", "Sign": "Sign", "Sin": "Sin", "Cos": "Cos",
}


def _binary(ctx: NodeContext) -> Output:
    return ctx.op(_BINARY[ctx.op_type], ctx.input(0), ctx.input(1))


for _onnx, _ov in _BINARY.items():
    converter(_onnx, emits=_ov)(_binary)


@converter("Div", emits="Divide")
def _divide(ctx: NodeContext) -> Output:
    # ONNX integer division truncates toward zero, which is Divide without Python flooring.
    a, b = ctx.input(0), ctx.input(1)
    return ctx.op("Divide", a, b, m_pythondiv=not a.etype.is_integral)


def _unary(ctx: NodeContext) -> Output:
    return ctx.op(_UNARY[ctx.op_type], ctx.input(0))


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


@converter("Cast", emits="Convert")
def _cast(ctx: NodeContext) -> Output:
    etype = element_type(ctx.attr("to"), f"ONNX node '{ctx.name}'")
    return ctx.op("Convert", ctx.input(0), destination_type=etype)


@converter("CastLike", emits="ConvertLike")
def _cast_like(ctx: NodeContext) -> Output:
    return ctx.op("ConvertLike", ctx.input(0), ctx.input(1))


@converter("Where", emits="Select")
def _where(ctx: NodeContext) -> Output:
    return ctx.op("Select", ctx.input(0), ctx.input(1), ctx.input(2))


@converter("Identity", "Dropout")
def _identity(ctx: NodeContext) -> list[Output]:
    """Identity and inference-mode Dropout pass their input through (no node is built)."""
    if ctx.op_type == "Dropout" and len(ctx.node.output) > 1 and ctx.node.output[1]:
        raise ctx.fail("the mask output of Dropout is not supported")
    return [ctx.input(0)]
