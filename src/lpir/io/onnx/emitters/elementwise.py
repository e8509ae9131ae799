"""Element-wise ops: arithmetic, comparisons, logic and activations, mostly one ONNX op each."""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.emit import EmitContext, emitter
from lpir.ir import types
from lpir.ir.graph import Node

# OpenVINO op → ONNX op of the same meaning (numpy broadcasting on both sides).
_SAME = {
    "Add": "Add", "Subtract": "Sub", "Multiply": "Mul", "Power": "Pow", "Maximum": "Max",
    "Minimum": "Min", "Equal": "Equal", "Greater": "Greater", "GreaterEqual": "GreaterOrEqual",
    "Less": "Less", "LessEqual": "LessOrEqual", "LogicalAnd": "And", "LogicalOr": "Or",
    "LogicalXor": "Xor", "LogicalNot": "Not", "Select": "Where", "Abs": "Abs", "Ceiling": "Ceil",
    "Floor": "Floor", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "Erf": "Erf", "Tanh": "Tanh",
    "Sigmoid": "Sigmoid", "Relu": "Relu", "Negative": "Neg", "Sign": "Sign", "Sin": "Sin", "Cos": "Cos",
    "SoftPlus": "Softplus", "SoftSign": "Softsign",
}
# Ops whose ONNX form arrived after opset 13.
_SINCE = {"HSwish": 14}


def _inputs(ctx: EmitContext, node: Node) -> list[str]:
    return [ctx.name(p.source) for p in node.inputs]


def _check_broadcast(ctx: EmitContext, node: Node) -> None:
    if node.attrs.get("auto_broadcast", "numpy") not in ("numpy", "none"):
        raise ctx.fail(node, f"auto_broadcast={node.attrs['auto_broadcast']!r} has no ONNX form (numpy only)")


@emitter(*_SAME)
def _same(ctx: EmitContext, node: Node) -> None:
    _check_broadcast(ctx, node)
    ctx.add(_SAME[node.type], _inputs(ctx, node), ctx.output_name(node.outputs[0]), name=node.name)


@emitter("Divide")
def _divide(ctx: EmitContext, node: Node) -> None:
    _check_broadcast(ctx, node)
    if not node.outputs[0].etype.is_float and node.attrs.get("m_pythondiv", True):
        raise ctx.fail(node, "integer Divide rounding toward minus infinity (m_pythondiv) has no ONNX form")
    ctx.add("Div", _inputs(ctx, node), ctx.output_name(node.outputs[0]), name=node.name)


@emitter("NotEqual")
def _not_equal(ctx: EmitContext, node: Node) -> None:
    _check_broadcast(ctx, node)
    equal = ctx.add("Equal", _inputs(ctx, node), name=f"{node.name}/equal")
    ctx.add("Not", equal, ctx.output_name(node.outputs[0]), name=node.name)


@emitter("SquaredDifference")
def _squared_difference(ctx: EmitContext, node: Node) -> None:
    diff = ctx.add("Sub", _inputs(ctx, node), name=f"{node.name}/sub")[0]
    ctx.add("Mul", [diff, diff], ctx.output_name(node.outputs[0]), name=node.name)


@emitter("HSwish")
def _hswish(ctx: EmitContext, node: Node) -> None:
    ctx.require(_SINCE["HSwish"], f"HSwish '{node.name}' (HardSwish)")
    ctx.add("HardSwish", _inputs(ctx, node), ctx.output_name(node.outputs[0]), name=node.name)


@emitter("HSigmoid")
def _hsigmoid(ctx: EmitContext, node: Node) -> None:
    ctx.add("HardSigmoid", _inputs(ctx, node), ctx.output_name(node.outputs[0]), name=node.name,
            alpha=1.0 / 6.0, beta=0.5)


def _scalar(ctx: EmitContext, node: Node, index: int, what: str) -> float:
    value = np.asarray(ctx.static(node.inputs[index].source, what))
    if value.size != 1:
        raise ctx.fail(node, f"{what} must be one value, got shape {list(value.shape)}")
    return float(value.reshape(()))


@emitter("HardSigmoid")
def _hard_sigmoid(ctx: EmitContext, node: Node) -> None:
    ctx.add("HardSigmoid", [ctx.name(node.inputs[0].source)], ctx.output_name(node.outputs[0]), name=node.name,
            alpha=_scalar(ctx, node, 1, "alpha"), beta=_scalar(ctx, node, 2, "beta"))


@emitter("Elu")
def _elu(ctx: EmitContext, node: Node) -> None:
    ctx.add("Elu", _inputs(ctx, node), ctx.output_name(node.outputs[0]), name=node.name, alpha=float(node.attrs["alpha"]))


@emitter("Clamp")
def _clamp(ctx: EmitContext, node: Node) -> None:
    etype = node.outputs[0].etype
    dtype = etype.dtype if etype is not types.dynamic else np.float32
    low = ctx.initializer(np.asarray(node.attrs["min"]).astype(dtype), f"{node.name}/min")
    high = ctx.initializer(np.asarray(node.attrs["max"]).astype(dtype), f"{node.name}/max")
    ctx.add("Clip", [ctx.name(node.inputs[0].source), low, high], ctx.output_name(node.outputs[0]), name=node.name)


@emitter("Swish")
def _swish(ctx: EmitContext, node: Node) -> None:
    """x * sigmoid(beta * x)."""
    x = ctx.name(node.inputs[0].source)
    scaled = x if len(node.inputs) < 2 else ctx.add("Mul", [x, ctx.name(node.inputs[1].source)],
                                                     name=f"{node.name}/beta")[0]
    gate = ctx.add("Sigmoid", [scaled], name=f"{node.name}/sigmoid")[0]
    ctx.add("Mul", [x, gate], ctx.output_name(node.outputs[0]), name=node.name)


@emitter("Gelu")
def _gelu(ctx: EmitContext, node: Node) -> None:
    """x * (1 + erf(x / sqrt 2)) / 2, or the tanh approximation, in ops every opset has."""
    x = ctx.name(node.inputs[0].source)
    mode = node.attrs.get("approximation_mode", "erf").lower()

    def const(value, suffix):
        return ctx.initializer(np.asarray(value, np.float32), f"{node.name}/{suffix}", types.f32)

    if mode == "tanh":
        cube = ctx.add("Mul", [x, ctx.add("Mul", [x, x], name=f"{node.name}/square")[0]], name=f"{node.name}/cube")[0]
        inner = ctx.add("Add", [x, ctx.add("Mul", [cube, const(0.044715, "c")], name=f"{node.name}/cubic")[0]],
                        name=f"{node.name}/inner")[0]
        curve = ctx.add("Tanh", [ctx.add("Mul", [inner, const(np.sqrt(2 / np.pi), "k")], name=f"{node.name}/arg")[0]],
                        name=f"{node.name}/tanh")[0]
    else:
        curve = ctx.add("Erf", [ctx.add("Div", [x, const(np.sqrt(2.0), "sqrt2")], name=f"{node.name}/arg")[0]],
                        name=f"{node.name}/erf")[0]
    half = ctx.add("Mul", [x, const(0.5, "half")], name=f"{node.name}/half")[0]
    one_plus = ctx.add("Add", [curve, const(1.0, "one")], name=f"{node.name}/one_plus")[0]
    ctx.add("Mul", [half, one_plus], ctx.output_name(node.outputs[0]), name=node.name)


@emitter("PRelu")
def _prelu(ctx: EmitContext, node: Node) -> None:
    """OpenVINO applies a 1-D slope along the channel axis 1, ONNX along the last: reshape it."""
    x, slope = node.inputs[0].source, node.inputs[1].source
    value = ctx.value(slope)
    rank = len(x.shape) if x.shape is not None else None
    if value is not None and value.ndim == 1 and value.size > 1 and rank is not None and rank > 2:
        slope_name = ctx.initializer(value.reshape((-1,) + (1,) * (rank - 2)).astype(np.float32), f"{node.name}/slope")
    else:
        slope_name = ctx.name(slope)
    ctx.add("PRelu", [ctx.name(x), slope_name], ctx.output_name(node.outputs[0]), name=node.name)
