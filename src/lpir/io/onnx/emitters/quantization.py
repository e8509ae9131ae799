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
from lpir.ir.dequantization import match_dequantization
from lpir.ir.graph import Node
from lpir.ir.qparams import Affine


@emitter("FakeQuantize")
def _fake_quantize(ctx: EmitContext, node: Node) -> None:
    x = node.inputs[0].source
    ranges = [ctx.static(p.source, f"FakeQuantize input {p.index} (a range limit)") for p in node.inputs[1:]]
    levels = int(node.attrs["levels"])
    if _quantize_to_integers(ctx, node, ranges, levels):
        return
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


def _quantize_to_integers(ctx: EmitContext, node: Node, ranges: list[np.ndarray], levels: int) -> bool:
    """``Convert(int)(FakeQuantize(x) onto the type's integers)`` — an imported QuantizeLinear — is
    written back as one QuantizeLinear whose output is the Convert's."""
    consumers = [port.node for port in node.outputs[0].consumers]
    if not consumers or any(c.type != "Convert" for c in consumers):
        return False
    targets = {types.parse_type(c.attrs["destination_type"]) for c in consumers}
    target = targets.pop() if len(targets) == 1 else None
    if target is None or target not in (types.i8, types.u8, types.i4, types.u4) or levels != 1 << target.bits:
        return False
    if not (np.all(ranges[2] == target.min) and np.all(ranges[3] == target.max)):
        return False
    form = qparams.affine(ranges[0], ranges[1], levels, target)
    if form is None:
        return False
    if target.bits == 4:
        ctx.require(21, f"FakeQuantize '{node.name}' onto {target.name} (4-bit QuantizeLinear)")
    rank = len(node.inputs[0].source.shape) if node.inputs[0].source.shape is not None else None
    scale, zero_point, axis = _params(ctx, node, form, rank, "quantize", with_axis=True)
    name = ctx.output_name(consumers[0].outputs[0])
    ctx.add("QuantizeLinear", [ctx.name(node.inputs[0].source), scale, zero_point], name, name=node.name, axis=axis)
    for convert in consumers:
        ctx.bind(convert.outputs[0], name)
        ctx.absorb(convert)
    return True


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
    target = types.parse_type(node.attrs["destination_type"])
    if _dequantize_activation(ctx, node):
        return
    ctx.add("Cast", [ctx.name(node.inputs[0].source)], ctx.output_name(node.outputs[0]), name=node.name,
            to=onnx_type(target, f"Convert '{node.name}'"))


@emitter("ConvertLike")
def _convert_like(ctx: EmitContext, node: Node) -> None:
    ctx.add("Cast", [ctx.name(node.inputs[0].source)], ctx.output_name(node.outputs[0]), name=node.name,
            to=onnx_type(node.inputs[1].source.etype, f"ConvertLike '{node.name}'"))


def _dequantize_activation(ctx: EmitContext, node: Node) -> bool:
    """``Convert → [Subtract zero point] → Multiply scale`` on integers computed at run time (an
    imported DequantizeLinear) is written back as one DequantizeLinear."""
    data = node.inputs[0].source
    match = match_dequantization(data)
    if match is None or match.convert is not node or match.data.etype not in (types.i8, types.u8, types.i4, types.u4):
        return False
    scale_port = next(p for p in match.multiply.inputs if p.source.node is not (match.subtract or match.convert))
    scale = ctx.value(scale_port.source)
    zero_point = None if match.subtract is None else ctx.value(match.subtract.inputs[1].source)
    rank = len(data.shape) if data.shape is not None else None
    if scale is None or (match.subtract is not None and zero_point is None) or rank is None:
        return False
    if zero_point is None:
        zero_point = np.zeros((), np.int64)
    form = Affine(match.data.etype, np.asarray(scale, np.float32), np.rint(zero_point).astype(np.int64))
    try:
        scale_out, zero_out, axis = _axis(node, form, rank)
    except ValueError:
        return False
    output = match.multiply.outputs[0]
    inputs = [ctx.name(data), ctx.initializer(scale_out.astype(np.float32), f"{node.name}/scale", types.f32),
              ctx.initializer(zero_out.astype(match.data.etype.dtype), f"{node.name}/zero_point", match.data.etype)]
    name = ctx.output_name(output)
    ctx.add("DequantizeLinear", inputs, name, name=match.multiply.name, axis=axis)
    for absorbed in (match.subtract, match.multiply):
        if absorbed is not None:
            ctx.absorb(absorbed)
    if scale_out.size == 1:
        ctx.activation_scales[name] = scale_out.reshape(())
    return True
