"""Sampling and detection: GridSample, AffineGrid, RoiAlign and NonMaxSuppression."""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter
from lpir.ir import types
from lpir.ir.graph import Output

_GRID_MODES = {"bilinear": "bilinear", "linear": "bilinear", "bicubic": "bicubic", "cubic": "bicubic",
               "nearest": "nearest"}


@converter("GridSample", emits="GridSample")
def _grid_sample(ctx: NodeContext) -> Output:
    """2-D images only (opset 20 also samples volumes); the mode names changed in opset 20."""
    mode = ctx.attr("mode", "linear" if ctx.opset >= 20 else "bilinear")
    if mode not in _GRID_MODES:
        raise ctx.fail(f"GridSample mode {mode!r} is not supported")
    if ctx.rank(ctx.input(0)) != 4:
        raise ctx.fail(f"GridSample of a {ctx.rank(ctx.input(0))}-D input is not supported (4-D only)")
    return ctx.op("GridSample", ctx.input(0), ctx.input(1), opset=9, mode=_GRID_MODES[mode],
                  padding_mode=ctx.attr("padding_mode", "zeros"), align_corners=bool(ctx.attr("align_corners", 0)))


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
