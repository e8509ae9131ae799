"""Convolution, GroupConvolution and their backprop-data (transposed) forms; Col2Im.

All four share one geometry (strides, dilations, pads or ``auto_pad``) and one evaluation
strategy chosen for speed with plain numpy:

* 1x1 kernels without padding are a matrix product over the channels (no copy of the data);
* depthwise kernels (one input channel per group) accumulate the kernel taps over shifted
  views of the input, with no im2col matrix (:mod:`lpir.ops.depthwise`);
* larger kernels with 16 or more input channels per group run one matrix product per kernel
  tap, each reading its input run in place from zero-padded stride phase planes;
* everything else builds an im2col matrix from a strided window view and runs one GEMM.

The transposed forms run the GEMM first (weights x data, one column per input pixel) and then
scatter-add each kernel tap into the output with strided slices.

Quantization traits: :meth:`weight_channel_axes` names the weight axes that index an output
channel: 0 for Convolution ``[C_OUT, C_IN, k...]``, 1 for ConvolutionBackpropData ``[C_IN,
C_OUT, k...]``, the pair (0, 1) for GroupConvolution ``[G, C_OUT/G, C_IN/G, k...]`` and (0, 2)
for GroupConvolutionBackpropData ``[G, C_IN/G, C_OUT/G, k...]``, so per-channel statistics are
taken over each (group, channel) pair, i.e. per output channel. As in NNCF, a grouped
transposed convolution has no bias (its following Add is not corrected as one).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lpir.errors import EvaluationError
from lpir.ir.shape import DYNAMIC, Dimension, Shape
from lpir.ops.depthwise import crop_rows, depthwise_reference, tap_layout
from lpir.ops.elementwise import as_compute
from lpir.ops.matmul import accumulation_dtype, to_output
from lpir.ops.registry import Attr, InferContext, Op, Traits, register

AUTO_PADS = ("explicit", "notset", "valid", "same_upper", "same_lower")
_SPATIAL_ATTRS = ("strides", "dilations", "pads_begin", "pads_end")


# ---------------------------------------------------------------- geometry (shared with pooling)

def auto_pad_mode(value: str) -> str:
    """``auto_pad`` in lower case, ``notset`` read as ``explicit``."""
    mode = str(value).lower()
    return "explicit" if mode == "notset" else mode


def same_pads(size: int, kernel: int, stride: int, dilation: int, mode: str) -> tuple[int, int]:
    """(begin, end) pads that give ``ceil(size / stride)`` outputs; odd totals go to the end
    for ``same_upper`` and to the beginning for ``same_lower``."""
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + dilation * (kernel - 1) + 1 - size)
    small = total // 2
    return (small, total - small) if mode == "same_upper" else (total - small, small)


def resolve_pads(sizes: Sequence[Dimension], kernel: Sequence[Dimension], strides: Sequence[int],
                 dilations: Sequence[int], mode: str, pads_begin: Sequence[int],
                 pads_end: Sequence[int]) -> list[tuple[int, int] | None]:
    """Per spatial axis the (begin, end) pads ``auto_pad`` implies (None where a dynamic
    dimension leaves ``same_*`` pads unknown)."""
    if mode == "valid":
        return [(0, 0)] * len(strides)
    if mode == "explicit":
        return list(zip(pads_begin, pads_end))
    pads: list[tuple[int, int] | None] = []
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        static = isinstance(size, int) and isinstance(k, int)
        pads.append(same_pads(size, k, s, d, mode) if static else None)
    return pads


def window_count(size: Dimension, kernel: Dimension, stride: int, dilation: int,
                 pads: tuple[int, int] | None, *, ceil: bool = False) -> Dimension:
    """How many windows fit along one axis (dynamic if any input is)."""
    if not (isinstance(size, int) and isinstance(kernel, int)) or pads is None:
        return DYNAMIC
    span = size + pads[0] + pads[1] - dilation * (kernel - 1) - 1
    return (-(-span // stride) if ceil else span // stride) + 1


def check_spatial_attrs(ctx: InferContext, num_spatial: int, names: Sequence[str] = _SPATIAL_ATTRS) -> str:
    """Validate lengths and signs of the per-axis attributes; returns the auto_pad mode."""
    attrs = ctx.attrs
    mode = auto_pad_mode(attrs.get("auto_pad", "explicit"))
    if mode not in AUTO_PADS:
        raise ctx.fail(f"auto_pad={attrs['auto_pad']!r} is not one of {', '.join(AUTO_PADS[1:])}")
    for name in names:
        value = list(attrs.get(name) or [])
        if name.startswith("pads") and mode != "explicit" and not value:
            continue
        if len(value) != num_spatial:
            raise ctx.fail(f"{name}={value} must have {num_spatial} values, one per spatial axis")
        if name in ("strides", "dilations") and any(v <= 0 for v in value):
            raise ctx.fail(f"{name}={value} must be positive")
    return mode


def pad_spatial(x: np.ndarray, pads: Sequence[tuple[int, int]], value: Any = 0) -> np.ndarray:
    """``x`` with its trailing ``len(pads)`` axes padded by ``value`` (negative pads crop)."""
    if not any(b or e for b, e in pads):
        return x
    lead = x.ndim - len(pads)
    crop = tuple(slice(max(0, -b), x.shape[lead + i] - max(0, -e)) for i, (b, e) in enumerate(pads))
    x = x[(Ellipsis,) + crop]
    grow = [(0, 0)] * lead + [(max(0, b), max(0, e)) for b, e in pads]
    return np.pad(x, grow, constant_values=value)


def tap_views(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
              out: Sequence[int]) -> Iterator[tuple[tuple[int, ...], tuple[slice, ...]]]:
    """For each kernel tap, the strided slice of the trailing axes of ``x`` it reads.

    A loop over kernel taps, never over pixels: each slice covers every output position.
    """
    for tap in itertools.product(*(range(k) for k in kernel)):
        yield tap, (Ellipsis,) + tuple(slice(t * d, t * d + s * (o - 1) + 1, s)
                                       for t, d, s, o in zip(tap, dilations, strides, out))


# ---------------------------------------------------------------- forward convolution kernels

def _im2col(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
            out: Sequence[int]) -> np.ndarray:
    """``[N, C, *spatial]`` → ``[N, C * prod(kernel), prod(out)]`` from a strided window view."""
    n, c = x.shape[:2]
    rank = len(kernel)
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    view = sliding_window_view(x, spans, axis=tuple(range(2, 2 + rank)))
    view = view[(Ellipsis,) + tuple(slice(None, None, s) for s in strides)
                + tuple(slice(None, None, d) for d in dilations)]
    view = view[(slice(None), slice(None)) + tuple(slice(0, o) for o in out)]
    order = (0, 1) + tuple(range(2 + rank, 2 + 2 * rank)) + tuple(range(2, 2 + rank))
    return view.transpose(order).reshape(n, c * math.prod(kernel), math.prod(out))


# From this many input channels per group, one matrix product per kernel tap (each as deep as
# the channels) runs at BLAS speed and beats building the im2col matrix, which is the kernel
# size times the input (88 MB for a 3x3 layer of 96 channels at 160x160; 1.8x faster there).
_TAP_PRODUCT_DEPTH = 16


def _tap_products(x: np.ndarray, w: np.ndarray, strides: Sequence[int], dilations: Sequence[int],
                  pads: Sequence[tuple[int, int]], out: Sequence[int]) -> np.ndarray:
    """Sum over kernel taps of ``w[..., tap] @ input run of that tap``, the runs read from the
    input's phase planes (:func:`lpir.ops.depthwise.tap_layout`) as strided matrices BLAS takes
    without a copy. Returns ``[N, G*M, *out]``."""
    n = x.shape[0]
    g, m, cg = w.shape[:3]
    planes, taps, offsets, q = tap_layout(x, w.shape[3:], strides, dilations, pads, out)
    planes = planes.reshape((n, g, cg) + planes.shape[2:])
    length = out[0] * math.prod(q[1:])
    per_tap = np.ascontiguousarray(np.moveaxis(w.reshape(g, m, cg, -1), -1, 0))  # [taps, G, M, Cg]
    acc = np.matmul(per_tap[0], planes[..., taps[0][0], offsets[0]:offsets[0] + length])
    product = np.empty_like(acc)
    for t in range(1, len(taps)):
        np.matmul(per_tap[t], planes[..., taps[t][0], offsets[t]:offsets[t] + length], out=product)
        acc += product
    return crop_rows(acc, g * m, out, q)


def grouped_convolution(x: np.ndarray, w: np.ndarray, strides: Sequence[int], dilations: Sequence[int],
                        pads: Sequence[tuple[int, int]]) -> np.ndarray:
    """Convolution of ``x`` ``[N, G*Cg, *spatial]`` with ``w`` ``[G, M, Cg, *k]`` → ``[N, G*M, *out]``."""
    out_dtype = x.dtype
    g, m, cg = w.shape[:3]
    kernel = w.shape[3:]
    work = accumulation_dtype(x, w, cg * math.prod(kernel))
    x = x.astype(work, copy=False)
    w = w.astype(work, copy=False)
    n = x.shape[0]
    out = [window_count(*args) for args in zip(x.shape[2:], kernel, strides, dilations, pads)]
    if any(o <= 0 for o in out) or n == 0:  # an empty result (numpy cannot infer -1 of an empty reshape)
        return np.zeros((n, g * m) + tuple(max(o, 0) for o in out), dtype=out_dtype)
    if cg == 1 and g > 1:
        return to_output(depthwise_reference(x, w, strides, dilations, pads, out), out_dtype)
    if cg >= _TAP_PRODUCT_DEPTH and any(k > 1 for k in kernel):
        return to_output(_tap_products(x, w, strides, dilations, pads, out), out_dtype)
    x = pad_spatial(x, pads)
    if all(k == 1 for k in kernel):
        x = x[(Ellipsis,) + tuple(slice(None, s * (o - 1) + 1, s) for s, o in zip(strides, out))]
        cols = x.reshape(n, g, cg, -1)
    else:
        cols = _im2col(x, kernel, strides, dilations, out).reshape(n, g, cg * math.prod(kernel), -1)
    result = np.matmul(w.reshape(g, m, -1), cols)
    return to_output(result.reshape((n, g * m) + tuple(out)), out_dtype)


# ---------------------------------------------------------------- transposed convolution kernel

def _place(full: np.ndarray, starts: Sequence[int], sizes: Sequence[int]) -> np.ndarray:
    """The window ``[start, start+size)`` of the trailing axes of ``full``, zeros outside it."""
    pads = [(-s, s + z - f) for s, z, f in zip(starts, sizes, full.shape[-len(sizes):])]
    return pad_spatial(full, pads)


def grouped_transposed_convolution(x: np.ndarray, w: np.ndarray, strides: Sequence[int],
                                   dilations: Sequence[int], pads_begin: Sequence[int],
                                   out: Sequence[int]) -> np.ndarray:
    """Backprop-data of ``x`` ``[N, G*Cg, *in]`` with ``w`` ``[G, Cg, M, *k]`` → ``[N, G*M, *out]``.

    The result is the full transposed convolution cropped from ``pads_begin`` to ``out`` values
    per axis (zeros where the crop reaches past it, as ``output_padding`` may).
    """
    out_dtype = x.dtype
    g, cg, m = w.shape[:3]
    kernel = w.shape[3:]
    work = accumulation_dtype(x, w, cg * math.prod(kernel))
    n = x.shape[0]
    size = x.shape[2:]
    wmat = np.moveaxis(w.astype(work, copy=False), 1, -1).reshape(g, -1, cg)
    cols = np.matmul(wmat, x.astype(work, copy=False).reshape(n, g, cg, -1))
    cols = cols.reshape((n, g, m, math.prod(kernel)) + tuple(size))
    full_size = [s * (i - 1) + d * (k - 1) + 1 for s, i, d, k in zip(strides, size, dilations, kernel)]
    # Strides equal to an undilated kernel (upsampling) tile the output: every position gets exactly
    # one tap, so the taps are written, not added (strided adds cost 2.5x strided writes).
    tiles = all(d == 1 and s == k for s, d, k in zip(strides, dilations, kernel))
    full = (np.empty if tiles else np.zeros)((n, g, m) + tuple(full_size), dtype=work)
    for t, (_, index) in enumerate(tap_views(full, kernel, strides, dilations, size)):
        if tiles:
            full[index] = cols[:, :, :, t]
        else:
            full[index] += cols[:, :, :, t]
    result = _place(full, pads_begin, out)
    return to_output(result.reshape((n, g * m) + tuple(out)), out_dtype)


# ---------------------------------------------------------------- op definitions

_CONV_ATTRS = {
    "strides": Attr("ints"),
    "pads_begin": Attr("ints"),
    "pads_end": Attr("ints"),
    "dilations": Attr("ints"),
    "auto_pad": Attr("str", default="explicit"),
}


def _geometry(ctx: InferContext, grouped: bool):
    """The checks both convolution kinds start with. Returns data and weight shapes, the number
    of spatial axes, the auto_pad mode, the weights' leading-axis count beyond two (1 when
    grouped) and their first three dims ``(groups, a, b)``; None when the data rank is unknown."""
    data, weights = ctx.shape(0), ctx.shape(1)
    check_types(ctx)
    if data is None:
        return None
    extra = 1 if grouped else 0
    num_spatial = check_rank(ctx, data, weights, extra) - 2
    mode = check_spatial_attrs(ctx, num_spatial)
    lead = (weights[:3] if grouped else (1,) + tuple(weights[:2])) if weights is not None else (DYNAMIC,) * 3
    return data, weights, num_spatial, mode, extra, tuple(lead)


class _ConvolutionBase(Op):
    """Shared inference of the forward convolutions; subclasses say how weights are laid out."""

    attrs = _CONV_ATTRS
    traits = Traits(quantizable=True, activation_inputs=(0, 1), weight_inputs=(1,), has_bias=True)
    fresh_outputs = True
    grouped = False

    def weight_channel_axes(self, attrs: dict[str, Any]) -> tuple[int, ...]:
        return (0, 1) if self.grouped else (0,)

    def infer(self, ctx: InferContext):
        geometry = _geometry(ctx, self.grouped)
        if geometry is None:
            return [(ctx.etype(0), None)]
        data, weights, num_spatial, mode, extra, (groups, out_per_group, in_per_group) = geometry
        check_channels(ctx, data[1], groups, in_per_group)
        kernel = weights[2 + extra:] if weights is not None else (DYNAMIC,) * num_spatial
        attrs = ctx.attrs
        pads = resolve_pads(data[2:], kernel, attrs["strides"], attrs["dilations"], mode,
                            attrs["pads_begin"], attrs["pads_end"])
        spatial = [window_count(*args) for args in zip(data[2:], kernel, attrs["strides"], attrs["dilations"], pads)]
        for size, value in zip(data[2:], spatial):
            if isinstance(value, int) and value <= 0:
                raise ctx.fail(f"kernel {list(kernel)} with dilations {attrs['dilations']} does not fit "
                               f"the padded input {list(data)} (output spatial size {value})")
        channels = dim_mul(groups, out_per_group)
        return [(ctx.etype(0), (data[0], channels, *spatial))]

    def evaluate(self, x, w, *, strides, pads_begin, pads_end, dilations, auto_pad):
        if not self.grouped:
            w = w[None]
        pads = resolve_pads(x.shape[2:], w.shape[3:], strides, dilations, auto_pad_mode(auto_pad),
                            pads_begin, pads_end)
        return (grouped_convolution(x, w, strides, dilations, pads),)


@register("Convolution", opset=1)
class Convolution(_ConvolutionBase):
    """Data ``[N, C_IN, *spatial]``, filters ``[C_OUT, C_IN, *kernel]``."""


@register("GroupConvolution", opset=1)
class GroupConvolution(_ConvolutionBase):
    """Data ``[N, G*C_IN/G, *spatial]``, filters ``[G, C_OUT/G, C_IN/G, *kernel]``."""

    grouped = True


class _BackpropBase(Op):
    """Shared inference of the transposed convolutions (optional ``output_shape`` input)."""

    attrs = {**_CONV_ATTRS, "output_padding": Attr("ints", default=[])}
    traits = Traits(quantizable=True, activation_inputs=(0, 1), weight_inputs=(1,), has_bias=True)
    fresh_outputs = True
    grouped = False

    def weight_channel_axes(self, attrs: dict[str, Any]) -> tuple[int, ...]:
        return (0, 2) if self.grouped else (1,)

    def infer(self, ctx: InferContext):
        geometry = _geometry(ctx, self.grouped)
        if geometry is None:
            return [(ctx.etype(0), None)]
        data, weights, num_spatial, mode, extra, (groups, in_per_group, out_per_group) = geometry
        if ctx.attrs["output_padding"]:
            check_spatial_attrs(ctx, num_spatial, ("output_padding",))
        check_channels(ctx, data[1], groups, in_per_group)
        channels = dim_mul(groups, out_per_group)
        spatial = self._spatial(ctx, data, weights, num_spatial, extra, mode)
        return [(ctx.etype(0), (data[0], channels, *spatial))]

    def _spatial(self, ctx, data, weights, num_spatial, extra, mode) -> list[Dimension]:
        """Output spatial dims: the ``output_shape`` input's value when given, else from the geometry."""
        if ctx.num_inputs > 2:
            target = ctx.value(2)
            shape = ctx.shape(2)
            if shape is not None and len(shape) == 1 and isinstance(shape[0], int) and shape[0] != num_spatial:
                raise ctx.fail(f"output_shape has {shape[0]} values, expected {num_spatial} (one per spatial axis)")
            if target is None:
                return [DYNAMIC] * num_spatial
            return [int(v) for v in np.asarray(target).reshape(-1)]
        kernel = weights[2 + extra:] if weights is not None else (DYNAMIC,) * num_spatial
        attrs = ctx.attrs
        out_pad = attrs["output_padding"] or [0] * num_spatial
        explicit = mode == "explicit"
        result: list[Dimension] = []
        for i, (size, k) in enumerate(zip(data[2:], kernel)):
            if not (isinstance(size, int) and isinstance(k, int)):
                result.append(DYNAMIC)
                continue
            pads = attrs["pads_begin"][i] + attrs["pads_end"][i] if explicit else 0
            value = attrs["strides"][i] * (size - 1) + attrs["dilations"][i] * (k - 1) + 1 - pads + out_pad[i]
            if value <= 0:
                raise ctx.fail(f"output spatial size {value} on axis {i} is not positive (input {list(data)}, "
                               f"kernel {list(kernel)}, pads {attrs['pads_begin']}/{attrs['pads_end']})")
            result.append(value)
        return result

    def evaluate(self, x, w, output_shape=None, *, strides, pads_begin, pads_end, dilations, auto_pad,
                 output_padding):
        if not self.grouped:
            w = w[None]
        num_spatial = x.ndim - 2
        mode = auto_pad_mode(auto_pad)
        out_pad = list(output_padding) or [0] * num_spatial
        kernel, size = w.shape[3:], x.shape[2:]
        full = [s * (i - 1) + d * (k - 1) + 1 for s, i, d, k in zip(strides, size, dilations, kernel)]
        if output_shape is not None:
            out = [int(v) for v in np.asarray(output_shape).reshape(-1)]
            if mode in ("same_upper", "same_lower"):
                totals = [max(f + p - o, 0) for f, p, o in zip(full, out_pad, out)]
                begin = [t - t // 2 if mode == "same_upper" else t // 2 for t in totals]
            else:
                begin = list(pads_begin) if mode == "explicit" else [0] * num_spatial
        else:
            begin = list(pads_begin) if mode == "explicit" else [0] * num_spatial
            end = list(pads_end) if mode == "explicit" else [0] * num_spatial
            out = [f - b - e + p for f, b, e, p in zip(full, begin, end, out_pad)]
        return (grouped_transposed_convolution(x, w, strides, dilations, begin, out),)


@register("ConvolutionBackpropData", opset=1)
class ConvolutionBackpropData(_BackpropBase):
    """Data ``[N, C_IN, *spatial]``, filters ``[C_IN, C_OUT, *kernel]``, optional output_shape."""


@register("GroupConvolutionBackpropData", opset=1)
class GroupConvolutionBackpropData(_BackpropBase):
    """Data ``[N, G*C_IN/G, *spatial]``, filters ``[G, C_IN/G, C_OUT/G, *kernel]``."""

    traits = Traits(quantizable=True, activation_inputs=(0, 1), weight_inputs=(1,))

    grouped = True


# ---------------------------------------------------------------- validation helpers

def check_types(ctx: InferContext) -> None:
    """Data and filters must share an element type (a dynamic one matches anything)."""
    a, b = ctx.etype(0), ctx.etype(1)
    if a != b and "dynamic" not in (a.name, b.name):
        raise ctx.fail(f"data is {a} but filters are {b}; both inputs must have the same element type")


def check_rank(ctx: InferContext, data: Shape, weights: Shape | None, extra: int) -> int:
    """Data rank in 3..5 and filters rank = data rank (+1 for grouped filters)."""
    rank = len(data)
    if not 3 <= rank <= 5:
        raise ctx.fail(f"data shape {list(data)} must have rank 3, 4 or 5 (N, C and 1 to 3 spatial axes)")
    if weights is not None and len(weights) != rank + extra:
        raise ctx.fail(f"filters shape {list(weights)} must have rank {rank + extra} for data shape {list(data)}")
    return rank


def check_channels(ctx: InferContext, channels: Dimension, groups: Dimension, per_group: Dimension) -> None:
    """The data channel count must equal groups x input channels per group of the filters."""
    expected = dim_mul(groups, per_group)
    if isinstance(channels, int) and isinstance(expected, int) and channels != expected:
        raise ctx.fail(f"data has {channels} channels but the filters expect {expected} "
                       f"({groups} group(s) of {per_group} input channels)")


def dim_mul(a: Dimension, b: Dimension) -> Dimension:
    """Product of two dimensions, dynamic if either is."""
    return a * b if isinstance(a, int) and isinstance(b, int) else DYNAMIC


@register("Col2Im", opset=15)
class Col2Im(Op):
    """Sums sliding blocks back into an image, the adjoint of im2col: data [N, C*kh*kw, L] (or
    without N), the columns of L blocks in row-major order; output [N, C, H, W]. Overlapping
    taps add up; taps in the padding are dropped."""

    attrs = {"strides": Attr("ints", default=[1, 1]), "dilations": Attr("ints", default=[1, 1]),
             "pads_begin": Attr("ints", default=[0, 0]), "pads_end": Attr("ints", default=[0, 0])}

    def infer(self, ctx: InferContext):
        data = ctx.shape(0)
        if data is not None and len(data) not in (2, 3):
            raise ctx.fail(f"data must be [N, C*kh*kw, L] or [C*kh*kw, L], got shape {list(data)}")
        for i, what in ((1, "output_size"), (2, "kernel_size")):
            if ctx.shape(i) is not None and tuple(ctx.shape(i)) not in ((2,), (DYNAMIC,)):
                raise ctx.fail(f"{what} must hold 2 values (2-D images), got shape {list(ctx.shape(i))}")
        size, kernel = ctx.value(1), ctx.value(2)
        batch = () if data is None or len(data) == 2 else (data[0],)
        channels = DYNAMIC
        if data is not None and kernel is not None and isinstance(data[-2], int):
            block = int(np.prod(kernel))
            if data[-2] % block:
                raise ctx.fail(f"{data[-2]} rows do not split into blocks of {block}")
            channels = data[-2] // block
        spatial = (DYNAMIC, DYNAMIC) if size is None else tuple(int(v) for v in np.asarray(size).reshape(-1))
        if data is None:
            return [(ctx.etype(0), None)]
        return [(ctx.etype(0), batch + (channels,) + spatial)]

    def evaluate(self, data, output_size, kernel_size, *, strides, dilations, pads_begin, pads_end):
        data = np.asarray(data)
        batched = data.ndim == 3
        columns = data if batched else data[None]
        (height, width), (kh, kw) = (tuple(int(v) for v in np.asarray(a).reshape(-1)) for a in (output_size, kernel_size))
        padded = (height + pads_begin[0] + pads_end[0], width + pads_begin[1] + pads_end[1])
        blocks = [(padded[i] - (dilations[i] * (k - 1) + 1)) // strides[i] + 1 for i, k in enumerate((kh, kw))]
        n, rows, count = columns.shape
        channels = rows // (kh * kw)
        if count != blocks[0] * blocks[1]:
            raise EvaluationError(f"Col2Im: {count} blocks given, the geometry makes {blocks[0]}x{blocks[1]}")
        taps = columns.reshape(n, channels, kh, kw, blocks[0], blocks[1])
        out = np.zeros((n, channels) + padded, dtype=as_compute(columns).dtype)
        for i in range(kh):
            for j in range(kw):
                top, left = i * dilations[0], j * dilations[1]
                rows = slice(top, top + strides[0] * blocks[0], strides[0])
                cols = slice(left, left + strides[1] * blocks[1], strides[1])
                out[:, :, rows, cols] += taps[:, :, i, j]
        out = out[:, :, pads_begin[0]:pads_begin[0] + height, pads_begin[1]:pads_begin[1] + width]
        out = out.astype(data.dtype, copy=False)
        return (out if batched else out[0],)
