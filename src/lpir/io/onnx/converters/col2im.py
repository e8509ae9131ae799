"""Col2Im: OpenVINO's Col2Im-15 for 2-D images, a sum-scatter for other ranks."""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter
from lpir.ir import types
from lpir.ir.graph import Output


@converter("Col2Im", emits=("Col2Im", "Convert", "Reshape", "ShapeOf", "Gather", "Concat", "Broadcast",
                             "ScatterElementsUpdate", "Slice", "Add", "Subtract", "Multiply", "Divide", "Range",
                             "Squeeze", "Unsqueeze", "ReduceProd"))
def _col2im(ctx: NodeContext) -> Output:
    """2-D images → OpenVINO's Col2Im-15 (ONNX pads are [begins..., ends...]); other ranks → a
    sum-scatter of every tap into the padded image."""
    block_shape = ctx.input(2).shape
    if block_shape is not None and tuple(block_shape) != (2,):
        return _col2im_scatter(ctx)
    pads = list(ctx.attr("pads") or [0, 0, 0, 0])
    i64 = types.i64
    size, block = ctx.input(1), ctx.input(2)
    if size.etype is not i64:
        size = ctx.op("Convert", size, destination_type=i64, suffix="image_shape")
    if block.etype is not i64:
        block = ctx.op("Convert", block, destination_type=i64, suffix="block_shape")
    return ctx.op("Col2Im", ctx.input(0), size, block, opset=15, strides=list(ctx.attr("strides") or [1, 1]),
                  dilations=list(ctx.attr("dilations") or [1, 1]), pads_begin=pads[:2], pads_end=pads[2:])


def _col2im_scatter(ctx: NodeContext) -> Output:
    """Col2Im over any number of dimensions: the destination of each (tap, block) column entry in
    the padded image is computed from the image and block shapes (folded when they are
    constants), so one ScatterElementsUpdate with sum reduction adds the columns
    [N, C, taps * blocks] into [N, C, padded pixels]; the padding is then cut off."""
    rank = ctx.input(2).shape[0] if ctx.input(2).shape is not None else None
    if not isinstance(rank, int) or rank < 1:
        raise ctx.fail(f"block_shape must have a static length, got shape {ctx.input(2).shape}")
    strides = list(ctx.attr("strides") or [1] * rank)
    dilations = list(ctx.attr("dilations") or [1] * rank)
    pads = list(ctx.attr("pads") or [0] * (2 * rank))
    if len(strides) != rank or len(dilations) != rank or len(pads) != 2 * rank:
        raise ctx.fail(f"strides {strides}, dilations {dilations} and pads {pads} do not fit {rank} dimensions")
    i64 = np.int64
    image = ctx.op("Convert", ctx.input(1), destination_type=types.i64, suffix="image_shape")
    kernel = ctx.op("Convert", ctx.input(2), destination_type=types.i64, suffix="block_shape")
    padded = ctx.op("Add", image, ctx.const(np.asarray(pads[:rank], i64) + pads[rank:], "pads_total"),
                    suffix="padded_shape")
    destination, pixels = None, ctx.const(np.asarray([1], i64), "no_pixels")
    for axis in reversed(range(rank)):  # innermost first: the pixel stride grows outwards
        taps, starts = _col2im_axis(ctx, padded, kernel, axis, rank, strides[axis], dilations[axis])
        term = ctx.op("Multiply", ctx.op("Add", taps, starts, suffix=f"positions{axis}"), pixels,
                      suffix=f"offsets{axis}")
        destination = term if destination is None else ctx.op("Add", destination, term, suffix=f"destination{axis}")
        pixels = ctx.op("Multiply", pixels, ctx.element(padded, axis, f"padded{axis}"), suffix=f"pixels{axis}")
    flat = ctx.const(np.asarray([-1], i64), "flat")
    destinations = ctx.op("Reshape", destination, flat, special_zero=False, suffix="destinations")
    columns = ctx.op("Reshape", ctx.input(0), ctx.const(np.asarray([0, 0, -1], i64), "columns_shape"),
                     special_zero=True, suffix="rows")
    count = ctx.op("ShapeOf", destinations, opset=3, output_type=types.i64, suffix="entries")
    shape = ctx.op("ShapeOf", columns, opset=3, output_type=types.i64, suffix="rows_dims")
    batch_channels = ctx.op("Gather", shape, ctx.const(np.asarray([0], i64), "batch_index"),
                            ctx.const(i64(0), "batch_axis"), opset=8, suffix="batch")
    channels = ctx.op("Divide", ctx.element(shape, 1, "rows_per_batch"),
                      ctx.op("ReduceProd", kernel, ctx.const(np.asarray([0], i64), "kernel_axis"), keep_dims=True,
                             suffix="taps"), suffix="channels")
    entries = ctx.build("Concat", [batch_channels, channels, count], {"axis": 0}, suffix="entries_shape").outputs[0]
    columns = ctx.op("Reshape", columns, entries, special_zero=False, suffix="columns")
    target = ctx.build("Concat", [batch_channels, channels, pixels], {"axis": 0}, suffix="image_dims").outputs[0]
    zeros = ctx.op("Broadcast", ctx.const_like(0, ctx.input(0), "zero"), target, opset=3, suffix="zeros")
    indices = ctx.op("Broadcast", destinations, entries, opset=3, suffix="indices")
    summed = ctx.build("ScatterElementsUpdate", [zeros, indices, columns, ctx.const(i64(2), "scatter_axis")],
                       {"reduction": "sum", "use_init_val": True}, opset=12, suffix="summed").outputs[0]
    volume_shape = ctx.build("Concat", [batch_channels, channels, padded], {"axis": 0}, suffix="volume_shape").outputs[0]
    volume = ctx.op("Reshape", summed, volume_shape, special_zero=False, suffix="padded")
    begins = ctx.const(np.asarray(pads[:rank], i64), "crop_begin")
    return ctx.op("Slice", volume, begins, ctx.op("Add", begins, image, suffix="crop_end"),
                  ctx.const(np.ones(rank, i64), "crop_step"), ctx.const(np.arange(2, rank + 2, dtype=i64), "crop_axes"),
                  opset=8)


def _col2im_axis(ctx: NodeContext, padded: Output, kernel: Output, axis: int, rank: int, stride: int,
                 dilation: int) -> tuple[Output, Output]:
    """Along one image axis: the tap offsets (k * dilation) on axis ``axis`` and the block starts
    (b * stride) on axis ``rank + axis`` of a [taps..., blocks...] grid."""
    i64 = np.int64
    zero, one = ctx.const(i64(0), f"zero{axis}"), ctx.const(i64(1), f"one{axis}")
    size = ctx.op("Squeeze", ctx.element(kernel, axis, f"kernel{axis}"), ctx.const(np.asarray([0], i64),
                                                                                       f"kernel{axis}_squeeze"),
                  suffix=f"kernel{axis}_scalar")
    length = ctx.op("Squeeze", ctx.element(padded, axis, f"length{axis}"), ctx.const(np.asarray([0], i64),
                                                                                         f"length{axis}_squeeze"),
                    suffix=f"length{axis}_scalar")
    reach = ctx.op("Multiply", ctx.op("Subtract", size, one, suffix=f"kernel{axis}_last"),
                   ctx.const(i64(dilation), f"dilation{axis}"), suffix=f"reach{axis}")
    room = ctx.op("Subtract", ctx.op("Subtract", length, reach, suffix=f"room{axis}_wide"), one, suffix=f"room{axis}")
    blocks = ctx.op("Add", ctx.op("Divide", room, ctx.const(i64(stride), f"stride{axis}"), suffix=f"steps{axis}"), one,
                    suffix=f"blocks{axis}")
    taps = ctx.op("Multiply", ctx.op("Range", zero, size, one, opset=4, output_type=types.i64, suffix=f"tap{axis}"),
                  ctx.const(i64(dilation), f"tap_dilation{axis}"), suffix=f"tap_offsets{axis}")
    starts = ctx.op("Multiply", ctx.op("Range", zero, blocks, one, opset=4, output_type=types.i64,
                                       suffix=f"block{axis}"), ctx.const(i64(stride), f"block_stride{axis}"),
                    suffix=f"block_starts{axis}")
    others = [a for a in range(2 * rank) if a != axis]
    taps = ctx.op("Unsqueeze", taps, ctx.const(np.asarray(others, i64), f"tap_view{axis}"), suffix=f"tap_grid{axis}")
    others = [a for a in range(2 * rank) if a != rank + axis]
    starts = ctx.op("Unsqueeze", starts, ctx.const(np.asarray(others, i64), f"block_view{axis}"),
                    suffix=f"block_grid{axis}")
    return taps, starts
