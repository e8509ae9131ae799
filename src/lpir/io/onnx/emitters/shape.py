"""Movement and shape ops: Reshape, Transpose, Concat, Gather, Slice, Squeeze, Split, Pad, ...

OpenVINO passes axes, permutations and split lengths as inputs; where ONNX wants attributes they
must be constants. Reductions are here too: axes as an attribute (raised to an input for opset
18 by :func:`lpir.io.onnx.emit.upgrade_forms`), except ReduceSum which takes them as an input.
"""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.emit import EmitContext, emitter, onnx_type
from lpir.ir import types
from lpir.ir.graph import Node


def _name(ctx: EmitContext, node: Node, index: int) -> str:
    return ctx.name(node.inputs[index].source)


def _ints(ctx: EmitContext, node: Node, index: int, what: str) -> list[int]:
    return [int(v) for v in np.asarray(ctx.static(node.inputs[index].source, what)).reshape(-1)]


def _i64(ctx: EmitContext, node: Node, values, suffix: str) -> str:
    return ctx.initializer(np.asarray(values, np.int64), f"{node.name}/{suffix}", types.i64)


def _out(ctx: EmitContext, node: Node, index: int = 0) -> str:
    return ctx.output_name(node.outputs[index])


def _rank(ctx: EmitContext, node: Node, index: int = 0) -> int:
    shape = node.inputs[index].source.shape
    if shape is None:
        raise ctx.fail(node, "the rank of the input must be known")
    return len(shape)


@emitter("Reshape")
def _reshape(ctx: EmitContext, node: Node) -> None:
    """OpenVINO's special_zero=False reads 0 as a zero dimension: ONNX's allowzero=1 (opset 14),
    needed only when the target shape may hold a 0."""
    target = ctx.value(node.inputs[1].source)
    allow_zero = None
    if not node.attrs.get("special_zero", False) and (target is None or np.any(np.asarray(target) == 0)):
        ctx.require(14, f"Reshape '{node.name}' (allowzero)")
        allow_zero = 1
    shape = _i64(ctx, node, np.asarray(target).reshape(-1), "shape") if target is not None else _name(ctx, node, 1)
    if target is None and node.inputs[1].source.etype is not types.i64:
        shape = ctx.add("Cast", [shape], name=f"{node.name}/shape_i64", to=onnx_type(types.i64, node.name))[0]
    ctx.add("Reshape", [_name(ctx, node, 0), shape], _out(ctx, node), name=node.name, allowzero=allow_zero)


@emitter("Identity")
def _identity(ctx: EmitContext, node: Node) -> None:
    ctx.add("Identity", [_name(ctx, node, 0)], _out(ctx, node), name=node.name)


@emitter("Transpose")
def _transpose(ctx: EmitContext, node: Node) -> None:
    perm = _ints(ctx, node, 1, "Transpose order")
    ctx.add("Transpose", [_name(ctx, node, 0)], _out(ctx, node), name=node.name, perm=perm or None)


@emitter("Concat")
def _concat(ctx: EmitContext, node: Node) -> None:
    ctx.add("Concat", [ctx.name(p.source) for p in node.inputs], _out(ctx, node), name=node.name,
            axis=int(node.attrs["axis"]))


@emitter("ShapeOf")
def _shape_of(ctx: EmitContext, node: Node) -> None:
    etype = node.outputs[0].etype
    if etype is types.i64:
        ctx.add("Shape", [_name(ctx, node, 0)], _out(ctx, node), name=node.name)
        return
    shape = ctx.add("Shape", [_name(ctx, node, 0)], name=f"{node.name}/i64")[0]
    ctx.add("Cast", [shape], _out(ctx, node), name=node.name, to=onnx_type(etype, node.name))


def _as_i64(ctx: EmitContext, node: Node, index: int, suffix: str) -> str:
    source = node.inputs[index].source
    value = ctx.value(source)
    if value is not None:
        return _i64(ctx, node, np.asarray(value).reshape(-1), suffix)
    name = ctx.name(source)
    if source.etype is types.i64:
        return name
    return ctx.add("Cast", [name], name=f"{node.name}/{suffix}_i64", to=onnx_type(types.i64, node.name))[0]


@emitter("Slice")
def _slice(ctx: EmitContext, node: Node) -> None:
    """Slice-8 (data, start, stop, step, [axes]) → ONNX Slice (data, starts, ends, axes, steps)."""
    inputs = [_name(ctx, node, 0), _as_i64(ctx, node, 1, "starts"), _as_i64(ctx, node, 2, "ends")]
    inputs.append(_as_i64(ctx, node, 4, "axes") if len(node.inputs) > 4 else "")
    inputs.append(_as_i64(ctx, node, 3, "steps"))
    ctx.add("Slice", inputs, _out(ctx, node), name=node.name)


@emitter("Squeeze", "Unsqueeze")
def _squeeze(ctx: EmitContext, node: Node) -> None:
    inputs = [_name(ctx, node, 0)]
    if len(node.inputs) > 1:
        inputs.append(_as_i64(ctx, node, 1, "axes"))
    ctx.add(node.type, inputs, _out(ctx, node), name=node.name)


@emitter("Gather")
def _gather(ctx: EmitContext, node: Node) -> None:
    if node.attrs.get("batch_dims", 0):
        raise ctx.fail(node, "Gather with batch_dims has no ONNX Gather form")
    axis = _ints(ctx, node, 2, "Gather axis")[0]
    ctx.add("Gather", [_name(ctx, node, 0), _name(ctx, node, 1)], _out(ctx, node), name=node.name, axis=axis)


@emitter("GatherElements")
def _gather_elements(ctx: EmitContext, node: Node) -> None:
    ctx.add("GatherElements", [_name(ctx, node, 0), _name(ctx, node, 1)], _out(ctx, node), name=node.name,
            axis=int(node.attrs["axis"]))


@emitter("Range")
def _range(ctx: EmitContext, node: Node) -> None:
    """ONNX Range takes three scalars of its output type; OpenVINO's Range-4 converts them
    (truncating for an integer output, as a Cast does)."""
    etype = node.outputs[0].etype
    inputs = []
    for index, port in enumerate(node.inputs):
        name = ctx.name(port.source)
        if port.source.shape != ():
            name = ctx.add("Reshape", [name, _i64(ctx, node, np.zeros(0), f"scalar_{index}")],
                           name=f"{node.name}/scalar_{index}")[0]
        if port.source.etype is not etype:
            name = ctx.add("Cast", [name], name=f"{node.name}/cast_{index}", to=onnx_type(etype, node.name))[0]
        inputs.append(name)
    ctx.add("Range", inputs, _out(ctx, node), name=node.name)


@emitter("Broadcast")
def _broadcast(ctx: EmitContext, node: Node) -> None:
    if node.attrs.get("mode", "numpy") not in ("numpy", "bidirectional"):
        raise ctx.fail(node, f"Broadcast mode {node.attrs['mode']!r} has no ONNX form")
    ctx.add("Expand", [_name(ctx, node, 0), _as_i64(ctx, node, 1, "shape")], _out(ctx, node), name=node.name)


@emitter("Tile")
def _tile(ctx: EmitContext, node: Node) -> None:
    repeats = _ints(ctx, node, 1, "Tile repeats")
    rank = _rank(ctx, node)
    if len(repeats) < rank:
        repeats = [1] * (rank - len(repeats)) + repeats
    elif len(repeats) > rank:
        raise ctx.fail(node, "Tile that raises the rank has no ONNX Tile form")
    ctx.add("Tile", [_name(ctx, node, 0), _i64(ctx, node, repeats, "repeats")], _out(ctx, node), name=node.name)


def _split(ctx: EmitContext, node: Node, axis: int, lengths: list[int]) -> None:
    outputs = [ctx.output_name(o) for o in node.outputs]
    ctx.add("Split", [_name(ctx, node, 0), _i64(ctx, node, lengths, "split")], outputs, name=node.name, axis=axis)


def _axis_length(ctx: EmitContext, node: Node, axis: int) -> int:
    length = node.inputs[0].source.shape[axis]
    if not isinstance(length, int):
        raise ctx.fail(node, "splitting a dynamic axis is not exported")
    return length


@emitter("Split")
def _split_even(ctx: EmitContext, node: Node) -> None:
    """Equal parts; of an axis whose length is known only at run time, measured then."""
    axis = _ints(ctx, node, 1, "Split axis")[0]
    parts = int(node.attrs["num_splits"])
    shape = node.inputs[0].source.shape
    if shape is not None and isinstance(shape[axis % len(shape)], int):
        _split(ctx, node, axis % len(shape), [shape[axis % len(shape)] // parts] * parts)
        return
    dims = ctx.add("Shape", [_name(ctx, node, 0)], name=f"{node.name}/shape")[0]
    length = ctx.add("Gather", [dims, _i64(ctx, node, axis, "axis")], name=f"{node.name}/length", axis=0)[0]
    part = ctx.add("Div", [length, _i64(ctx, node, parts, "parts")], name=f"{node.name}/part")[0]
    lengths = ctx.add("Expand", [part, _i64(ctx, node, [parts], "count")], name=f"{node.name}/lengths")[0]
    ctx.add("Split", [_name(ctx, node, 0), lengths], [ctx.output_name(o) for o in node.outputs], name=node.name,
            axis=axis)


@emitter("VariadicSplit")
def _split_variadic(ctx: EmitContext, node: Node) -> None:
    axis = _ints(ctx, node, 1, "VariadicSplit axis")[0] % _rank(ctx, node)
    lengths = _ints(ctx, node, 2, "VariadicSplit lengths")
    if -1 in lengths:
        lengths[lengths.index(-1)] = _axis_length(ctx, node, axis) - sum(v for v in lengths if v != -1)
    _split(ctx, node, axis, lengths)


@emitter("Pad")
def _pad(ctx: EmitContext, node: Node) -> None:
    mode = node.attrs["pad_mode"]
    if mode not in ("constant", "reflect", "edge"):
        raise ctx.fail(node, f"pad_mode {mode!r} has no ONNX form")
    pads = _ints(ctx, node, 1, "pads_begin") + _ints(ctx, node, 2, "pads_end")
    inputs = [_name(ctx, node, 0), _i64(ctx, node, pads, "pads")]
    if mode == "constant" and len(node.inputs) > 3:
        inputs.append(_name(ctx, node, 3))
    ctx.add("Pad", inputs, _out(ctx, node), name=node.name, mode=mode)


@emitter("DepthToSpace", "SpaceToDepth")
def _depth_space(ctx: EmitContext, node: Node) -> None:
    mode = node.attrs.get("mode", "blocks_first")
    attrs = {"blocksize": int(node.attrs.get("block_size", 1))}
    if node.type == "DepthToSpace":
        attrs["mode"] = "DCR" if mode == "blocks_first" else "CRD"
    elif mode != "blocks_first":
        raise ctx.fail(node, "SpaceToDepth depth_first has no ONNX form")
    ctx.add(node.type, [_name(ctx, node, 0)], _out(ctx, node), name=node.name, **attrs)


_REDUCE = {"ReduceMean": "ReduceMean", "ReduceMax": "ReduceMax", "ReduceMin": "ReduceMin",
           "ReduceProd": "ReduceProd", "ReduceSum": "ReduceSum", "ReduceL1": "ReduceL1", "ReduceL2": "ReduceL2"}

_GLOBAL_POOL = {"ReduceMean": "GlobalAveragePool", "ReduceMax": "GlobalMaxPool"}


@emitter(*_REDUCE)
def _reduce(ctx: EmitContext, node: Node) -> None:
    axes = _ints(ctx, node, 1, "reduction axes")
    keepdims = 1 if node.attrs.get("keep_dims", False) else 0
    if not axes:  # OpenVINO reduces nothing; ONNX's empty axes would reduce everything
        ctx.add("Identity", [_name(ctx, node, 0)], _out(ctx, node), name=node.name)
        return
    rank = node.inputs[0].source.shape
    spatial = rank is not None and len(rank) > 2 and sorted(a % len(rank) for a in axes) == list(range(2, len(rank)))
    if keepdims and spatial and node.type in _GLOBAL_POOL:  # the importer's reading of global pools
        ctx.add(_GLOBAL_POOL[node.type], [_name(ctx, node, 0)], _out(ctx, node), name=node.name)
        return
    if node.type == "ReduceSum":
        ctx.add("ReduceSum", [_name(ctx, node, 0), _i64(ctx, node, axes, "axes")], _out(ctx, node),
                name=node.name, keepdims=keepdims)
        return
    ctx.add(_REDUCE[node.type], [_name(ctx, node, 0)], _out(ctx, node), name=node.name, axes=axes, keepdims=keepdims)
