"""Resize and Upsample onto Interpolate-11; Resize's tf_crop_and_resize onto GridSample-9."""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter
from lpir.ir import types
from lpir.ir.graph import Output

_RESIZE_MODES = {"nearest": "nearest", "linear": "linear_onnx", "cubic": "cubic"}


@converter("Resize", "Upsample", emits=("Interpolate", "GridSample", "ShapeOf", "Gather", "Convert", "Subtract",
                                          "Multiply", "Divide", "Add", "Maximum", "Range", "Reshape", "Broadcast",
                                          "Concat", "Less", "Greater", "LogicalOr", "Select", "Floor"))
def _resize(ctx: NodeContext) -> Output:
    """Resize/Upsample → Interpolate-11 (scales or sizes; optional axes from opset 18)."""
    mode = ctx.attr("mode", "nearest")
    if mode not in _RESIZE_MODES:
        raise ctx.fail(f"Resize mode {mode!r} is not supported")
    legacy = ctx.op_type == "Upsample" or ctx.opset < 11
    transform = "asymmetric" if legacy else ctx.attr("coordinate_transformation_mode", "half_pixel")
    if transform == "tf_crop_and_resize":
        return _crop_and_resize(ctx, mode)
    if ctx.attr("exclude_outside", 0):
        raise ctx.fail("exclude_outside is not supported")
    attrs = {
        "mode": _RESIZE_MODES[mode], "coordinate_transformation_mode": transform,
        "nearest_mode": "floor" if legacy else ctx.attr("nearest_mode", "round_prefer_floor"),
        "antialias": bool(ctx.attr("antialias", 0)), "cube_coeff": float(ctx.attr("cubic_coeff_a", -0.75)),
    }
    attrs["pads_begin"] = attrs["pads_end"] = [0] * ctx.rank(ctx.input(0))
    target, attrs["shape_calculation_mode"] = _resize_target(ctx, legacy)
    if attrs["shape_calculation_mode"] == "sizes" and ctx.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
        target, attrs["shape_calculation_mode"] = _aspect_kept_scales(ctx), "scales"
    inputs = [ctx.input(0), target]
    if ctx.has_attr("axes"):
        inputs.append(ctx.const(np.asarray(ctx.attr("axes"), dtype=np.int64), "axes"))
    return ctx.build("Interpolate", inputs, attrs, opset=11).outputs[0]


def _aspect_kept_scales(ctx: NodeContext) -> Output:
    """keep_aspect_ratio_policy: one scale for every resized axis, the smallest (not_larger) or
    largest (not_smaller) of sizes / input lengths; each output length is that scale times the
    input length rounded half up. Interpolate's scales mode resizes with the same scale but
    rounds lengths down, so lpir needs the sizes and input lengths as constants, to check that
    both roundings agree."""
    policy = ctx.attr("keep_aspect_ratio_policy")
    if policy not in ("not_larger", "not_smaller"):
        raise ctx.fail(f"keep_aspect_ratio_policy {policy!r} is not one of stretch, not_larger, not_smaller")
    x = ctx.input(0)
    rank = ctx.rank(x)
    axes = [a % rank for a in (ctx.attr("axes") or range(rank))]
    sizes, lengths = ctx.static_input(3, "sizes"), [x.shape[a] for a in axes]
    if not all(isinstance(n, int) and n > 0 for n in lengths):
        raise ctx.fail(f"keep_aspect_ratio_policy needs static lengths of the resized axes, got {list(x.shape)}")
    ratios = sizes.astype(np.float64).reshape(-1) / np.asarray(lengths, dtype=np.float64)
    scale = np.float32(ratios.min() if policy == "not_larger" else ratios.max())
    rounded = [int(scale * n + 0.5) for n in lengths]
    floored = [int(np.floor(np.float32(n) * scale + np.float32(1e-5))) for n in lengths]
    if rounded != floored:
        raise ctx.fail(f"keep_aspect_ratio_policy={policy} gives lengths {rounded} that Interpolate's scale "
                       f"{scale} would round to {floored}")
    return ctx.const(np.full(len(axes), scale, dtype=np.float32), "scales")


def _resize_target(ctx: NodeContext, legacy: bool) -> tuple[Output, str]:
    if ctx.op_type == "Upsample" and ctx.opset < 9:
        return ctx.const(np.asarray(ctx.attr("scales"), dtype=np.float32), "scales"), "scales"
    if legacy:
        return ctx.input(1), "scales"
    scales, sizes = ctx.optional_input(2), ctx.optional_input(3)
    if sizes is not None and (scales is None or (scales.shape is not None and 0 in scales.shape)):
        return sizes, "sizes"
    if scales is None:
        raise ctx.fail("Resize needs scales or sizes")
    return scales, "scales"


_CROP_MODES = {"linear": "bilinear", "cubic": "bicubic"}


def _crop_and_resize(ctx: NodeContext, mode: str) -> Output:
    """tf_crop_and_resize on the two spatial axes of a 4-D input, as GridSample-9 with corner
    alignment and border padding: output pixel i of an axis of length L reads the input at
    start * (L - 1) + i * (end - start) * (L - 1) / (out - 1) (the middle of the region when out
    is 1), start and end from roi; points outside [0, L - 1] read extrapolation_value. The batch
    and channel axes keep their lengths."""
    x = ctx.input(0)
    if ctx.rank(x) != 4:
        raise ctx.fail(f"tf_crop_and_resize is supported on 4-D inputs only, got rank {ctx.rank(x)}")
    if mode not in _CROP_MODES or float(ctx.attr("cubic_coeff_a", -0.75)) != -0.75:
        raise ctx.fail(f"tf_crop_and_resize is supported in linear and cubic (a = -0.75) modes, not {mode!r}")
    if ctx.opset < 11 or ctx.optional_input(1) is None:
        raise ctx.fail("tf_crop_and_resize needs roi")
    axes = [a % 4 for a in (ctx.attr("axes") or range(4))]
    if sorted(axes) not in ([2, 3], [0, 1, 2, 3]):
        raise ctx.fail(f"tf_crop_and_resize resizes the spatial axes 2 and 3 only, got axes {axes}")
    shape = ctx.op("ShapeOf", x, opset=3, output_type=types.i64, suffix="input_shape")
    position = {axis: axes.index(axis) for axis in (2, 3)}
    roi = ctx.op("Convert", ctx.input(1), destination_type=types.f32, suffix="roi_f32")
    lengths, grids, outside = {}, {}, []
    for axis, name in ((2, "height"), (3, "width")):
        start = ctx.element(roi, position[axis], f"{name}_start")
        end = ctx.element(roi, position[axis] + len(axes), f"{name}_end")
        length = ctx.element(shape, axis, f"{name}_in")
        lengths[axis] = _output_length(ctx, length, position[axis], f"{name}_out")
        coordinate, normalized = _crop_coordinates(ctx, start, end, length, lengths[axis], name)
        view = [1, 1, 1, 1]
        view[axis] = -1
        shaped = ctx.const(np.asarray(view, dtype=np.int64), f"{name}_view")
        grids[axis] = ctx.op("Reshape", normalized, ctx.const(np.asarray([1, -1, 1, 1] if axis == 2 else [1, 1, -1, 1],
                                                                         dtype=np.int64), f"{name}_grid_view"),
                             special_zero=False, suffix=f"{name}_grid")
        last = ctx.op("Convert", ctx.op("Subtract", length, ctx.const(np.int64(1), f"{name}_one"),
                                        suffix=f"{name}_last_i64"), destination_type=types.f32, suffix=f"{name}_last")
        beyond = ctx.op("LogicalOr", ctx.op("Less", coordinate, ctx.const(np.float32(0), f"{name}_zero"),
                                            suffix=f"{name}_before"),
                        ctx.op("Greater", coordinate, last, suffix=f"{name}_after"), suffix=f"{name}_outside_flat")
        outside.append(ctx.op("Reshape", beyond, shaped, special_zero=False, suffix=f"{name}_outside"))
    batch = ctx.element(shape, 0, "batch")
    target = ctx.build("Concat", [batch, lengths[2], lengths[3], ctx.const(np.asarray([1], np.int64), "one_coordinate")],
                       {"axis": 0}, suffix="grid_shape").outputs[0]
    # GridSample's grid holds (x, y): the width coordinate first
    columns = [ctx.op("Broadcast", grids[axis], target, opset=3, suffix=f"grid_{name}")
               for axis, name in ((3, "x"), (2, "y"))]
    grid = ctx.build("Concat", columns, {"axis": 3}, suffix="grid").outputs[0]
    sampled = ctx.op("GridSample", x, grid, opset=9, mode=_CROP_MODES[mode], padding_mode="border",
                     align_corners=True, suffix="sampled")
    extrapolated = ctx.const_like(float(ctx.attr("extrapolation_value", 0.0)), x, "extrapolation_value")
    return ctx.op("Select", ctx.op("LogicalOr", outside[0], outside[1], suffix="outside"), extrapolated, sampled)


def _output_length(ctx: NodeContext, length: Output, position: int, name: str) -> Output:
    """The resized length: sizes[position], or floor(length * scales[position])."""
    if ctx.optional_input(3) is not None:
        return ctx.op("Convert", ctx.element(ctx.input(3), position, f"{name}_size"), destination_type=types.i64,
                      suffix=name)
    if ctx.optional_input(2) is None:
        raise ctx.fail("Resize needs scales or sizes")
    scale = ctx.op("Convert", ctx.element(ctx.input(2), position, f"{name}_scale"), destination_type=types.f32,
                   suffix=f"{name}_scale_f32")
    product = ctx.op("Multiply", ctx.op("Convert", length, destination_type=types.f32, suffix=f"{name}_in_f32"), scale,
                     suffix=f"{name}_product")
    return ctx.op("Convert", ctx.op("Floor", product, suffix=f"{name}_floor"), destination_type=types.i64, suffix=name)


def _crop_coordinates(ctx: NodeContext, start: Output, end: Output, length: Output, out: Output,
                      name: str) -> tuple[Output, Output]:
    """Input coordinates of the ``out`` output pixels of one axis, and the same normalized to
    [-1, 1] over the input's pixel centres (GridSample with align_corners)."""
    f32 = types.f32
    one = ctx.const(np.float32(1), f"{name}_one_f32")
    span = ctx.op("Subtract", ctx.op("Convert", length, destination_type=f32, suffix=f"{name}_in_length"), one,
                  suffix=f"{name}_span")
    out_f = ctx.op("Convert", out, destination_type=f32, suffix=f"{name}_out_length")
    steps = ctx.op("Maximum", ctx.op("Subtract", out_f, one, suffix=f"{name}_intervals"), one, suffix=f"{name}_steps")
    index = ctx.op("Range", ctx.const(np.float32(0), f"{name}_first"),
                   ctx.op("Reshape", out_f, ctx.const(np.asarray([], np.int64), f"{name}_scalar"), special_zero=False,
                          suffix=f"{name}_count"),
                   one, opset=4, output_type=f32, suffix=f"{name}_index")
    begin = ctx.op("Multiply", start, span, suffix=f"{name}_begin")
    step = ctx.op("Divide", ctx.op("Multiply", ctx.op("Subtract", end, start, suffix=f"{name}_extent"), span,
                                   suffix=f"{name}_extent_pixels"), steps, suffix=f"{name}_step")
    spread = ctx.op("Add", begin, ctx.op("Multiply", index, step, suffix=f"{name}_offsets"), suffix=f"{name}_spread")
    middle = ctx.op("Multiply", ctx.op("Multiply", ctx.op("Add", start, end, suffix=f"{name}_ends"),
                                       ctx.const(np.float32(0.5), f"{name}_half"), suffix=f"{name}_centre"),
                    span, suffix=f"{name}_middle")
    single = ctx.op("Less", out_f, ctx.const(np.float32(1.5), f"{name}_two"), suffix=f"{name}_single")
    coordinate = ctx.op("Select", single, middle, spread, suffix=f"{name}_coordinate")
    scale = ctx.op("Divide", ctx.const(np.float32(2), f"{name}_two_f32"), ctx.op("Maximum", span, one,
                                                                                 suffix=f"{name}_span_positive"),
                   suffix=f"{name}_normalize")
    normalized = ctx.op("Subtract", ctx.op("Multiply", coordinate, scale, suffix=f"{name}_doubled"), one,
                        suffix=f"{name}_normalized")
    return coordinate, normalized
