"""MaxPool, AvgPool and their adaptive forms.

Windows are evaluated with one vectorised operation per kernel tap (never per pixel): the input
is padded once (the lowest finite value for max, as OpenVINO pads, zeros for average) and each
tap is a strided view. The last window in ``ceil``/``ceil_torch`` rounding may reach past the
padded input; those positions count as padding.

Adaptive pools split each spatial axis into bins ``[floor(i*L/O), ceil((i+1)*L/O))``; both the
mean and the max over a box are separable, so they run one axis at a time, looping over bins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import ml_dtypes
import numpy as np

from lpir.errors import ValidationError
from lpir.ir import types
from lpir.ir.shape import DYNAMIC, Dimension, Shape
from lpir.ops.common import normalize_axis
from lpir.ops.convolution import (auto_pad_mode, check_spatial_attrs, pad_spatial, resolve_pads, tap_views,
                                  window_count)
from lpir.ops.registry import Attr, InferContext, Op, Traits, register

ROUNDING = {1: ("floor", "ceil"), 14: ("floor", "ceil", "ceil_torch")}


def pool_geometry(sizes: Sequence[Dimension], attrs: dict, dilations: Sequence[int]
                  ) -> tuple[list[tuple[int, int] | None], list[Dimension]]:
    """Per spatial axis the (begin, end) pads and the number of windows."""
    kernel, strides = attrs["kernel"], attrs["strides"]
    mode = auto_pad_mode(attrs["auto_pad"])
    rounding = str(attrs["rounding_type"]).lower()
    pads = resolve_pads(sizes, kernel, strides, dilations, mode, attrs["pads_begin"], attrs["pads_end"])
    out: list[Dimension] = []
    for size, k, s, d, pad in zip(sizes, kernel, strides, dilations, pads):
        count = window_count(size, k, s, d, pad, ceil=rounding in ("ceil", "ceil_torch"))
        if rounding == "ceil_torch" and isinstance(count, int) and (count - 1) * s >= size + pad[0]:
            count -= 1  # the last window would start inside the end padding
        out.append(count)
    return pads, out


def _infer_pool(ctx: InferContext, dilations: Sequence[int], opset: int) -> tuple[Shape, list]:
    """Validated output shape of a pooling node."""
    data = ctx.shape(0)
    attrs = ctx.attrs
    rounding = str(attrs["rounding_type"]).lower()
    if rounding not in ROUNDING[opset]:
        raise ctx.fail(f"rounding_type={attrs['rounding_type']!r} is not one of {', '.join(ROUNDING[opset])}")
    if data is None:
        return None, []
    if not 3 <= len(data) <= 5:
        raise ctx.fail(f"data shape {list(data)} must have rank 3, 4 or 5 (N, C and 1 to 3 spatial axes)")
    num_spatial = len(data) - 2
    check_spatial_attrs(ctx, num_spatial, ("strides", "kernel", "pads_begin", "pads_end"))
    if any(k <= 0 for k in attrs["kernel"]):
        raise ctx.fail(f"kernel={attrs['kernel']} must be positive")
    pads, out = pool_geometry(data[2:], attrs, dilations)
    for i, (size, pad) in enumerate(zip(data[2:], pads)):
        dk = dilations[i] * (attrs["kernel"][i] - 1) + 1
        if isinstance(size, int) and pad is not None and dk > size + pad[0] + pad[1]:
            raise ctx.fail(f"kernel {attrs['kernel']} (dilations {list(dilations)}) is larger than the padded "
                           f"input {list(data)} on spatial axis {i}")
    return (data[0], data[1], *out), pads


def _padded_for_windows(x: np.ndarray, pads: Sequence[tuple[int, int]], out: Sequence[int],
                        kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
                        value) -> np.ndarray:
    """``x`` padded with ``value`` so that all ``out`` windows (ceil rounding included) fit."""
    full = []
    for size, (b, e), o, k, s, d in zip(x.shape[2:], pads, out, kernel, strides, dilations):
        need = (o - 1) * s + d * (k - 1) + 1
        full.append((b, max(e, need - size - b)))
    return pad_spatial(x, full, value)


def _lowest(dtype: np.dtype):
    """The padding value of MaxPool: the lowest finite value, as OpenVINO pads."""
    dtype = np.dtype(dtype)
    return np.iinfo(dtype).min if dtype.kind in "iu" else ml_dtypes.finfo(dtype).min


def max_pool(x: np.ndarray, kernel, strides, dilations, pads, out, axis: int, index_dtype=None
             ) -> tuple[np.ndarray, np.ndarray | None]:
    """Windowed max and, when ``index_dtype`` is given, the flat index (over the axes from
    ``axis`` on) of the first occurrence of each maximum."""
    padded = _padded_for_windows(x, pads, out, kernel, strides, dilations, _lowest(x.dtype))
    views = (padded[index] for _, index in tap_views(padded, kernel, strides, dilations, out))
    best = next(views).copy()
    if index_dtype is None:
        for view in views:
            np.maximum(best, view, out=best)
        return best, None
    best_tap = np.zeros(best.shape, dtype=np.int32)
    for t, view in enumerate(views, start=1):
        better = view > best
        np.copyto(best, view, where=better)
        best_tap[better] = t
    return best, _flat_indices(best_tap, x.shape, kernel, strides, dilations, pads, axis).astype(index_dtype)


def _flat_indices(best_tap: np.ndarray, shape, kernel, strides, dilations, pads, axis: int) -> np.ndarray:
    """Flat input index, over the axes from ``axis`` on, of the tap chosen at each output."""
    taps = np.unravel_index(best_tap, tuple(kernel))
    grids = np.indices(best_tap.shape, sparse=True)
    coords = list(grids[:2]) + [grids[2 + i] * s - b + t * d for i, (t, s, d, (b, _)) in
                                enumerate(zip(taps, strides, dilations, pads))]
    outside = np.zeros(best_tap.shape, dtype=bool)
    for c, size in zip(coords[2:], shape[2:]):
        outside |= (c < 0) | (c >= size)
    # a window lying wholly in the padding points at spatial position 0 of its plane
    coords[2:] = [np.where(outside, 0, c) for c in coords[2:]]
    flat = np.zeros(best_tap.shape, dtype=np.int64)
    for c, size in zip(coords[axis:], shape[axis:]):
        flat = flat * size + c
    return flat


def avg_pool(x: np.ndarray, kernel, strides, pads, out, exclude_pad: bool) -> np.ndarray:
    """Windowed mean.

    The divisor, as OpenVINO's CPU plugin computes it: without ``exclude_pad`` and with some
    padding, the full kernel size; otherwise the number of data elements in the window (ceil
    rounding can clip the last one). A window with no data element gives NaN (0/0); OpenVINO's
    CPU plugin gives NaN or 0 there depending on the geometry.
    """
    ones = (1,) * len(kernel)
    work = np.float64 if x.dtype == np.float64 else np.float32
    padded = _padded_for_windows(x.astype(work, copy=False), pads, out, kernel, strides, ones, 0)
    total = np.zeros(x.shape[:2] + tuple(out), dtype=work)
    for _, index in tap_views(padded, kernel, strides, ones, out):
        total += padded[index]
    has_padding = any(b or e for b, e in pads)
    if not exclude_pad and has_padding:
        return (total / work(math.prod(kernel))).astype(x.dtype, copy=False)
    mask = _padded_for_windows(np.ones((1, 1) + x.shape[2:], dtype=work), pads, out, kernel, strides, ones, 0)
    count = np.zeros(tuple(out), dtype=work)
    for _, index in tap_views(mask[0, 0], kernel, strides, ones, out):
        count += mask[0, 0][index]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).astype(x.dtype, copy=False)


_POOL_ATTRS = {
    "strides": Attr("ints"),
    "pads_begin": Attr("ints"),
    "pads_end": Attr("ints"),
    "kernel": Attr("ints"),
    "rounding_type": Attr("str", default="floor"),
    "auto_pad": Attr("str", default="explicit"),
}


@register("MaxPool", opset=1)
class MaxPool1(Op):
    """Max over each window; one output."""

    attrs = _POOL_ATTRS
    traits = Traits(quantization_agnostic=True, activation_inputs=(0,))
    rounding_opset = 1

    def infer(self, ctx: InferContext):
        shape, _ = _infer_pool(ctx, [1] * len(ctx.attrs["kernel"]), self.rounding_opset)
        return [(ctx.etype(0), shape)]

    def evaluate(self, x, *, strides, pads_begin, pads_end, kernel, rounding_type, auto_pad):
        attrs = {"strides": strides, "pads_begin": pads_begin, "pads_end": pads_end, "kernel": kernel,
                 "rounding_type": rounding_type, "auto_pad": auto_pad}
        dilations = [1] * len(kernel)
        pads, out = pool_geometry(x.shape[2:], attrs, dilations)
        return (max_pool(x, kernel, strides, dilations, pads, out, 0)[0],)


@register("MaxPool", opset=8)
class MaxPool8(Op):
    """Max over each (dilated) window, and where it was: a flat index over the axes from ``axis``."""

    attrs = {**_POOL_ATTRS, "dilations": Attr("ints", default=[]),
             "index_element_type": Attr("etype", default=types.i64), "axis": Attr("int", default=0)}
    traits = Traits(quantization_agnostic=True, activation_inputs=(0,))
    rounding_opset = 1

    def infer(self, ctx: InferContext):
        attrs = ctx.attrs
        dilations = list(attrs["dilations"]) or [1] * len(attrs["kernel"])
        if any(d <= 0 for d in dilations) or len(dilations) != len(attrs["kernel"]):
            raise ctx.fail(f"dilations={attrs['dilations']} must hold {len(attrs['kernel'])} positive values")
        index_type = types.parse_type(attrs["index_element_type"])
        if index_type not in (types.i32, types.i64):
            raise ctx.fail(f"index_element_type={index_type} must be i32 or i64")
        shape, _ = _infer_pool(ctx, dilations, self.rounding_opset)
        if shape is not None:
            try:
                normalize_axis(attrs["axis"], len(shape))
            except ValidationError as exc:
                raise ctx.fail(f"axis={attrs['axis']} is out of range for data rank {len(shape)}") from exc
        return [(ctx.etype(0), shape), (index_type, shape)]

    def evaluate(self, x, **attrs):
        return self.evaluate_used(x, used=(True, True), **attrs)

    def evaluate_used(self, x, *, used, strides, pads_begin, pads_end, kernel, rounding_type, auto_pad, dilations,
                      index_element_type, axis):
        attrs = {"strides": strides, "pads_begin": pads_begin, "pads_end": pads_end, "kernel": kernel,
                 "rounding_type": rounding_type, "auto_pad": auto_pad}
        dilations = list(dilations) or [1] * len(kernel)
        pads, out = pool_geometry(x.shape[2:], attrs, dilations)
        index_dtype = types.parse_type(index_element_type).dtype if used[1] else None  # indices cost ~3x the max
        return max_pool(x, kernel, strides, dilations, pads, out, normalize_axis(axis, x.ndim), index_dtype)


@register("MaxPool", opset=14)
class MaxPool14(MaxPool8):
    """MaxPool-8 plus ``rounding_type=ceil_torch``."""

    rounding_opset = 14


@register("AvgPool", opset=1)
class AvgPool1(Op):
    """Mean over each window, with or without the padding in the divisor (``exclude-pad``)."""

    attrs = {**_POOL_ATTRS, "exclude-pad": Attr("bool")}
    traits = Traits(quantizable=True, activation_inputs=(0,))
    rounding_opset = 1

    def infer(self, ctx: InferContext):
        shape, pads = _infer_pool(ctx, [1] * len(ctx.attrs["kernel"]), self.rounding_opset)
        if ctx.attrs["exclude-pad"]:
            for axis, (k, pad) in enumerate(zip(ctx.attrs["kernel"], pads)):
                if pad is not None and (pad[0] >= k or pad[1] >= k):
                    raise ctx.fail(f"with exclude-pad a window of kernel {k} on spatial axis {axis} could lie "
                                   f"entirely in the padding (pads {pad[0]}, {pad[1]})")
        return [(ctx.etype(0), shape)]

    def evaluate(self, x, **attrs):  # attributes by name: "exclude-pad" is no Python identifier
        kernel = attrs["kernel"]
        pads, out = pool_geometry(x.shape[2:], attrs, [1] * len(kernel))
        return (avg_pool(x, kernel, attrs["strides"], pads, out, attrs["exclude-pad"]),)


@register("AvgPool", opset=14)
class AvgPool14(AvgPool1):
    """AvgPool-1 plus ``rounding_type=ceil_torch``."""

    rounding_opset = 14


# ---------------------------------------------------------------- adaptive pooling

def _bins(size: int, count: int) -> list[tuple[int, int]]:
    """The ``count`` adaptive bins over ``size`` elements: neighbours may overlap by one."""
    return [((i * size) // count, -(-((i + 1) * size) // count)) for i in range(count)]


def _infer_adaptive(ctx: InferContext) -> Shape | None:
    """N and C of the data with the spatial dims ``output_shape`` holds (dynamic if unknown)."""
    data = ctx.shape(0)
    if data is None:
        return None
    if not 3 <= len(data) <= 5:
        raise ctx.fail(f"data shape {list(data)} must have rank 3, 4 or 5 (N, C and 1 to 3 spatial axes)")
    num_spatial = len(data) - 2
    target = ctx.value(1)
    if target is None:
        given = ctx.shape(1)
        if given is not None and len(given) == 1 and isinstance(given[0], int) and given[0] != num_spatial:
            raise ctx.fail(f"output_shape has {given[0]} values, expected {num_spatial} (one per spatial axis)")
        return (data[0], data[1]) + (DYNAMIC,) * num_spatial
    spatial = [int(v) for v in np.asarray(target).reshape(-1)]
    if len(spatial) != num_spatial or any(v <= 0 for v in spatial):
        raise ctx.fail(f"output_shape={spatial} must hold {num_spatial} positive values for data {list(data)}")
    return (data[0], data[1], *spatial)


def _adaptive_sizes(output_shape: np.ndarray) -> list[tuple[int, int]]:
    """(axis, bin count) per spatial axis, last axis first: reducing the innermost axis first
    makes ties resolve to the first maximum in row-major order."""
    sizes = [int(v) for v in np.asarray(output_shape).reshape(-1)]
    return list(reversed(list(enumerate(sizes, start=2))))


@register("AdaptiveAvgPool", opset=8)
class AdaptiveAvgPool(Op):
    """Mean over adaptive bins, so any input size maps to ``output_shape``."""

    traits = Traits(quantizable=True, activation_inputs=(0,))

    def infer(self, ctx: InferContext):
        return [(ctx.etype(0), _infer_adaptive(ctx))]

    def evaluate(self, x, output_shape):
        work = np.float64 if x.dtype == np.float64 else np.float32
        result = x.astype(work, copy=False)
        for axis, count in _adaptive_sizes(output_shape):
            parts = [result[(slice(None),) * axis + (slice(b, e),)].mean(axis=axis, keepdims=True)
                     for b, e in _bins(result.shape[axis], count)]
            result = np.concatenate(parts, axis=axis)
        return (result.astype(x.dtype, copy=False),)


@register("AdaptiveMaxPool", opset=8)
class AdaptiveMaxPool(Op):
    """Max over adaptive bins and its flat index within each (batch, channel) spatial plane."""

    attrs = {"index_element_type": Attr("etype", default=types.i64)}
    traits = Traits(quantization_agnostic=True, activation_inputs=(0,))

    def infer(self, ctx: InferContext):
        index_type = types.parse_type(ctx.attrs["index_element_type"])
        if index_type not in (types.i32, types.i64):
            raise ctx.fail(f"index_element_type={index_type} must be i32 or i64")
        shape = _infer_adaptive(ctx)
        return [(ctx.etype(0), shape), (index_type, shape)]

    def evaluate(self, x, output_shape, *, index_element_type):
        values = x
        # flat spatial index of every element, carried along with the max
        plane = x.shape[2:]
        index = np.broadcast_to(np.arange(math.prod(plane)).reshape(plane), x.shape)
        for axis, count in _adaptive_sizes(output_shape):
            vals, idxs = [], []
            for b, e in _bins(values.shape[axis], count):
                cut = (slice(None),) * axis + (slice(b, e),)
                pos = np.expand_dims(values[cut].argmax(axis=axis), axis)
                vals.append(np.take_along_axis(values[cut], pos, axis))
                idxs.append(np.take_along_axis(index[cut], pos, axis))
            values, index = np.concatenate(vals, axis=axis), np.concatenate(idxs, axis=axis)
        return values, index.astype(types.parse_type(index_element_type).dtype)
