"""FakeQuantize on activations → ``QuantizeLinear → DequantizeLinear``; Convert → Cast.

A FakeQuantize whose input is a constant is a weight (see :mod:`.weights`). On activations its
range must have an exact QDQ form (:func:`lpir.ir.qparams.fake_quantize_to_qdq`): 256 levels
exactly, 255 and 16 levels as the narrow range of i8/u8 and i4/u4 (values beyond the range's
low end of a signed narrow range, or its high end of an unsigned one, are clipped one step
further than FakeQuantize clips them). Other forms are an error naming the node, unless the
export falls back to float: then the FakeQuantize formula is written with float ops (the same
values, no integer kernel).
"""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.emit import EmitContext, emitter, onnx_type
from lpir.ir import qparams, types
from lpir.ir.graph import Node
from lpir.ir.qparams import Affine


@emitter("FakeQuantize")
def _fake_quantize(ctx: EmitContext, node: Node) -> None:
    x = node.inputs[0].source
    ranges = [ctx.static(p.source, f"FakeQuantize input {p.index} (a range limit)") for p in node.inputs[1:]]
    levels = int(node.attrs["levels"])
    try:
        form = qparams.fake_quantize_to_qdq(*ranges, levels)
    except ValueError as exc:
        if not ctx.float_fallback:
            raise ctx.fail(node, f"has no QuantizeLinear/DequantizeLinear form: {exc}; "
                                 "export with float_fallback=True to write it as float arithmetic") from None
        _float_formula(ctx, node, ranges, levels)
        return
    if form.etype.bits == 4:
        ctx.require(21, f"FakeQuantize '{node.name}' with {levels} levels (4-bit QuantizeLinear)")
    rank = len(x.shape) if x.shape is not None else None
    name = ctx.name(x)
    quantized = ctx.add("QuantizeLinear", [name, *_params(ctx, node, form.quantize, rank, "quantize")[:2]],
                        name=f"{node.name}/quantize",
                        axis=_params(ctx, node, form.quantize, rank, "quantize", axis_only=True))
    scale, zero_point, axis = _params(ctx, node, form.dequantize, rank, "dequantize", with_axis=True)
    output = ctx.output_name(node.outputs[0])
    ctx.add("DequantizeLinear", [quantized[0], scale, zero_point], output, name=node.name, axis=axis)
    if np.asarray(form.dequantize.scale).size == 1:
        ctx.activation_scales[output] = np.asarray(form.dequantize.scale, np.float32).reshape(())


def _axis(node: Node, form: Affine, rank: int | None) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Scale and zero point as a scalar or a 1-D vector along one axis of the data."""
    shape = np.broadcast_shapes(np.shape(form.scale), np.shape(form.zero_point))
    scale = np.broadcast_to(form.scale, shape)
    zero_point = np.broadcast_to(form.zero_point, shape)
    varying = [a for a, d in enumerate(shape) if d != 1]
    if not varying:
        return scale.reshape(()), zero_point.reshape(()), None
    if len(varying) > 1:
        raise ValueError(f"ranges vary along {len(varying)} axes (QuantizeLinear takes one)")
    axis = varying[0] + ((rank or len(shape)) - len(shape))
    return scale.reshape(-1), zero_point.reshape(-1), axis


def _params(ctx: EmitContext, node: Node, form: Affine, rank: int | None, what: str, *,
            axis_only: bool = False, with_axis: bool = False):
    try:
        scale, zero_point, axis = _axis(node, form, rank)
    except ValueError as exc:
        raise ctx.fail(node, str(exc)) from None
    if axis_only:
        return axis
    names = [ctx.initializer(scale.astype(np.float32), f"{node.name}/{what}_scale", types.f32),
             ctx.initializer(zero_point.astype(form.etype.dtype), f"{node.name}/{what}_zero_point", form.etype)]
    return (*names, axis) if with_axis else names


def _float_formula(ctx: EmitContext, node: Node, ranges: list[np.ndarray], levels: int) -> None:
    """round((clip(x, il, ih) - il) / (ih - il) * (L-1)) / (L-1) * (oh - ol) + ol, in float ops."""
    il, ih, ol, oh = (np.asarray(r, np.float32) for r in ranges)
    x = ctx.name(node.inputs[0].source)
    base = node.name

    def const(value, suffix):
        return ctx.initializer(np.asarray(value, np.float32), f"{base}/{suffix}", types.f32)

    clipped = ctx.add("Max", [ctx.add("Min", [x, const(ih, "input_high")], name=f"{base}/min")[0],
                              const(il, "input_low")], name=f"{base}/max")[0]
    shifted = ctx.add("Sub", [clipped, const(il, "input_low")], name=f"{base}/sub")[0]
    steps = ctx.add("Mul", [ctx.add("Div", [shifted, const(ih - il, "input_width")], name=f"{base}/div")[0],
                            const(levels - 1, "levels")], name=f"{base}/mul")[0]
    rounded = ctx.add("Round", [steps], name=f"{base}/round")[0]
    scaled = ctx.add("Mul", [ctx.add("Div", [rounded, const(levels - 1, "levels")], name=f"{base}/steps")[0],
                             const(oh - ol, "output_width")], name=f"{base}/scale")[0]
    ctx.add("Add", [scaled, const(ol, "output_low")], ctx.output_name(node.outputs[0]), name=base)


@emitter("Convert")
def _convert(ctx: EmitContext, node: Node) -> None:
    target = node.attrs["destination_type"]
    target = types.parse_type(target)
    ctx.add("Cast", [ctx.name(node.inputs[0].source)], ctx.output_name(node.outputs[0]), name=node.name,
            to=onnx_type(target, f"Convert '{node.name}'"))
