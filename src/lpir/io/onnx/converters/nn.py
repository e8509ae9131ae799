"""Neural-network layers: convolutions, pooling, normalisations, Gemm/MatMul, Softmax."""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter
from lpir.ir import types
from lpir.ir.graph import Output

_AUTO_PAD = {"NOTSET": "explicit", "VALID": "valid", "SAME_UPPER": "same_upper", "SAME_LOWER": "same_lower"}


def _window_attrs(ctx: NodeContext, spatial: int) -> dict:
    """strides / dilations / pads_begin / pads_end / auto_pad shared by convolutions and pools."""
    pads = ctx.attr("pads") or [0] * (2 * spatial)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad not in _AUTO_PAD:
        raise ctx.fail(f"auto_pad {auto_pad!r} is not one of {sorted(_AUTO_PAD)}")
    return {
        "strides": list(ctx.attr("strides") or [1] * spatial),
        "dilations": list(ctx.attr("dilations") or [1] * spatial),
        "pads_begin": list(pads[:spatial]), "pads_end": list(pads[spatial:]),
        "auto_pad": _AUTO_PAD[auto_pad],
    }


def _spatial_rank(ctx: NodeContext, weights: Output) -> int:
    kernel = ctx.attr("kernel_shape")
    if kernel is not None:
        return len(kernel)
    return ctx.rank(weights) - 2


def _reshape_static(ctx: NodeContext, weights: Output, groups: int) -> Output:
    shape = list(weights.shape)
    if not all(isinstance(d, int) for d in shape):
        raise ctx.fail(f"grouped convolution needs static weight shape, got {shape}")
    if groups < 1 or shape[0] % groups:
        raise ctx.fail(f"group={groups} does not divide the {shape[0]} filters")
    target = [groups, shape[0] // groups] + shape[1:]
    return ctx.op("Reshape", weights, ctx.const(np.asarray(target, dtype=np.int64), "weights_shape"),
                  special_zero=False, suffix="weights")


def _add_bias(ctx: NodeContext, result: Output, bias: Output | None, spatial: int) -> Output:
    """Adds a per-channel bias reshaped to [1, C, 1, ...]; the Add then carries the ONNX name."""
    if bias is None:
        return result
    target = np.asarray([1, -1] + [1] * spatial, dtype=np.int64)
    shaped = ctx.op("Reshape", bias, ctx.const(target, "bias_shape"), special_zero=False, suffix="bias")
    return ctx.op("Add", result, shaped)


@converter("Conv", emits=("Convolution", "GroupConvolution", "Reshape", "Add"))
def _conv(ctx: NodeContext) -> Output:
    x, weights, bias = ctx.input(0), ctx.input(1), ctx.optional_input(2)
    spatial = _spatial_rank(ctx, weights)
    attrs = _window_attrs(ctx, spatial)
    groups = ctx.attr("group", 1)
    suffix = None if bias is None else "conv"
    if groups == 1:
        out = ctx.op("Convolution", x, weights, suffix=suffix, **attrs)
    else:
        grouped = _reshape_static(ctx, weights, groups)
        out = ctx.op("GroupConvolution", x, grouped, suffix=suffix, **attrs)
    return _add_bias(ctx, out, bias, spatial)


@converter("DeformConv", emits=("DeformableConvolution", "Reshape", "Add"))
def _deform_conv(ctx: NodeContext) -> Output:
    """DeformConv → DeformableConvolution-8 with bilinear_interpolation_pad: ONNX interpolates
    every point within one pixel of the image, reading 0 outside it."""
    bias, mask = ctx.optional_input(3), ctx.optional_input(4)
    attrs = _window_attrs(ctx, 2)
    inputs = [ctx.input(0), ctx.input(2), ctx.input(1)] + ([] if mask is None else [mask])
    out = ctx.build("DeformableConvolution", inputs, {
        **attrs, "group": ctx.attr("group", 1), "deformable_group": ctx.attr("offset_group", 1),
        "bilinear_interpolation_pad": True}, opset=8, suffix=None if bias is None else "deform_conv").outputs[0]
    return _add_bias(ctx, out, bias, 2)


@converter("ConvTranspose", emits=("ConvolutionBackpropData", "GroupConvolutionBackpropData", "Reshape", "Add"))
def _conv_transpose(ctx: NodeContext) -> Output:
    x, weights, bias = ctx.input(0), ctx.input(1), ctx.optional_input(2)
    spatial = _spatial_rank(ctx, weights)
    attrs = _window_attrs(ctx, spatial)
    attrs["output_padding"] = list(ctx.attr("output_padding") or [0] * spatial)
    inputs = [x, weights]
    output_shape = ctx.attr("output_shape")
    if output_shape is None and attrs["auto_pad"] in ("same_upper", "same_lower") and x.shape is not None \
            and all(isinstance(d, int) for d in x.shape[2:]):
        _same_transposed_pads(ctx, x, weights, attrs)
    if output_shape is not None:
        inputs.append(ctx.const(np.asarray(output_shape[-spatial:], dtype=np.int64), "output_shape"))
        attrs["auto_pad"] = "same_lower" if attrs["auto_pad"] == "same_lower" else "same_upper"
    groups = ctx.attr("group", 1)
    op_type = "ConvolutionBackpropData"
    if groups != 1:
        inputs[1] = _reshape_static(ctx, weights, groups)
        op_type = "GroupConvolutionBackpropData"
    out = ctx.build(op_type, inputs, attrs, suffix=None if bias is None else "deconv").outputs[0]
    return _add_bias(ctx, out, bias, spatial)


def _same_transposed_pads(ctx: NodeContext, x: Output, weights: Output, attrs: dict) -> None:
    """ONNX's SAME for ConvTranspose, as explicit pads: output = input * stride; of an odd total
    padding the extra element goes to the end for SAME_UPPER, to the start for SAME_LOWER (as
    ONNX Runtime pads; OpenVINO's same_* with an output shape would place it otherwise)."""
    kernel = ctx.attr("kernel_shape") or list(weights.shape[2:])
    begins, ends = [], []
    for size, k, s, d, extra in zip(x.shape[2:], kernel, attrs["strides"], attrs["dilations"],
                                    attrs["output_padding"]):
        total = max(s * (size - 1) + extra + (k - 1) * d + 1 - size * s, 0)
        small, large = total // 2, total - total // 2
        begins.append(small if attrs["auto_pad"] == "same_upper" else large)
        ends.append(large if attrs["auto_pad"] == "same_upper" else small)
    attrs.update(pads_begin=begins, pads_end=ends, auto_pad="explicit")


def _pool_attrs(ctx: NodeContext) -> dict:
    kernel = list(ctx.attr("kernel_shape"))
    attrs = _window_attrs(ctx, len(kernel))
    attrs["kernel"] = kernel
    attrs["rounding_type"] = "ceil" if ctx.attr("ceil_mode", 0) else "floor"
    return attrs


@converter("MaxPool", emits=("MaxPool", "FloorMod", "Divide", "Multiply", "Add", "Subtract"))
def _max_pool(ctx: NodeContext) -> list[Output]:
    attrs = _pool_attrs(ctx)
    attrs.update(index_element_type=types.i64, axis=0)
    if attrs["rounding_type"] == "ceil":  # ONNX drops a last window that would start in the end padding
        attrs["rounding_type"] = "ceil_torch"
    outputs = ctx.build("MaxPool", [ctx.input(0)], attrs, opset=14).outputs
    if ctx.attr("storage_order", 0) and len(ctx.node.output) > 1 and ctx.node.output[1]:
        outputs = [outputs[0], _column_major(ctx, outputs[1], ctx.input(0))]
    return outputs


def _column_major(ctx: NodeContext, indices: Output, x: Output) -> Output:
    """MaxPool's row-major flat indices renumbered with the spatial axes in column-major order
    (storage_order=1): the offset within each image is split into coordinates and recombined
    with the first spatial axis varying fastest."""
    spatial = list(x.shape[2:]) if x.shape is not None else []
    if not spatial or not all(isinstance(d, int) for d in spatial):
        raise ctx.fail(f"storage_order=1 needs static spatial dimensions, got {x.shape}")
    image = ctx.const(np.int64(np.prod(spatial)), "image_size")
    within = ctx.op("FloorMod", indices, image, suffix="within_image")
    result = ctx.op("Subtract", indices, within, suffix="image_start")
    for axis, size in enumerate(spatial):
        row_stride, column_stride = int(np.prod(spatial[axis + 1:])), int(np.prod(spatial[:axis]))
        position = ctx.op("FloorMod", ctx.op("Divide", within, ctx.const(np.int64(row_stride), f"row_stride{axis}"),
                                             suffix=f"row{axis}"),
                          ctx.const(np.int64(size), f"size{axis}"), suffix=f"position{axis}")
        term = ctx.op("Multiply", position, ctx.const(np.int64(column_stride), f"column_stride{axis}"),
                      suffix=f"column_offset{axis}")
        result = ctx.op("Add", result, term, suffix=f"column_sum{axis}")
    return result


@converter("MaxUnpool", emits=("ShapeOf", "Subtract", "Multiply", "Add", "ReduceProd", "Broadcast", "Reshape",
                               "ScatterElementsUpdate", "Convert"))
def _max_unpool(ctx: NodeContext) -> Output:
    """MaxUnpool: each value goes to its flat index (as MaxPool returned it) in a zero tensor of
    output_shape, the shape of the pooling's input, or without it of the shape the pooling would
    come from: (size - 1) * stride + kernel - pads per spatial axis. (ONNX Runtime and PyTorch
    read the indices so; ONNX's reference keeps them in the second shape and pads to the first.)"""
    x, indices = ctx.input(0), ctx.input(1)
    kernel = list(ctx.attr("kernel_shape", required=True))
    spatial = len(kernel)
    if ctx.rank(x) != spatial + 2:
        raise ctx.fail(f"kernel_shape {kernel} does not fit an input of rank {ctx.rank(x)}")
    i64 = np.int64
    if ctx.optional_input(2) is not None:
        shape = ctx.op("Convert", ctx.input(2), destination_type=types.i64, suffix="output_shape")
    else:
        strides = list(ctx.attr("strides") or [1] * spatial)
        pads = list(ctx.attr("pads") or [0] * (2 * spatial))
        pooled = ctx.op("ShapeOf", x, opset=3, output_type=types.i64, suffix="pooled_shape")
        steps = ctx.const(np.asarray([1, 1] + strides, dtype=i64), "strides")
        extents = ctx.const(np.asarray([1, 1] + [k - pads[i] - pads[i + spatial] for i, k in enumerate(kernel)],
                                       dtype=i64), "extents")
        last = ctx.op("Subtract", pooled, ctx.const(i64(1), "one"), suffix="last")
        shape = ctx.op("Add", ctx.op("Multiply", last, steps, suffix="spans"), extents, suffix="unpooled_shape")
    total = ctx.op("ReduceProd", shape, ctx.const(np.asarray([0], dtype=i64), "axis0"), keep_dims=True,
                   suffix="size")
    flat = ctx.const(np.asarray([-1], dtype=i64), "flat")
    zeros = ctx.op("Broadcast", ctx.const_like(0, x, "zero"), total, opset=3, suffix="zeros")
    scattered = ctx.op("ScatterElementsUpdate", zeros,
                       ctx.op("Reshape", indices, flat, special_zero=False, suffix="flat_indices"),
                       ctx.op("Reshape", x, flat, special_zero=False, suffix="flat_values"),
                       ctx.const(i64(0), "scatter_axis"), opset=3, suffix="scattered")
    return ctx.op("Reshape", scattered, shape, special_zero=False)


@converter("AveragePool", emits=("AvgPool", "Reshape", "Convolution", "ShapeOf", "Slice", "Concat", "Divide"))
def _average_pool(ctx: NodeContext) -> Output:
    attrs = _pool_attrs(ctx)
    include_pad = bool(ctx.attr("count_include_pad", 0))
    if any(d != 1 for d in attrs["dilations"]):
        total, counts = _dilated_window_sum(ctx, ctx.input(0), attrs, include_pad)
        return ctx.op("Divide", total, ctx.const_like(counts, total, "counts"))
    del attrs["dilations"]
    attrs["exclude-pad"] = not include_pad
    if attrs["rounding_type"] == "ceil":  # ONNX drops a last window that would start in the end padding
        attrs["rounding_type"] = "ceil_torch"
    return ctx.build("AvgPool", [ctx.input(0)], attrs, opset=14).outputs[0]


def _dilated_window_sum(ctx: NodeContext, x: Output, attrs: dict, include_pad: bool) -> tuple[Output, np.ndarray]:
    """Sums over dilated windows (a convolution of each channel with ones) and how many input
    (or, with ``include_pad``, input or explicit padding) positions each window covers; the
    spatial dims must be static. A ceil-mode window starting in the end padding is dropped."""
    shape = x.shape
    spatial = len(attrs["kernel"])
    if shape is None or not all(isinstance(d, int) for d in shape[2:]):
        raise ctx.fail(f"pooling with dilations needs static spatial dims, got {shape}")
    sizes = list(shape[2:])
    kernel, strides, dilations = attrs["kernel"], attrs["strides"], attrs["dilations"]
    begins, ends, outs = [], [], []
    for length, k, s, d, pb, pe in zip(sizes, kernel, strides, dilations, attrs["pads_begin"], attrs["pads_end"]):
        extent = (k - 1) * d + 1
        if attrs["auto_pad"] in ("same_upper", "same_lower"):
            out = -(-length // s)
            total = max((out - 1) * s + extent - length, 0)
            pb = total // 2 if attrs["auto_pad"] == "same_upper" else total - total // 2
            pe = total - pb
        elif attrs["auto_pad"] == "valid":
            pb = pe = 0
        span = length + pb + pe - extent
        out = (-(-span // s) if attrs["rounding_type"] == "ceil" else span // s) + 1
        if (out - 1) * s >= length + pb:
            out -= 1
        begins.append(pb)
        ends.append(pe)
        outs.append(out)
    counts = np.ones(outs, dtype=np.float64)
    for axis, (length, k, s, d, pb, pe, out) in enumerate(zip(sizes, kernel, strides, dilations, begins, ends, outs)):
        taps = np.arange(out)[:, None] * s - pb + np.arange(k)[None, :] * d  # input position of each tap
        inside = (taps >= -pb) & (taps < length + pe) if include_pad else (taps >= 0) & (taps < length)
        shape_1d = [1] * spatial
        shape_1d[axis] = out
        counts = counts * inside.sum(axis=1).reshape(shape_1d)
    i64 = types.i64
    flat = ctx.op("Reshape", x, ctx.const(np.asarray([-1, 1] + sizes, np.int64), "channels_flat"), special_zero=False,
                  suffix="channels")
    extra = [(o - 1) * s + (k - 1) * d + 1 - length - pb for o, s, k, d, length, pb
             in zip(outs, strides, kernel, dilations, sizes, begins)]
    ones = ctx.const_like(np.ones([1, 1] + list(kernel)), x, "window")
    total = ctx.op("Convolution", flat, ones, strides=list(strides), dilations=list(dilations), pads_begin=begins,
                   pads_end=[max(e, 0) for e in extra], auto_pad="explicit", suffix="window_sum")
    lead = ctx.op("Slice", ctx.op("ShapeOf", x, opset=3, output_type=i64, suffix="shape"), ctx.const([0], "lead_start", i64),
                  ctx.const([2], "lead_stop", i64), ctx.const([1], "lead_step", i64), opset=8, suffix="lead")
    target = ctx.build("Concat", [lead, ctx.const(outs, "out_dims", i64)], {"axis": 0}, suffix="out_shape").outputs[0]
    return ctx.op("Reshape", total, target, special_zero=False, suffix="sums"), counts.reshape([1, 1] + outs)


@converter("LpPool", emits=("Abs", "Power", "AvgPool", "Multiply", "Reshape", "Convolution", "ShapeOf", "Slice",
                            "Concat"))
def _lp_pool(ctx: NodeContext) -> Output:
    """(Σ |x|^p over the window)^(1/p): the average of |x|^p, padding counted, times the window
    size; dilated windows sum through a convolution."""
    x = ctx.input(0)
    attrs = _pool_attrs(ctx)
    p = float(ctx.attr("p", 2))
    powered = ctx.op("Power", ctx.op("Abs", x, suffix="abs"), ctx.const_like(p, x, "p"), suffix="powered")
    if any(d != 1 for d in attrs["dilations"]):
        total, _ = _dilated_window_sum(ctx, powered, attrs, True)
    else:
        del attrs["dilations"]
        attrs["exclude-pad"] = False
        mean = ctx.build("AvgPool", [powered], attrs, suffix="mean").outputs[0]
        total = ctx.op("Multiply", mean, ctx.const_like(float(np.prod(attrs["kernel"])), x, "window"), suffix="sum")
    return ctx.op("Power", total, ctx.const_like(1 / p, x, "inverse_p"))


@converter("GlobalAveragePool", "GlobalMaxPool", emits=("ReduceMean", "ReduceMax"))
def _global_pool(ctx: NodeContext) -> Output:
    x = ctx.input(0)
    axes = np.arange(2, ctx.rank(x), dtype=np.int64)
    op_type = "ReduceMean" if ctx.op_type == "GlobalAveragePool" else "ReduceMax"
    return ctx.op(op_type, x, ctx.const(axes, "axes"), keep_dims=True)


@converter("BatchNormalization", emits=("BatchNormInference", "ReduceMean", "Subtract", "Multiply", "Add"))
def _batch_norm(ctx: NodeContext) -> list[Output]:
    """Inference: the given statistics. Training mode (opset 14 on): the batch's own mean and
    (biased) variance over all axes but the channels, and the running statistics updated with
    ``momentum``."""
    inputs = [ctx.input(i) for i in range(5)]
    eps = float(ctx.attr("epsilon", 1e-5))
    if not ctx.attr("training_mode", 0):
        if len([o for o in ctx.node.output if o]) > 1:
            raise ctx.fail("the running statistics are outputs only in training mode")
        return [ctx.op("BatchNormInference", *inputs, opset=5, epsilon=eps)]
    x, mean, var = inputs[0], inputs[3], inputs[4]
    axes = ctx.const(np.asarray([a for a in range(ctx.rank(x)) if a != 1], dtype=np.int64), "axes")
    batch_mean = ctx.op("ReduceMean", x, axes, keep_dims=False, suffix="batch_mean")
    centred = ctx.op("Subtract", x, ctx.op("ReduceMean", x, axes, keep_dims=True, suffix="batch_mean_kept"),
                     suffix="centred")
    batch_var = ctx.op("ReduceMean", ctx.op("Multiply", centred, centred, suffix="squared"), axes, keep_dims=False,
                       suffix="batch_var")
    y = ctx.op("BatchNormInference", x, inputs[1], inputs[2], batch_mean, batch_var, opset=5, epsilon=eps)
    momentum = float(ctx.attr("momentum", 0.9))

    def running(old: Output, new: Output, name: str) -> Output:
        kept = ctx.op("Multiply", old, ctx.const_like(momentum, old, f"{name}_momentum"), suffix=f"{name}_kept")
        added = ctx.op("Multiply", new, ctx.const_like(1 - momentum, new, f"{name}_rest"), suffix=f"{name}_added")
        return ctx.op("Add", kept, added, suffix=name)

    return [y, running(mean, batch_mean, "running_mean"), running(var, batch_var, "running_var")]


@converter("InstanceNormalization", emits=("MVN", "Multiply", "Add", "Reshape"))
def _instance_norm(ctx: NodeContext) -> Output:
    x = ctx.input(0)
    rank = ctx.rank(x)
    axes = ctx.const(np.arange(2, rank, dtype=np.int64), "axes")
    norm = ctx.op("MVN", x, axes, opset=6, normalize_variance=True, eps=float(ctx.attr("epsilon", 1e-5)),
                  eps_mode="inside_sqrt", suffix="mvn")
    target = ctx.const(np.asarray([1, -1] + [1] * (rank - 2), dtype=np.int64), "channel_shape")
    scale = ctx.op("Reshape", ctx.input(1), target, special_zero=False, suffix="scale")
    bias = ctx.op("Reshape", ctx.input(2), target, special_zero=False, suffix="bias")
    return ctx.op("Add", ctx.op("Multiply", norm, scale, suffix="mul"), bias)


@converter("LayerNormalization", emits=("MVN", "Multiply", "Add", "ReduceMean", "Subtract", "Sqrt", "Divide",
                                        "Convert"))
def _layer_norm(ctx: NodeContext) -> list[Output]:
    """MVN over the axes from ``axis`` to the last, then scale and bias (OpenVINO's decomposition).
    When Mean or InvStdDev is wanted too, the statistics are computed step by step (in f32 with
    stash_type 1) and the normalization uses them."""
    x = ctx.input(0)
    axis = ctx.attr("axis", -1)
    if axis >= 0:
        axis -= ctx.rank(x)
    axes = ctx.const(np.arange(axis, 0, dtype=np.int64), "axes")
    bias = ctx.optional_input(2)
    eps = float(ctx.attr("epsilon", 1e-5))
    if len([o for o in ctx.node.output if o]) == 1:
        out = ctx.op("MVN", x, axes, opset=6, normalize_variance=True, eps=eps, eps_mode="inside_sqrt", suffix="mvn")
        out = ctx.op("Multiply", out, ctx.input(1), suffix=None if bias is None else "scale")
        return [out if bias is None else ctx.op("Add", out, bias)]
    stash = types.f32 if ctx.attr("stash_type", 1) == 1 else x.etype
    work = x if stash is x.etype else ctx.op("Convert", x, destination_type=stash, suffix="stash")
    mean = ctx.op("ReduceMean", work, axes, keep_dims=True, suffix="mean")
    centred = ctx.op("Subtract", work, mean, suffix="centred")
    variance = ctx.op("ReduceMean", ctx.op("Multiply", centred, centred, suffix="squared"), axes, keep_dims=True,
                      suffix="variance")
    std = ctx.op("Sqrt", ctx.op("Add", variance, ctx.const_like(eps, variance, "eps"), suffix="variance_eps"),
                 suffix="std")
    inv_std = ctx.op("Divide", ctx.const_like(1, std, "one"), std, suffix="inv_std")
    normed = ctx.op("Multiply", centred, inv_std, suffix="normalized")
    if stash is not x.etype:
        normed = ctx.op("Convert", normed, destination_type=x.etype, suffix="normalized_x")
    out = ctx.op("Multiply", normed, ctx.input(1), suffix=None if bias is None else "scale")
    return [out if bias is None else ctx.op("Add", out, bias), mean, inv_std]


@converter("RMSNormalization", emits=("Multiply", "ReduceMean", "Add", "Sqrt", "Divide", "Convert"), spec_opset=23)
def _rms_norm(ctx: NodeContext) -> Output:
    """x / sqrt(mean(x²) + epsilon) * scale over the axes from ``axis`` on (in f32 with stash_type 1)."""
    x = ctx.input(0)
    axis = ctx.attr("axis", -1)
    if axis >= 0:
        axis -= ctx.rank(x)
    axes = ctx.const(np.arange(axis, 0, dtype=np.int64), "axes")
    stash = types.f32 if ctx.attr("stash_type", 1) == 1 else x.etype
    work = x if stash is x.etype else ctx.op("Convert", x, destination_type=stash, suffix="stash")
    mean_square = ctx.op("ReduceMean", ctx.op("Multiply", work, work, suffix="squared"), axes, keep_dims=True,
                         suffix="mean_square")
    eps = ctx.const_like(float(ctx.attr("epsilon", 1e-5)), mean_square, "eps")
    rms = ctx.op("Sqrt", ctx.op("Add", mean_square, eps, suffix="mean_square_eps"), suffix="rms")
    normed = ctx.op("Divide", work, rms, suffix="normalized")
    if stash is not x.etype:
        normed = ctx.op("Convert", normed, destination_type=x.etype, suffix="normalized_x")
    return ctx.op("Multiply", normed, ctx.input(1))


@converter("GroupNormalization", emits=("GroupNormalization", "Reshape", "Tile"))
def _group_norm(ctx: NodeContext) -> Output:
    """From opset 21 scale and bias are per channel; opset 18 gave them per group (repeated here
    over the group's channels)."""
    x, scale, bias = ctx.input(0), ctx.input(1), ctx.input(2)
    groups = ctx.attr("num_groups")
    if ctx.opset < 21:
        channels = x.shape[1] if x.shape is not None and len(x.shape) > 1 else None
        if not isinstance(channels, int):
            raise ctx.fail("GroupNormalization-18 needs a static channel count")
        repeat = ctx.const(np.asarray([1, channels // groups], dtype=np.int64), "repeat")
        column = ctx.const(np.asarray([groups, 1], dtype=np.int64), "column")
        flat = ctx.const(np.asarray([channels], dtype=np.int64), "channels")
        scale, bias = (ctx.op("Reshape", ctx.op("Tile", ctx.op("Reshape", p, column, special_zero=False,
                                                               suffix=f"{name}_column"), repeat,
                                                suffix=f"{name}_tiled"), flat, special_zero=False,
                              suffix=f"{name}_per_channel") for p, name in ((scale, "scale"), (bias, "bias")))
    return ctx.op("GroupNormalization", x, scale, bias, opset=12, num_groups=groups,
                  epsilon=float(ctx.attr("epsilon", 1e-5)))


@converter("LRN", emits="LRN")
def _lrn(ctx: NodeContext) -> Output:
    return ctx.op("LRN", ctx.input(0), ctx.const(np.asarray([1], dtype=np.int64), "axes"),
                  alpha=float(ctx.attr("alpha", 1e-4)), beta=float(ctx.attr("beta", 0.75)),
                  bias=float(ctx.attr("bias", 1.0)), size=ctx.attr("size"))


@converter("MeanVarianceNormalization", emits="MVN")
def _mean_variance_norm(ctx: NodeContext) -> Output:
    axes = ctx.const(np.asarray(ctx.attr("axes", [0, 2, 3]), dtype=np.int64), "axes")
    return ctx.op("MVN", ctx.input(0), axes, opset=6, normalize_variance=True, eps=1e-9, eps_mode="outside_sqrt")


@converter("LpNormalization", emits=("ReduceL1", "ReduceL2", "Divide", "Equal", "Select"))
def _lp_norm(ctx: NodeContext) -> Output:
    x = ctx.input(0)
    p = ctx.attr("p", 2)
    if p not in (1, 2):
        raise ctx.fail(f"p={p}: LpNormalization takes p 1 or 2")
    axes = ctx.const(np.asarray([ctx.attr("axis", -1)], dtype=np.int64), "axes")
    norm = ctx.op(f"ReduceL{p}", x, axes, opset=4, keep_dims=True, suffix="norm")
    quotient = ctx.op("Divide", x, norm, suffix="quotient")
    zero = ctx.const_like(0, x, "zero")
    return ctx.op("Select", ctx.op("Equal", norm, zero, suffix="zero_norm"), zero, quotient)  # 0 / 0 gives 0


@converter("Hardmax", emits=("TopK", "ShapeOf", "Gather", "Squeeze", "OneHot"))
def _hardmax(ctx: NodeContext) -> Output:
    """1 at the first maximum along ``axis``, 0 elsewhere (before opset 13 only over the last axis)."""
    x = ctx.input(0)
    rank = ctx.rank(x)
    axis = ctx.attr("axis", -1 if ctx.opset >= 13 else 1)
    axis = axis + rank if axis < 0 else axis
    if ctx.opset < 13 and axis != rank - 1:
        raise ctx.fail(f"Hardmax before opset 13 over axis {axis} of rank {rank} is not supported")
    top = ctx.build("TopK", [x, ctx.const(np.int64(1), "k")],
                    {"axis": axis, "mode": "max", "sort": "none", "index_element_type": types.i64},
                    opset=11, suffix="topk")
    axes = ctx.const(np.asarray([axis], dtype=np.int64), "axes")
    index = ctx.op("Squeeze", top.outputs[1], axes, suffix="index")
    shape = ctx.op("ShapeOf", x, opset=3, output_type=types.i64, suffix="shape")
    depth = ctx.op("Gather", shape, ctx.const(np.int64(axis), "axis"), ctx.const(np.int64(0), "gather_axis"),
                   opset=8, suffix="depth")
    return ctx.op("OneHot", index, depth, ctx.const_like(1, x, "on"), ctx.const_like(0, x, "off"), axis=axis)


@converter("MatMul", emits="MatMul")
def _matmul(ctx: NodeContext) -> Output:
    return ctx.op("MatMul", ctx.input(0), ctx.input(1), transpose_a=False, transpose_b=False)


@converter("Einsum", emits="Einsum")
def _einsum(ctx: NodeContext) -> Output:
    return ctx.op("Einsum", *[ctx.input(i) for i in range(ctx.num_inputs)], opset=7, equation=ctx.attr("equation", required=True))


@converter("Gemm", emits=("MatMul", "Multiply", "Add"))
def _gemm(ctx: NodeContext) -> Output:
    """alpha * A' B' + beta * C, with the transposes folded into MatMul's attributes."""
    a, b, c = ctx.input(0), ctx.input(1), ctx.optional_input(2)
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    last = c is None and alpha == 1.0
    out = ctx.op("MatMul", a, b, transpose_a=bool(ctx.attr("transA", 0)), transpose_b=bool(ctx.attr("transB", 0)),
                 suffix=None if last else "matmul")
    if alpha != 1.0:
        out = ctx.op("Multiply", out, ctx.const_like(alpha, out, "alpha"), suffix=None if c is None else "scaled")
    if c is None:
        return out
    if beta != 1.0:
        c = ctx.op("Multiply", c, ctx.const_like(beta, c, "beta"), suffix="beta_c")
    return ctx.op("Add", out, c)


@converter("Softmax", "LogSoftmax", emits=("Softmax", "LogSoftmax", "Reshape", "ShapeOf"))
def _softmax(ctx: NodeContext) -> Output:
    """From opset 13 over one axis; before, over the input coerced to 2-D at ``axis``."""
    x = ctx.input(0)
    op_type, opset = ("Softmax", 8) if ctx.op_type == "Softmax" else ("LogSoftmax", 5)
    if ctx.opset >= 13:
        return ctx.op(op_type, x, opset=opset, axis=ctx.attr("axis", -1))
    rank = ctx.rank(x)
    axis = ctx.attr("axis", 1)
    axis = axis + rank if axis < 0 else axis
    if axis == rank - 1:
        return ctx.op(op_type, x, opset=opset, axis=axis)
    # Softmax over the flattened trailing dims: flatten them, normalise, restore the shape.
    target = ctx.const(np.asarray([0] * axis + [-1], dtype=np.int64), "flat_shape")
    flat = ctx.op("Reshape", x, target, special_zero=True, suffix="flatten")
    out = ctx.op(op_type, flat, opset=opset, axis=axis, suffix="normalized")
    shape = ctx.op("ShapeOf", x, opset=3, output_type=types.i64, suffix="shape")
    return ctx.op("Reshape", out, shape, special_zero=False)
