"""Sampling and detection: GridSample, AffineGrid, RoiAlign and NonMaxSuppression."""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter
from lpir.ir import types
from lpir.ir.graph import Output

_GRID_MODES = {"bilinear": "bilinear", "linear": "bilinear", "bicubic": "bicubic", "cubic": "bicubic",
               "nearest": "nearest"}


_VOLUME_EMITS = ("ShapeOf", "Gather", "Squeeze", "Convert", "Add", "Subtract", "Multiply", "Maximum", "Minimum",
                 "Floor", "Round", "GreaterEqual", "LessEqual", "LogicalAnd", "Select", "Reshape", "Transpose",
                 "Concat")


@converter("GridSample", emits=("GridSample",) + _VOLUME_EMITS)
def _grid_sample(ctx: NodeContext) -> Output:
    """2-D images → GridSample-9; volumes (opset 20) are sampled with gathers. The mode names
    changed in opset 20."""
    mode = ctx.attr("mode", "linear" if ctx.opset >= 20 else "bilinear")
    if mode not in _GRID_MODES:
        raise ctx.fail(f"GridSample mode {mode!r} is not supported")
    padding, corners = ctx.attr("padding_mode", "zeros"), bool(ctx.attr("align_corners", 0))
    rank = ctx.rank(ctx.input(0))
    if rank == 5:
        return _sample_volume(ctx, _GRID_MODES[mode], padding, corners)
    if rank != 4:
        raise ctx.fail(f"GridSample of a {rank}-D input is not supported (4-D or 5-D)")
    return ctx.op("GridSample", ctx.input(0), ctx.input(1), opset=9, mode=_GRID_MODES[mode], padding_mode=padding,
                  align_corners=corners)


def _sample_volume(ctx: NodeContext, mode: str, padding: str, corners: bool) -> Output:
    """GridSample of [N, C, D, H, W] at grid [N, D_out, H_out, W_out, 3] of (x, y, z) in [-1, 1]:
    each point is mapped to voxel coordinates as GridSample-9 maps pixels (border padding
    clamps it into the volume), then read from its nearest voxel (half to even) or its 8
    neighbours (trilinear); with zeros padding neighbours outside the volume read 0. Each
    neighbour is gathered from the data viewed as [N, D*H*W, C]."""
    if mode == "bicubic" or padding not in ("zeros", "border"):
        raise ctx.fail(f"GridSample of a volume supports linear and nearest modes with zeros or border padding, "
                       f"not {mode} with {padding}")
    data, grid = ctx.input(0), ctx.op("Convert", ctx.input(1), destination_type=types.f32, suffix="grid_f32")
    i64, f32 = np.int64, np.float32
    shape = ctx.op("ShapeOf", data, opset=3, output_type=types.i64, suffix="data_shape")
    axes = []  # per volume axis (z, y, x): [(index, weight)] of the neighbours, and the axis length
    for component, axis, name in ((2, 2, "z"), (1, 3, "y"), (0, 4, "x")):
        length = ctx.op("Gather", shape, ctx.const(np.asarray([axis], i64), f"{name}_axis"),
                        ctx.const(i64(0), f"{name}_gather_axis"), opset=8, suffix=f"{name}_length")
        last = ctx.op("Convert", ctx.op("Subtract", length, ctx.const(i64(1), f"{name}_one"), suffix=f"{name}_last_i"),
                      destination_type=types.f32, suffix=f"{name}_last")
        g = ctx.op("Squeeze", ctx.op("Gather", grid, ctx.const(np.asarray([component], i64), f"{name}_component"),
                                     ctx.const(i64(4), f"{name}_grid_axis"), opset=8, suffix=f"{name}_column"),
                   ctx.const(np.asarray([4], i64), f"{name}_squeeze"), suffix=f"{name}_normalized")
        shifted = ctx.op("Add", g, ctx.const(f32(1), f"{name}_plus_one"), suffix=f"{name}_shifted")
        if corners:
            point = ctx.op("Multiply", ctx.op("Multiply", shifted, ctx.const(f32(0.5), f"{name}_half"),
                                              suffix=f"{name}_unit"), last, suffix=f"{name}_point")
        else:
            size = ctx.op("Convert", length, destination_type=types.f32, suffix=f"{name}_size")
            point = ctx.op("Multiply", ctx.op("Subtract", ctx.op("Multiply", shifted, size, suffix=f"{name}_scaled"),
                                              ctx.const(f32(1), f"{name}_minus_one"), suffix=f"{name}_offset"),
                           ctx.const(f32(0.5), f"{name}_half"), suffix=f"{name}_point")
        if padding == "border":
            point = _between(ctx, point, last, f"{name}_point_clamped")
        axes.append((_neighbours(ctx, point, last, mode, name), length))
    return _gather_neighbours(ctx, data, shape, axes)


def _between(ctx: NodeContext, value: Output, last: Output, name: str) -> Output:
    """``value`` clamped to [0, last] (``last`` known at run time)."""
    low = ctx.op("Maximum", value, ctx.const(np.float32(0), f"{name}_zero"), suffix=f"{name}_low")
    return ctx.op("Minimum", low, last, suffix=name)


def _neighbours(ctx: NodeContext, point: Output, last: Output, mode: str, name: str) -> list[tuple[Output, Output]]:
    """(voxel index clamped into the axis, weight: 0 where the index lay outside) per neighbour."""
    f32 = np.float32
    if mode == "nearest":
        taps = [(ctx.op("Round", point, opset=5, mode="half_to_even", suffix=f"{name}_nearest"), None)]
    else:
        low = ctx.op("Floor", point, suffix=f"{name}_floor")
        fraction = ctx.op("Subtract", point, low, suffix=f"{name}_fraction")
        taps = [(low, ctx.op("Subtract", ctx.const(f32(1), f"{name}_one_f"), fraction, suffix=f"{name}_low_weight")),
                (ctx.op("Add", low, ctx.const(f32(1), f"{name}_next"), suffix=f"{name}_high"), fraction)]
    result = []
    for k, (index, weight) in enumerate(taps):
        inside = ctx.op("LogicalAnd", ctx.op("GreaterEqual", index, ctx.const(f32(0), f"{name}{k}_zero"),
                                             suffix=f"{name}{k}_from_start"),
                        ctx.op("LessEqual", index, last, suffix=f"{name}{k}_to_end"), suffix=f"{name}{k}_inside")
        if weight is None:  # nearest: the one neighbour counts fully
            weight = ctx.const(f32(1), f"{name}{k}_unit_weight")
        masked = ctx.op("Select", inside, weight, ctx.const(f32(0), f"{name}{k}_outside"), suffix=f"{name}{k}_weight")
        clamped = ctx.op("Convert", _between(ctx, index, last, f"{name}{k}_clamped"), destination_type=types.i64,
                         suffix=f"{name}{k}_index")
        result.append((clamped, masked))
    return result


def _gather_neighbours(ctx: NodeContext, data: Output, shape: Output, axes: list) -> Output:
    """Sum over neighbour triples of weight x voxel, back to [N, C, D_out, H_out, W_out]."""
    i64 = np.int64
    (z_taps, _), (y_taps, height), (x_taps, width) = axes
    flat = ctx.op("Reshape", data, ctx.const(np.asarray([0, 0, -1], i64), "flat_shape"), special_zero=True,
                  suffix="flat")
    voxels = ctx.op("Transpose", flat, ctx.const(np.asarray([0, 2, 1], i64), "voxels_perm"), suffix="voxels")
    points_shape = ctx.const(np.asarray([0, -1], i64), "points_shape")
    total = None
    for a, (z, wz) in enumerate(z_taps):
        for b, (y, wy) in enumerate(y_taps):
            for c, (x, wx) in enumerate(x_taps):
                tag = f"n{a}{b}{c}"
                row = ctx.op("Add", ctx.op("Multiply", z, height, suffix=f"{tag}_z_rows"), y, suffix=f"{tag}_row")
                index = ctx.op("Add", ctx.op("Multiply", row, width, suffix=f"{tag}_row_start"), x, suffix=f"{tag}_index")
                index = ctx.op("Reshape", index, points_shape, special_zero=True, suffix=f"{tag}_points")
                values = ctx.build("Gather", [voxels, index, ctx.const(i64(1), f"{tag}_axis")], {"batch_dims": 1},
                                   opset=8, suffix=f"{tag}_values").outputs[0]  # [N, P, C]
                weight = ctx.op("Multiply", ctx.op("Multiply", wz, wy, suffix=f"{tag}_wzy"), wx, suffix=f"{tag}_w")
                weight = ctx.op("Reshape", weight, ctx.const(np.asarray([0, -1, 1], i64), f"{tag}_w_shape"),
                                special_zero=True, suffix=f"{tag}_w_column")
                weighted = ctx.op("Multiply", values, ctx.op("Convert", weight, destination_type=data.etype,
                                                              suffix=f"{tag}_w_typed"), suffix=f"{tag}_weighted")
                total = weighted if total is None else ctx.op("Add", total, weighted, suffix=f"{tag}_sum")
    channels_first = ctx.op("Transpose", total, ctx.const(np.asarray([0, 2, 1], i64), "out_perm"), suffix="channels_first")
    grid_shape = ctx.op("ShapeOf", ctx.input(1), opset=3, output_type=types.i64, suffix="grid_shape")
    target = ctx.build("Concat", [
        ctx.op("Gather", shape, ctx.const(np.asarray([0, 1], i64), "batch_channels"), ctx.const(i64(0), "nc_axis"),
               opset=8, suffix="batch_channels"),
        ctx.op("Gather", grid_shape, ctx.const(np.asarray([1, 2, 3], i64), "out_axes"), ctx.const(i64(0), "out_axis"),
               opset=8, suffix="out_lengths")], {"axis": 0}, suffix="out_shape").outputs[0]
    return ctx.op("Reshape", channels_first, target, special_zero=False)


@converter("NonMaxSuppression", emits="NonMaxSuppression")
def _non_max_suppression(ctx: NodeContext) -> Output:
    """Selected [batch, class, box] indices, by batch, class and score (not sorted across them).
    ONNX suppresses an overlap above the IoU threshold, OpenVINO's op from it on: a constant
    threshold is moved to the next float up."""
    boxes, scores = ctx.input(0), ctx.input(1)
    limit = ctx.optional_input(2) or ctx.const(np.int64(0), "max_output_boxes_per_class")
    iou = ctx.optional_input(3)
    known = ctx.value(3)
    if iou is None or known is not None:
        threshold = np.float32(0 if known is None else known.reshape(-1)[0])
        iou = ctx.const_like(np.nextafter(threshold, np.float32(np.inf)), boxes, "iou_threshold")
    floor = ctx.optional_input(4)
    if floor is None:
        floor = ctx.const_like(np.finfo(np.float32).min, boxes, "score_threshold")  # no threshold: every box
    encoding = "center" if ctx.attr("center_point_box", 0) else "corner"
    return ctx.build("NonMaxSuppression", [boxes, scores, limit, iou, floor], {
        "box_encoding": encoding, "sort_result_descending": False, "output_type": types.i64}, opset=9).outputs[0]


# ONNX half_pixel shifts scaled coordinates by -0.5 as OpenVINO's half_pixel_for_nn does (its
# half_pixel also shifts by +0.5 before scaling)
_ROI_ALIGNED_MODES = {"half_pixel": "half_pixel_for_nn", "output_half_pixel": "asymmetric"}


@converter("RoiAlign", emits="ROIAlign")
def _roi_align(ctx: NodeContext) -> Output:
    """RoiAlign → ROIAlign-9. Opset 10 has no coordinate_transformation_mode and places regions
    as output_half_pixel does (OpenVINO's asymmetric); opset 16 defaults to half_pixel. ONNX's
    max mode takes the largest weighted neighbour of each sample, not the largest sample:
    OpenVINO has no such pooling, so lpir refuses it."""
    default = "half_pixel" if ctx.opset >= 16 else "output_half_pixel"
    transform = ctx.attr("coordinate_transformation_mode", default)
    if transform not in _ROI_ALIGNED_MODES:
        raise ctx.fail(f"coordinate_transformation_mode {transform!r} is not one of {sorted(_ROI_ALIGNED_MODES)}")
    mode = ctx.attr("mode", "avg")
    if mode != "avg":
        raise ctx.fail(f"mode {mode!r} is not supported (ONNX's max pools weighted neighbours; avg only)")
    return ctx.op("ROIAlign", ctx.input(0), ctx.input(1), ctx.input(2), opset=9,
                  pooled_h=ctx.attr("output_height", 1), pooled_w=ctx.attr("output_width", 1),
                  sampling_ratio=ctx.attr("sampling_ratio", 0), spatial_scale=float(ctx.attr("spatial_scale", 1.0)),
                  mode=mode, aligned_mode=_ROI_ALIGNED_MODES[transform])


@converter("AffineGrid", emits=("Convert", "Gather", "Range", "Multiply", "Add", "Subtract", "Divide", "Reshape",
                                "Slice", "Broadcast", "Unsqueeze", "Concat", "MatMul", "Transpose", "ConvertLike"))
def _affine_grid(ctx: NodeContext) -> Output:
    """The sampling grid of theta: the normalized coordinates of every output pixel (pixel
    centres, or corners with align_corners), as homogeneous (x, y[, z], 1) rows, times thetaᵀ."""
    theta, size = ctx.input(0), ctx.input(1)
    if size.shape is None or not isinstance(size.shape[0], int):
        raise ctx.fail("AffineGrid needs a size input of static length")
    spatial = size.shape[0] - 2
    i64, f32 = types.i64, types.f32
    dims = ctx.op("Slice", size, ctx.const([2], "spatial_start", i64), ctx.const([spatial + 2], "spatial_stop", i64),
                  ctx.const([1], "spatial_step", i64), opset=8, suffix="spatial_dims")
    align = bool(ctx.attr("align_corners", 0))
    one, two = ctx.const(np.float32(1), "one"), ctx.const(np.float32(2), "two")
    components = []
    for axis in range(spatial):
        length = ctx.op("Convert", ctx.op("Gather", size, ctx.const(np.int64(axis + 2), f"dim{axis}_index"),
                                          ctx.const(np.int64(0), f"dim{axis}_axis"), opset=8, suffix=f"dim{axis}"),
                        destination_type=f32, suffix=f"dim{axis}_f32")
        index = ctx.op("Range", ctx.const(np.float32(0), f"start{axis}"), length, one, opset=4, output_type=f32,
                       suffix=f"index{axis}")
        if align:  # -1 + 2i / (L - 1)
            span = ctx.op("Subtract", length, one, suffix=f"span{axis}")
            coordinate = ctx.op("Divide", ctx.op("Multiply", index, two, suffix=f"twice{axis}"), span,
                                suffix=f"scaled{axis}")
        else:  # (2i + 1) / L - 1
            coordinate = ctx.op("Divide", ctx.op("Add", ctx.op("Multiply", index, two, suffix=f"twice{axis}"), one,
                                                 suffix=f"centre{axis}"), length, suffix=f"scaled{axis}")
        coordinate = ctx.op("Subtract", coordinate, one, suffix=f"coordinate{axis}")
        shape = [1] * spatial
        shape[axis] = -1
        shaped = ctx.op("Reshape", coordinate, ctx.const(np.asarray(shape, np.int64), f"shape{axis}"),
                        special_zero=False, suffix=f"shaped{axis}")
        components.append(ctx.op("Broadcast", shaped, dims, opset=3, mode="numpy", suffix=f"grid{axis}"))
    components = components[::-1] + [ctx.op("Broadcast", one, dims, opset=3, mode="numpy", suffix="ones")]
    last = ctx.const(np.asarray([-1], np.int64), "last_axis")
    stacked = ctx.build("Concat", [ctx.op("Unsqueeze", c, last, suffix=f"component{i}") for i, c in enumerate(components)],
                        {"axis": -1}, suffix="homogeneous").outputs[0]
    rows = ctx.op("Reshape", stacked, ctx.const(np.asarray([-1, spatial + 1], np.int64), "rows_shape"),
                  special_zero=False, suffix="rows")
    rows = ctx.op("ConvertLike", rows, theta, suffix="rows_like")
    moved = ctx.op("MatMul", theta, rows, transpose_a=False, transpose_b=True, suffix="moved")  # [N, k, P]
    points = ctx.op("Transpose", moved, ctx.const(np.asarray([0, 2, 1], np.int64), "perm"), suffix="points")
    batch = ctx.op("Slice", size, ctx.const([0], "batch_start", i64), ctx.const([1], "batch_stop", i64),
                   ctx.const([1], "batch_step", i64), opset=8, suffix="batch")
    target = ctx.build("Concat", [batch, dims, ctx.const([spatial], "coordinates", i64)], {"axis": 0},
                       suffix="grid_shape").outputs[0]
    return ctx.op("Reshape", points, target, special_zero=False)
