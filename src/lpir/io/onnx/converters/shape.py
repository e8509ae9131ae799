"""ONNX ops that move or reshape data, or compute shapes: Constant, Shape, Reshape, Slice ..."""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter, element_type
from lpir.ir import make_constant, types
from lpir.ir.graph import Output
from lpir.ops import static_value

_I64 = np.int64


@converter("Constant")
def _constant(ctx: NodeContext) -> Output:
    """A Const named like the ONNX output it defines (PP-OCR keeps its weights this way)."""
    for key, dtype in (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", _I64), ("value_ints", _I64)):
        if ctx.has_attr(key):
            value = ctx.attr(key)
            array = value if dtype is None else np.asarray(value, dtype=dtype)
            return make_constant(array, name=ctx.node.output[0]).outputs[0]
    raise ctx.fail(f"only numeric constants are supported, got attributes {sorted(a.name for a in ctx.node.attribute)}")


@converter("Shape", emits=("ShapeOf", "Slice"))
def _shape(ctx: NodeContext) -> Output:
    start, end = ctx.attr("start", 0), ctx.attr("end")
    if start == 0 and end is None:
        return ctx.op("ShapeOf", ctx.input(0), opset=3, output_type=types.i64)
    shape = ctx.op("ShapeOf", ctx.input(0), opset=3, output_type=types.i64, suffix="shape")
    stop = np.iinfo(_I64).max if end is None else end
    return ctx.op("Slice", shape, ctx.const([start], "start", types.i64), ctx.const([stop], "stop", types.i64),
                  ctx.const([1], "step", types.i64), ctx.const([0], "axes", types.i64), opset=8)


@converter("Size", emits=("ShapeOf", "ReduceProd"))
def _size(ctx: NodeContext) -> Output:
    shape = ctx.op("ShapeOf", ctx.input(0), opset=3, output_type=types.i64, suffix="shape")
    return ctx.op("ReduceProd", shape, ctx.const(0, "axis", types.i64), keep_dims=False)


@converter("Gather", emits="Gather")
def _gather(ctx: NodeContext) -> Output:
    axis = ctx.const(ctx.attr("axis", 0), "axis", types.i64)
    return ctx.op("Gather", ctx.input(0), ctx.input(1), axis, opset=8, batch_dims=0)


@converter("GatherElements", emits="GatherElements")
def _gather_elements(ctx: NodeContext) -> Output:
    return ctx.op("GatherElements", ctx.input(0), ctx.input(1), opset=6, axis=ctx.attr("axis", 0))


def _axes_input(ctx: NodeContext, since: int) -> Output:
    """The axes of Squeeze/Unsqueeze: attribute before ``since``, input from it on."""
    if ctx.opset < since:
        return ctx.const(np.asarray(ctx.attr("axes"), dtype=_I64), "axes")
    return ctx.input(1)


@converter("Unsqueeze", emits="Unsqueeze")
def _unsqueeze(ctx: NodeContext) -> Output:
    return ctx.op("Unsqueeze", ctx.input(0), _axes_input(ctx, 13))


@converter("Squeeze", emits="Squeeze")
def _squeeze(ctx: NodeContext) -> Output:
    has_axes = ctx.has_attr("axes") if ctx.opset < 13 else ctx.optional_input(1) is not None
    if not has_axes:
        return ctx.op("Squeeze", ctx.input(0))
    return ctx.op("Squeeze", ctx.input(0), _axes_input(ctx, 13))


@converter("Transpose", emits="Transpose")
def _transpose(ctx: NodeContext) -> Output:
    x = ctx.input(0)
    perm = ctx.attr("perm")
    if perm is None:
        perm = list(range(ctx.rank(x)))[::-1]
    return ctx.op("Transpose", x, ctx.const(np.asarray(perm, dtype=_I64), "perm"))


@converter("Reshape", emits="Reshape")
def _reshape(ctx: NodeContext) -> Output:
    return ctx.op("Reshape", ctx.input(0), ctx.input(1), special_zero=not ctx.attr("allowzero", 0))


@converter("Flatten", emits="Reshape")
def _flatten(ctx: NodeContext) -> Output:
    """Reshape to 2-D; the target needs the product of the leading or of the trailing dims."""
    x = ctx.input(0)
    rank = ctx.rank(x)
    axis = ctx.attr("axis", 1)
    axis = axis + rank if axis < 0 else axis
    lead, trail = x.shape[:axis], x.shape[axis:]
    if all(isinstance(d, int) for d in lead):
        target = [int(np.prod(lead, dtype=_I64)), -1]
    elif all(isinstance(d, int) for d in trail):
        target = [-1, int(np.prod(trail, dtype=_I64))]
    elif axis == 1:
        target = [0, -1]
    else:
        raise ctx.fail(f"Flatten at axis {axis} of shape {list(x.shape)} needs static leading or trailing dims")
    return ctx.op("Reshape", x, ctx.const(np.asarray(target, dtype=_I64), "shape"), special_zero=True)


@converter("Concat", emits="Concat")
def _concat(ctx: NodeContext) -> Output:
    return ctx.build("Concat", ctx.inputs(), {"axis": ctx.attr("axis")}).outputs[0]


@converter("Slice", emits=("Slice", "ShapeOf", "Broadcast"))
def _slice(ctx: NodeContext) -> Output:
    """Slice-8 has ONNX's semantics; opset < 10 passed starts/ends/axes as attributes."""
    x = ctx.input(0)
    if ctx.opset < 10:
        starts = ctx.const(np.asarray(ctx.attr("starts"), dtype=_I64), "starts")
        ends = ctx.const(np.asarray(ctx.attr("ends"), dtype=_I64), "ends")
        axes = ctx.attr("axes")
        axes = None if axes is None else ctx.const(np.asarray(axes, dtype=_I64), "axes")
        steps = None
    else:
        starts, ends = ctx.input(1), ctx.input(2)
        axes, steps = ctx.optional_input(3), ctx.optional_input(4)
    if steps is None:
        steps = _ones_like_vector(ctx, starts)
    inputs = [x, starts, ends, steps] + ([axes] if axes is not None else [])
    return ctx.build("Slice", inputs, opset=8).outputs[0]


def _ones_like_vector(ctx: NodeContext, vector: Output) -> Output:
    """A vector of ones as long as ``vector`` (a Const when its length is static)."""
    length = vector.shape[0] if vector.shape else None
    if isinstance(length, int):
        return ctx.const(np.ones(length, dtype=vector.etype.dtype), "steps")
    shape = ctx.op("ShapeOf", vector, opset=3, output_type=types.i64, suffix="steps_shape")
    return ctx.op("Broadcast", ctx.const(np.array(1, dtype=vector.etype.dtype), "one"), shape,
                  opset=3, mode="numpy", suffix="steps")


@converter("Expand", emits="Broadcast")
def _expand(ctx: NodeContext) -> Output:
    return ctx.op("Broadcast", ctx.input(0), ctx.input(1), opset=3, mode="bidirectional")


@converter("ConstantOfShape", emits="Broadcast")
def _constant_of_shape(ctx: NodeContext) -> Output:
    value = ctx.attr("value")
    value = np.zeros((), dtype=np.float32) if value is None else np.asarray(value).reshape(())
    return ctx.op("Broadcast", ctx.const(value, "value"), ctx.input(0), opset=3, mode="numpy")


@converter("Range", emits="Range")
def _range(ctx: NodeContext) -> Output:
    start = ctx.input(0)
    return ctx.op("Range", start, ctx.input(1), ctx.input(2), opset=4, output_type=start.etype)


@converter("Tile", emits="Tile")
def _tile(ctx: NodeContext) -> Output:
    return ctx.op("Tile", ctx.input(0), ctx.input(1))


@converter("Split", emits=("Split", "VariadicSplit"))
def _split(ctx: NodeContext) -> list[Output]:
    """Equal parts → Split; given sizes (attribute before opset 13, input from it on) → VariadicSplit."""
    x = ctx.input(0)
    axis = ctx.const(ctx.attr("axis", 0), "axis", types.i64)
    count = len(ctx.node.output)
    if ctx.opset < 13:
        sizes = ctx.attr("split")
        sizes = None if sizes is None else ctx.const(np.asarray(sizes, dtype=_I64), "split")
    else:
        sizes = ctx.optional_input(1)
    if sizes is None:
        if ctx.opset >= 18 and ctx.has_attr("num_outputs"):
            count = ctx.attr("num_outputs")
        length = x.shape[ctx.attr("axis", 0)] if x.shape is not None else None
        if isinstance(length, int) and length % count:
            return _uneven_split(ctx, x, axis, length, count)
        return ctx.build("Split", [x, axis], {"num_splits": count}).outputs
    return ctx.build("VariadicSplit", [x, axis, sizes]).outputs


def _uneven_split(ctx: NodeContext, x: Output, axis: Output, length: int, count: int) -> list[Output]:
    """ONNX-18 num_outputs with a remainder: all parts ceil(length/count) but the last; parts
    beyond the length are empty (an If branch not taken may split a shape into more parts
    than it has elements)."""
    part = -(-length // count)
    sizes = [part] * (length // part) + ([length % part] if length % part else [])
    sizes += [0] * (count - len(sizes))
    return ctx.build("VariadicSplit", [x, axis, ctx.const(np.asarray(sizes, dtype=_I64), "split")]).outputs


@converter("Pad", emits=("Pad", "Split", "Convert", "ScatterElementsUpdate", "FloorMod", "Concat", "Add",
                         "ShapeOf", "Gather", "Negative", "Range", "Maximum", "Subtract"))
def _pad(ctx: NodeContext) -> Output:
    """ONNX pads [begins..., ends...] become Pad's two inputs; wrap padding (opset 19), which
    OpenVINO's Pad lacks, gathers each axis at its indices modulo its length."""
    x = ctx.input(0)
    mode = ctx.attr("mode", "constant")
    if mode not in ("constant", "reflect", "edge", "wrap"):
        raise ctx.fail(f"Pad mode {mode!r} is not supported (constant, reflect, edge, wrap)")
    if mode == "wrap":
        return _wrap(ctx, x, *_split_pads(ctx, x))
    if ctx.opset < 11:
        pads = np.asarray(ctx.attr("pads"), dtype=_I64)
        begins, ends = ctx.const(pads[: len(pads) // 2], "pads_begin"), ctx.const(pads[len(pads) // 2:], "pads_end")
        value = ctx.const_like(ctx.attr("value", 0.0), x, "value")
    else:
        begins, ends = _split_pads(ctx, x)
        value = ctx.optional_input(2) or ctx.const_like(0, x, "value")
    return ctx.op("Pad", x, begins, ends, value, opset=12, pad_mode=mode)


def _wrap(ctx: NodeContext, x: Output, begins: Output, ends: Output) -> Output:
    """Axis by axis, negative pads crop first (as ONNX Runtime does); then the kept run of length
    n is gathered at (-begin .. n + end) modulo n, so the data repeats periodically."""
    rank = ctx.rank(x)
    known_begins, known_ends = static_value(begins), static_value(ends)
    shape = ctx.op("ShapeOf", x, opset=3, output_type=types.i64, suffix="input_shape")
    zero = ctx.const(_I64(0), "zero")
    for axis in range(rank):
        if known_begins is not None and known_ends is not None and not known_begins[axis] and not known_ends[axis]:
            continue
        position = ctx.const(_I64(axis), f"axis{axis}")
        begin, end, length = (ctx.op("Gather", v, position, ctx.const(_I64(0), f"{name}{axis}_axis"), opset=8,
                                     suffix=f"{name}{axis}")
                              for v, name in ((begins, "begin"), (ends, "end"), (shape, "length")))
        cut_begin = ctx.op("Maximum", ctx.op("Negative", begin, suffix=f"minus_begin{axis}"), zero,
                           suffix=f"cut_begin{axis}")
        cut_end = ctx.op("Maximum", ctx.op("Negative", end, suffix=f"minus_end{axis}"), zero, suffix=f"cut_end{axis}")
        kept = ctx.op("Subtract", ctx.op("Subtract", length, cut_begin, suffix=f"after_cut{axis}"), cut_end,
                      suffix=f"kept{axis}")
        added_begin = ctx.op("Maximum", begin, zero, suffix=f"added_begin{axis}")
        added_end = ctx.op("Maximum", end, zero, suffix=f"added_end{axis}")
        indices = ctx.op("Range", ctx.op("Negative", added_begin, suffix=f"first{axis}"),
                         ctx.op("Add", kept, added_end, suffix=f"stop{axis}"), ctx.const(_I64(1), f"step{axis}"),
                         opset=4, output_type=types.i64, suffix=f"positions{axis}")
        wrapped = ctx.op("Add", ctx.op("FloorMod", indices, kept, suffix=f"wrapped{axis}"), cut_begin,
                         suffix=f"sources{axis}")
        x = ctx.op("Gather", x, wrapped, position, opset=8, suffix=None if axis == rank - 1 else f"wrap{axis}")
    return x


def _split_pads(ctx: NodeContext, x: Output) -> tuple[Output, Output]:
    pads = ctx.value(1)
    if ctx.optional_input(3) is not None:
        rank = ctx.rank(x)
        axes = ctx.value(3)
        if pads is None or axes is None:
            pads = ctx.op("Convert", ctx.input(1), destination_type=types.i64, suffix="pads_i64")
            return _scatter_pads(ctx, pads, ctx.input(3), rank)
        axes = [a + rank if a < 0 else a for a in axes.tolist()]
        full = np.zeros(2 * rank, dtype=_I64)
        full[axes], full[[a + rank for a in axes]] = pads[: len(axes)], pads[len(axes):]
        pads = full
    if pads is not None:
        pads = pads.astype(_I64)
        return ctx.const(pads[: len(pads) // 2], "pads_begin"), ctx.const(pads[len(pads) // 2:], "pads_end")
    parts = ctx.build("Split", [ctx.input(1), ctx.const(0, "axis", types.i64)], {"num_splits": 2}, suffix="pads")
    return parts.outputs[0], parts.outputs[1]


def _scatter_pads(ctx: NodeContext, pads: Output, axes: Output, rank: int) -> tuple[Output, Output]:
    """Pads [begins..., ends...] of some axes (i64, possibly known only at run time) written into
    zeros for all ``rank`` axes; returns (begins, ends)."""
    rank_const = ctx.const(_I64(rank), "rank")
    axes = ctx.op("FloorMod", ctx.op("Convert", axes, destination_type=types.i64, suffix="axes_i64"), rank_const,
                  suffix="axes_positive")
    positions = ctx.build("Concat", [axes, ctx.op("Add", axes, rank_const, suffix="end_positions")], {"axis": 0},
                          suffix="pad_positions").outputs[0]
    full = ctx.op("ScatterElementsUpdate", ctx.const(np.zeros(2 * rank, dtype=_I64), "no_pads"), positions, pads,
                  ctx.const(_I64(0), "scatter_axis"), opset=12, reduction="none", use_init_val=True, suffix="all_pads")
    parts = ctx.build("Split", [full, ctx.const(0, "axis", types.i64)], {"num_splits": 2}, suffix="pads")
    return parts.outputs[0], parts.outputs[1]


@converter("DepthToSpace", emits="DepthToSpace")
def _depth_to_space(ctx: NodeContext) -> Output:
    mode = "blocks_first" if ctx.attr("mode", "DCR") == "DCR" else "depth_first"
    return ctx.op("DepthToSpace", ctx.input(0), mode=mode, block_size=ctx.attr("blocksize"))


_SPACE_TO_DEPTH_MODES = {"DCR": "blocks_first", "CRD": "depth_first"}


@converter("SpaceToDepth", emits="SpaceToDepth", spec_opset=28)
def _space_to_depth(ctx: NodeContext) -> Output:
    """Opset 28 adds mode: DCR (the earlier layout, block offsets outermost) or CRD (channels outermost)."""
    mode = ctx.attr("mode", "DCR")
    if mode not in _SPACE_TO_DEPTH_MODES:
        raise ctx.fail(f"mode {mode!r} is not one of DCR, CRD")
    return ctx.op("SpaceToDepth", ctx.input(0), mode=_SPACE_TO_DEPTH_MODES[mode], block_size=ctx.attr("blocksize"))


@converter("CumSum", emits="CumSum")
def _cumsum(ctx: NodeContext) -> Output:
    return ctx.op("CumSum", ctx.input(0), ctx.input(1), opset=3, exclusive=bool(ctx.attr("exclusive", 0)),
                  reverse=bool(ctx.attr("reverse", 0)))


@converter("GatherND", emits="GatherND")
def _gather_nd(ctx: NodeContext) -> Output:
    return ctx.op("GatherND", ctx.input(0), ctx.input(1), opset=8, batch_dims=ctx.attr("batch_dims", 0))


_SCATTER_REDUCTIONS = {"none": "none", "add": "sum", "mul": "prod", "max": "max", "min": "min"}


@converter("ScatterElements", "Scatter", emits="ScatterElementsUpdate")
def _scatter_elements(ctx: NodeContext) -> Output:
    reduction = ctx.attr("reduction", "none")
    if reduction not in _SCATTER_REDUCTIONS:
        raise ctx.fail(f"reduction {reduction!r} is not one of {sorted(_SCATTER_REDUCTIONS)}")
    axis = ctx.const(ctx.attr("axis", 0), "axis", types.i64)
    return ctx.op("ScatterElementsUpdate", ctx.input(0), ctx.input(1), ctx.input(2), axis, opset=12,
                  reduction=_SCATTER_REDUCTIONS[reduction], use_init_val=True)


@converter("ScatterND", emits="ScatterNDUpdate")
def _scatter_nd(ctx: NodeContext) -> Output:
    reduction = ctx.attr("reduction", "none")
    if reduction not in _SCATTER_REDUCTIONS:
        raise ctx.fail(f"reduction {reduction!r} is not one of {sorted(_SCATTER_REDUCTIONS)}")
    return ctx.op("ScatterNDUpdate", ctx.input(0), ctx.input(1), ctx.input(2), opset=15,
                  reduction=_SCATTER_REDUCTIONS[reduction])


@converter("NonZero", emits="NonZero")
def _non_zero(ctx: NodeContext) -> Output:
    return ctx.op("NonZero", ctx.input(0), opset=3, output_type=types.i64)


@converter("ReverseSequence", emits="ReverseSequence")
def _reverse_sequence(ctx: NodeContext) -> Output:
    return ctx.op("ReverseSequence", ctx.input(0), ctx.input(1), batch_axis=ctx.attr("batch_axis", 1),
                  seq_axis=ctx.attr("time_axis", 0))


@converter("OneHot", emits=("OneHot", "Less", "Add", "Select", "ConvertLike", "Reshape", "Gather"))
def _one_hot(ctx: NodeContext) -> Output:
    """Negative indices count from the end of the depth; values = [off, on]. Indices outside
    [-depth, depth) give rows of off values."""
    indices, values = ctx.input(0), ctx.input(2)
    depth = ctx.op("Reshape", ctx.input(1), ctx.const(np.zeros(0, dtype=_I64), "scalar"), special_zero=False,
                   suffix="depth")
    negative = ctx.op("Less", indices, ctx.op("ConvertLike", ctx.const(np.int64(0), "zero"), indices,
                                              suffix="zero_like"), suffix="negative")
    shifted = ctx.op("Add", indices, ctx.op("ConvertLike", depth, indices, suffix="depth_like"), suffix="shifted")
    wrapped = ctx.op("Select", negative, shifted, indices, suffix="indices")
    zero_axis = ctx.const(np.int64(0), "values_axis")
    off = ctx.op("Gather", values, ctx.const(np.int64(0), "off_index"), zero_axis, opset=8, suffix="off")
    on = ctx.op("Gather", values, ctx.const(np.int64(1), "on_index"), zero_axis, opset=8, suffix="on")
    return ctx.op("OneHot", wrapped, depth, on, off, axis=ctx.attr("axis", -1))


@converter("EyeLike", emits=())
def _eye_like(ctx: NodeContext) -> Output:
    """A constant: ones on the k-th diagonal of the input's (static) 2-D shape."""
    x = ctx.input(0)
    if x.shape is None or len(x.shape) != 2 or not all(isinstance(d, int) for d in x.shape):
        raise ctx.fail(f"EyeLike needs a static 2-D input shape, got {x.shape}")
    dtype = x.etype.dtype if ctx.attr("dtype") is None else element_type(ctx.attr("dtype"), ctx.name).dtype
    return make_constant(np.eye(x.shape[0], x.shape[1], k=ctx.attr("k", 0), dtype=dtype),
                         name=ctx.node.output[0]).outputs[0]


@converter("Trilu", emits=("ShapeOf", "Gather", "Range", "Unsqueeze", "Subtract", "GreaterEqual", "LessEqual",
                           "Select", "ConvertLike"))
def _trilu(ctx: NodeContext) -> Output:
    """Keeps x where column - row >= k (upper) or <= k (lower), zero elsewhere."""
    x = ctx.input(0)
    k = ctx.optional_input(1)
    k = ctx.const(np.int64(0), "k") if k is None else ctx.op("Reshape", k, ctx.const(np.zeros(0, _I64), "scalar"),
                                                              special_zero=False, suffix="k")
    shape = ctx.op("ShapeOf", x, opset=3, output_type=types.i64, suffix="shape")
    axis = ctx.const(np.int64(0), "gather_axis")
    rows = ctx.op("Gather", shape, ctx.const(np.int64(-2), "row_dim"), axis, opset=8, suffix="rows")
    cols = ctx.op("Gather", shape, ctx.const(np.int64(-1), "col_dim"), axis, opset=8, suffix="cols")
    zero, one = ctx.const(np.int64(0), "zero"), ctx.const(np.int64(1), "one")
    row = ctx.op("Range", zero, rows, one, opset=4, output_type=types.i64, suffix="row_range")
    col = ctx.op("Range", zero, cols, one, opset=4, output_type=types.i64, suffix="col_range")
    row = ctx.op("Unsqueeze", row, ctx.const(np.int64(1), "row_axis"), suffix="row_index")
    offset = ctx.op("Subtract", col, row, suffix="offset")
    keep = ctx.op("GreaterEqual" if ctx.attr("upper", 1) else "LessEqual", offset,
                  ctx.op("Convert", k, destination_type=types.i64, suffix="k_i64"), suffix="keep")
    return ctx.op("Select", keep, x, ctx.op("ConvertLike", zero, x, suffix="zero_like"))


@converter("Compress", emits=("NonZero", "Reshape", "Gather"))
def _compress(ctx: NodeContext) -> Output:
    """Gathers the positions where the condition holds, along axis (or of the flattened input)."""
    x, condition = ctx.input(0), ctx.input(1)
    axis = ctx.attr("axis")
    if axis is None:
        x = ctx.op("Reshape", x, ctx.const(np.asarray([-1], dtype=_I64), "flat"), special_zero=False, suffix="flat")
        axis = 0
    positions = ctx.op("NonZero", condition, opset=3, output_type=types.i64, suffix="positions")
    positions = ctx.op("Reshape", positions, ctx.const(np.asarray([-1], dtype=_I64), "positions_shape"),
                       special_zero=False, suffix="indices")
    return ctx.op("Gather", x, positions, ctx.const(np.int64(axis), "axis"), opset=8, batch_dims=0)


@converter("CenterCropPad", emits=("ShapeOf", "Gather", "Convert", "Subtract", "Maximum", "Minimum", "Divide",
                                   "Add", "Slice", "Concat", "FloorMod", "ScatterElementsUpdate", "Split", "Pad"))
def _center_crop_pad(ctx: NodeContext) -> Output:
    """Crops the axes longer than the target with a centred Slice and pads the shorter ones with
    centred zeros (the odd element at the end), target and input sizes known or not."""
    x = ctx.input(0)
    rank = ctx.rank(x)
    axes_list = ctx.attr("axes") or list(range(rank))
    axes = ctx.const(np.asarray(axes_list, dtype=_I64), "axes")
    zero, two = ctx.const(_I64(0), "zero"), ctx.const(_I64(2), "two")
    shape = ctx.op("ShapeOf", x, opset=3, output_type=types.i64, suffix="shape")
    sizes = ctx.op("Gather", shape, axes, ctx.const(_I64(0), "gather_axis"), opset=8, suffix="sizes")
    target = ctx.op("Convert", ctx.input(1), destination_type=types.i64, suffix="target")
    excess = ctx.op("Subtract", sizes, target, suffix="excess")
    start = ctx.op("Divide", ctx.op("Maximum", excess, zero, suffix="crop"), two, suffix="crop_start")
    stop = ctx.op("Add", start, ctx.op("Minimum", sizes, target, suffix="kept"), suffix="crop_stop")
    cropped = ctx.op("Slice", x, start, stop, ctx.const(np.ones(len(axes_list), _I64), "steps"), axes, opset=8, suffix="cropped")
    missing = ctx.op("Maximum", ctx.op("Subtract", target, sizes, suffix="shortfall"), zero, suffix="missing")
    before = ctx.op("Divide", missing, two, suffix="pad_before")
    after = ctx.op("Subtract", missing, before, suffix="pad_after")
    pads = ctx.build("Concat", [before, after], {"axis": 0}, suffix="pads").outputs[0]
    begins, ends = _scatter_pads(ctx, pads, axes, rank)
    return ctx.op("Pad", cropped, begins, ends, ctx.const_like(0, x, "pad_value"), opset=12, pad_mode="constant")


@converter("Unique", emits="Unique")
def _unique(ctx: NodeContext) -> list[Output]:
    inputs = [ctx.input(0)]
    if ctx.has_attr("axis"):
        inputs.append(ctx.const(_I64(ctx.attr("axis")), "axis"))
    return ctx.build("Unique", inputs, {"sorted": bool(ctx.attr("sorted", 1)), "index_element_type": types.i64,
                                        "count_element_type": types.i64}, opset=10).outputs
