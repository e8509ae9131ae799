"""DeformableConvolution-1 and -8: a 2-D convolution whose every kernel tap reads the input at
its regular position moved by a learned (dy, dx) offset, bilinearly interpolated.

Offsets are [N, deformable_group * kh * kw * 2, H_out, W_out], (dy, dx) pairs per tap in row-major
kernel order; input channels are split into ``deformable_group`` consecutive blocks, each moved by
its own offsets. Opset 8 adds an optional mask [N, deformable_group * kh * kw, H_out, W_out] that
scales each tap, and ``bilinear_interpolation_pad``: when true a point within one pixel outside
the image still interpolates (its neighbours outside read 0); when false only points inside
[0, size) are read and their neighbours are clamped to the image. Samples are interpolated in
single precision (double for f64 data), as OpenVINO does.
"""

from __future__ import annotations

import numpy as np

from lpir.ir import types
from lpir.ir.shape import DYNAMIC
from lpir.ops.convolution import (
    _CONV_ATTRS,
    auto_pad_mode,
    check_rank,
    check_spatial_attrs,
    resolve_pads,
    window_count,
)
from lpir.ops.registry import Attr, InferContext, Op, register


def _bilinear(image: np.ndarray, y: np.ndarray, x: np.ndarray, pad: bool) -> np.ndarray:
    """[C, *points] values of ``image`` [C, H, W] at real positions ``y``/``x`` (0 outside the
    readable area)."""
    height, width = image.shape[1:]
    if pad:
        inside = (y > -1) & (y < height) & (x > -1) & (x < width)
        y1, x1 = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
        y2, x2 = y1 + 1, x1 + 1
    else:
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        y1 = np.maximum(np.floor(y), 0).astype(np.int64)
        x1 = np.maximum(np.floor(x), 0).astype(np.int64)
        y2 = np.minimum(np.ceil(y), height - 1).astype(np.int64)
        x2 = np.minimum(np.ceil(x), width - 1).astype(np.int64)
    dy, dx = y - y1.astype(y.dtype), x - x1.astype(x.dtype)

    def read(row, col):
        ok = inside & (row >= 0) & (row < height) & (col >= 0) & (col < width)
        values = image[:, np.clip(row, 0, height - 1), np.clip(col, 0, width - 1)]
        return np.where(ok, values, image.dtype.type(0))

    one = y.dtype.type(1)
    return ((one - dx) * (one - dy) * read(y1, x1) + (one - dx) * dy * read(y2, x1)
            + dx * (one - dy) * read(y1, x2) + dx * dy * read(y2, x2))


@register("DeformableConvolution", opset=1)
class DeformableConvolution(Op):
    """Data [N, C_IN, H, W], offsets, filters [C_OUT, C_IN / group, kh, kw]."""

    attrs = {**_CONV_ATTRS, "group": Attr("int", default=1), "deformable_group": Attr("int", default=1)}

    def infer(self, ctx: InferContext):
        data, weights = ctx.shape(0), ctx.shape(2)
        if ctx.etype(2) is not ctx.etype(0) and types.dynamic not in (ctx.etype(0), ctx.etype(2)):
            raise ctx.fail(f"data is {ctx.etype(0)} but filters are {ctx.etype(2)}")
        if data is None:
            return [(ctx.etype(0), None)]
        check_rank(ctx, data, weights, 0)
        if len(data) != 4:
            raise ctx.fail(f"only 2-D deformable convolutions exist; data shape {list(data)}")
        mode = check_spatial_attrs(ctx, 2)
        attrs = ctx.attrs
        groups, deformable = attrs["group"], attrs["deformable_group"]
        if groups < 1 or deformable < 1:
            raise ctx.fail(f"group={groups} and deformable_group={deformable} must be positive")
        kernel = weights[2:] if weights is not None else (DYNAMIC, DYNAMIC)
        if weights is not None and all(isinstance(d, int) for d in (data[1], weights[1])) \
                and data[1] != groups * weights[1]:
            raise ctx.fail(f"data has {data[1]} channels but the filters expect {groups} x {weights[1]}")
        offsets = ctx.shape(1)
        if offsets is not None and all(isinstance(d, int) for d in (offsets[1], *kernel)) \
                and offsets[1] != deformable * kernel[0] * kernel[1] * 2:
            raise ctx.fail(f"offsets have {offsets[1]} channels, not deformable_group x kh x kw x 2 = "
                           f"{deformable * kernel[0] * kernel[1] * 2}")
        pads = resolve_pads(data[2:], kernel, attrs["strides"], attrs["dilations"], mode,
                            attrs["pads_begin"], attrs["pads_end"])
        spatial = [window_count(*args) for args in zip(data[2:], kernel, attrs["strides"], attrs["dilations"], pads)]
        for i, what in ((1, "offsets"), (3, "mask")):
            given = ctx.shape(i) if i < ctx.num_inputs else None
            if given is not None and any(isinstance(a, int) and isinstance(b, int) and a != b
                                         for a, b in zip(given[2:], spatial)):
                raise ctx.fail(f"{what} shape {list(given)} does not match the output size {spatial}")
        channels = weights[0] if weights is not None else DYNAMIC
        return [(ctx.etype(0), (data[0], channels, *spatial))]

    def evaluate(self, data, offsets, filters, mask=None, *, strides, pads_begin, pads_end, dilations, auto_pad,
                 group, deformable_group, bilinear_interpolation_pad=False):
        data = np.asarray(data)
        dtype = np.float64 if data.dtype == np.float64 else np.float32
        x, w = data.astype(dtype), np.asarray(filters).astype(dtype)
        n, channels, height, width = x.shape
        kh, kw = w.shape[2:]
        pads = resolve_pads((height, width), (kh, kw), strides, dilations, auto_pad_mode(auto_pad),
                            pads_begin, pads_end)
        out_h, out_w = (window_count(*args) for args in zip((height, width), (kh, kw), strides, dilations, pads))
        taps = kh * kw
        shift = np.asarray(offsets).astype(dtype).reshape(n, deformable_group, taps, 2, out_h, out_w)
        scale = np.ones((n, deformable_group, taps, out_h, out_w), dtype) if mask is None else \
            np.asarray(mask).astype(dtype).reshape(n, deformable_group, taps, out_h, out_w)
        rows = (np.arange(out_h) * strides[0] - pads[0][0])[None, :, None] \
            + (np.arange(kh) * dilations[0]).repeat(kw)[:, None, None]  # [taps, out_h, 1]
        cols = (np.arange(out_w) * strides[1] - pads[1][0])[None, None, :] \
            + np.tile(np.arange(kw) * dilations[1], kh)[:, None, None]  # [taps, 1, out_w]
        per_block = channels // deformable_group
        out = np.empty((n, w.shape[0], out_h, out_w), dtype)
        for b in range(n):
            samples = np.concatenate([
                _bilinear(x[b, d * per_block:(d + 1) * per_block], rows + shift[b, d, :, 0], cols + shift[b, d, :, 1],
                          bilinear_interpolation_pad) * scale[b, d]
                for d in range(deformable_group)])  # [C_IN, taps, out_h, out_w]
            grouped = samples.reshape(group, channels // group * taps, out_h * out_w)
            weights = w.reshape(group, w.shape[0] // group, -1)
            out[b] = np.matmul(weights, grouped).reshape(w.shape[0], out_h, out_w)
        return (out.astype(data.dtype, copy=False),)


@register("DeformableConvolution", opset=8)
class DeformableConvolution8(DeformableConvolution):
    attrs = {**DeformableConvolution.attrs, "bilinear_interpolation_pad": Attr("bool", default=False)}
