"""Interpolate-1, -4 and -11: resizing along chosen axes.

Every mode here is separable: the result is a chain of 1-D resamplings, one per axis, each a
gather of a few source positions per output position and a weighted sum (``nearest`` is a pure
gather and stays exact for every type). Source coordinates are computed in float32 as
OpenVINO's reference computes them, so nearest-neighbour picks the same pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lpir.errors import ValidationError
from lpir.ir.shape import DYNAMIC, Shape
from lpir.ops.common import normalize_axis
from lpir.ops.registry import Attr, InferContext, Op, Traits, register

F32 = np.float32
# OpenVINO adds this before truncating ``length * scale`` so that 0.6 * 5 gives 3, not 2.
SCALE_EPSILON = F32(1e-5)

# Source coordinate of output position ``x`` along an axis: (x, scale, out_len, in_len) → float32.
_TRANSFORMS: dict[str, Callable[..., np.ndarray]] = {
    "half_pixel": lambda x, s, out, src: (x + F32(0.5)) / s - F32(0.5),
    "pytorch_half_pixel": lambda x, s, out, src: (x + F32(0.5)) / s - F32(0.5) if out > 1 else np.zeros_like(x),
    "asymmetric": lambda x, s, out, src: x / s,
    "tf_half_pixel_for_nn": lambda x, s, out, src: (x + F32(0.5)) / s,
    "align_corners": lambda x, s, out, src: (
        np.zeros_like(x) if out == 1 else x * F32(src - 1) / F32(out - 1)),
}


def _round_prefer_floor(c: np.ndarray, downsample: bool) -> np.ndarray:
    return np.where(c == np.trunc(c) + F32(0.5), np.floor(c), _round_half_away(c))


def _round_half_away(c: np.ndarray) -> np.ndarray:
    """std::round: halves away from zero (numpy's round is half-to-even)."""
    return np.sign(c) * np.floor(np.abs(c) + F32(0.5))


_NEAREST: dict[str, Callable[[np.ndarray, bool], np.ndarray]] = {
    "round_prefer_floor": _round_prefer_floor,
    "round_prefer_ceil": lambda c, down: _round_half_away(c),
    "floor": lambda c, down: np.floor(c),
    "ceil": lambda c, down: np.ceil(c),
    "simple": lambda c, down: np.ceil(c) if down else np.trunc(c),
}
PILLOW_MODES = ("bilinear_pillow", "bicubic_pillow")
MODES = ("nearest", "linear", "linear_onnx", "cubic") + PILLOW_MODES
SHAPE_MODES = ("sizes", "scales")


@dataclass(frozen=True)
class AxisPlan:
    """How one axis is resampled: its padded input length, output length and scale."""

    axis: int
    in_len: int
    out_len: int
    scale: np.float32


def source_coords(plan: AxisPlan, transform: str) -> np.ndarray:
    """Float32 source coordinates of every output position along one axis."""
    x = np.arange(plan.out_len, dtype=F32)
    if plan.scale == F32(1) or plan.out_len == plan.in_len:
        return x
    return _TRANSFORMS[transform](x, plan.scale, plan.out_len, plan.in_len).astype(F32)


def _nearest_taps(plan: AxisPlan, coords: np.ndarray, attrs: dict) -> np.ndarray:
    picked = _NEAREST[attrs["nearest_mode"]](coords, bool(plan.scale < 1))
    return np.clip(picked.astype(np.int64), 0, plan.in_len - 1)


def _linear_onnx_taps(plan: AxisPlan, coords: np.ndarray, attrs: dict):
    c = np.clip(coords, F32(0), F32(plan.in_len - 1))
    lo = np.minimum(c.astype(np.int64), plan.in_len - 1)
    hi = np.minimum(lo + 1, plan.in_len - 1)
    d_lo, d_hi = np.abs(c - lo).astype(F32), np.abs(c - hi).astype(F32)
    same = lo == hi
    d_lo[same], d_hi[same] = F32(0.5), F32(0.5)
    return np.stack([lo, hi], axis=1), np.stack([d_hi, d_lo], axis=1)


def _cubic_taps(plan: AxisPlan, coords: np.ndarray, attrs: dict):
    a = F32(attrs["cube_coeff"])
    base = np.floor(coords)
    t = np.abs(coords - base)[:, None]
    offsets = np.array([1, 0, -1, -2], dtype=F32)  # distance of each of the four taps, plus t
    d = np.abs(t + offsets)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    weights = np.where(d <= 1, near, far).astype(F32)
    idx = base.astype(np.int64)[:, None] + np.arange(-1, 3)
    return np.clip(idx, 0, plan.in_len - 1), weights


def _triangle_taps(plan: AxisPlan, coords: np.ndarray, attrs: dict):
    """``linear``: a triangle filter around round(coord), widened by 1/scale when antialiasing."""
    a = plan.scale if attrs["_antialias_now"] else F32(1)
    radius = 2 if plan.scale > 1 else int(np.ceil(F32(2) / a))
    idx = _round_half_away(coords).astype(np.int64)[:, None] + np.arange(-radius, radius + 1)
    weights = np.maximum(F32(0), F32(1) - np.abs(a * (coords[:, None] - idx))).astype(F32)
    weights[(idx < 0) | (idx >= plan.in_len)] = 0
    total = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, total, out=np.zeros_like(weights), where=total != 0)
    return np.clip(idx, 0, plan.in_len - 1), weights


def _pillow_filter(d: np.ndarray, mode: str, a: float) -> np.ndarray:
    d = np.abs(d)
    if mode == "bilinear_pillow":
        return np.maximum(0.0, 1.0 - d)
    near = ((a + 2.0) * d - (a + 3.0)) * d * d + 1
    far = (((d - 5) * d + 8) * d - 4) * a
    return np.where(d < 1, near, np.where(d < 2, far, 0.0))


def _pillow_taps(plan: AxisPlan, coords: np.ndarray, attrs: dict):
    """Pillow's resampling: a filter widened by in/out when shrinking, in float64, ignoring coords."""
    scale = plan.in_len / plan.out_len
    filter_scale = max(scale, 1.0)
    support = (1.0 if attrs["mode"] == "bilinear_pillow" else 2.0) * filter_scale
    taps = int(np.ceil(support)) * 2 + 1
    center = (np.arange(plan.out_len) + 0.5) * scale
    first = np.maximum(np.trunc(center - support + 0.5).astype(np.int64), 0)
    last = np.minimum(np.trunc(center + support + 0.5).astype(np.int64), plan.in_len)
    idx = first[:, None] + np.arange(taps)
    weights = _pillow_filter((idx - center[:, None] + 0.5) / filter_scale, attrs["mode"], attrs["cube_coeff"])
    weights[idx >= last[:, None]] = 0.0
    total = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, total, out=weights, where=total != 0)
    return np.clip(idx, 0, plan.in_len - 1), weights


_WEIGHTED_TAPS = {"linear_onnx": _linear_onnx_taps, "cubic": _cubic_taps, "linear": _triangle_taps,
                  "bilinear_pillow": _pillow_taps, "bicubic_pillow": _pillow_taps}


def _resample_axis(x: np.ndarray, plan: AxisPlan, attrs: dict) -> np.ndarray:
    coords = source_coords(plan, attrs["coordinate_transformation_mode"])
    if attrs["mode"] == "nearest":
        return np.take(x, _nearest_taps(plan, coords, attrs), axis=plan.axis)
    idx, weights = _WEIGHTED_TAPS[attrs["mode"]](plan, coords, attrs)
    gathered = np.take(x, idx, axis=plan.axis)  # [..., out, taps, ...]
    weights = weights.reshape(weights.shape + (1,) * (x.ndim - plan.axis - 1)).astype(x.dtype)
    return np.sum(gathered * weights, axis=plan.axis + 1, dtype=x.dtype)


def _to_type(data: np.ndarray, dtype: np.dtype, mode: str) -> np.ndarray:
    """Results in the input type: integers rounded as OpenVINO's reference does for ``mode``."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        return data.astype(dtype)
    if mode in PILLOW_MODES:  # rounded half away from zero, then clipped to the type's range
        info = np.iinfo(dtype)
        return np.clip(_round_half_away(data), info.min, info.max).astype(dtype)
    rounded = _round_half_away(data) if mode == "linear" else np.trunc(data)  # a C++ cast truncates
    return rounded.astype(np.int64).astype(dtype)


def interpolate(x: np.ndarray, plans: list[AxisPlan], attrs: dict, pads_begin, pads_end) -> np.ndarray:
    """Pad ``x`` with zeros, then resample each planned axis in turn."""
    x = np.asarray(x)
    pads = [(int(b), int(e)) for b, e in zip(_per_axis(pads_begin, x.ndim), _per_axis(pads_end, x.ndim))]
    data = np.pad(x, pads) if any(b or e for b, e in pads) else x
    mode = attrs["mode"]
    if mode == "nearest":
        for plan in plans:
            data = _resample_axis(data, plan, attrs)
        return data
    if mode in PILLOW_MODES:
        return _pillow(x.dtype, data, plans, attrs)
    is_down = any(p.scale < 1 for p in plans)
    attrs = dict(attrs, _antialias_now=bool(attrs.get("antialias")) and is_down)
    data = data.astype(F32)
    for plan in plans:
        data = _resample_axis(data, plan, attrs)
    return _to_type(data, x.dtype, mode)


def _pillow(dtype: np.dtype, data: np.ndarray, plans: list[AxisPlan], attrs: dict) -> np.ndarray:
    """Two passes in float64, second axis first, each pass stored in the input type (as Pillow)."""
    if len(plans) != 2:
        raise ValidationError(f"mode {attrs['mode']} resizes exactly two axes, got {len(plans)}")
    for plan in reversed(plans):
        if plan.in_len != plan.out_len:
            data = _to_type(_resample_axis(data.astype(np.float64), plan, attrs), dtype, attrs["mode"])
    return data.astype(dtype, copy=False)


def _per_axis(pads, rank: int) -> list[int]:
    """A pads attribute resized to the rank (missing entries are 0, as OpenVINO resizes it)."""
    pads = [int(p) for p in (pads or [])][:rank]
    return pads + [0] * (rank - len(pads))


def output_length(in_len: int, scale: float) -> int:
    """The output length of a padded axis of ``in_len`` under ``scale``."""
    return int(np.floor(F32(in_len) * F32(scale) + SCALE_EPSILON))


def _check_common(attrs: dict, fail: Callable[[str], ValidationError]) -> None:
    """Attribute values outside the specification raise ValidationError."""
    mode = attrs["mode"]
    if mode not in MODES:
        raise fail(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    checks = (("shape_calculation_mode", SHAPE_MODES), ("coordinate_transformation_mode", tuple(_TRANSFORMS)),
              ("nearest_mode", tuple(_NEAREST)))
    for key, allowed in checks:
        if key in attrs and attrs[key] not in allowed:
            raise fail(f"{key} must be one of {', '.join(allowed)}, got {attrs[key]!r}")
    for key in ("pads_begin", "pads_end"):
        if any(int(p) < 0 for p in attrs.get(key) or []):
            raise fail(f"{key} must be non-negative, got {list(attrs[key])}")


def _padded_shape(shape: Shape, attrs: dict) -> Shape:
    """``shape`` grown by the pads (a dynamic dimension stays as it is when not padded)."""
    begin, end = _per_axis(attrs["pads_begin"], len(shape)), _per_axis(attrs["pads_end"], len(shape))
    return tuple(d + b + e if isinstance(d, int) else (d if b + e == 0 else DYNAMIC)
                 for d, b, e in zip(shape, begin, end))


def _axes_from(value: np.ndarray | None, rank: int) -> list[int]:
    if value is None:
        return list(range(rank))
    axes = [normalize_axis(int(a), rank, "axes") for a in np.asarray(value).reshape(-1)]
    if len(set(axes)) != len(axes):
        raise ValidationError(f"axes must be distinct, got {np.asarray(value).reshape(-1).tolist()}")
    return axes


def _plans(padded: tuple[int, ...], axes: list[int], target: np.ndarray, by_sizes: bool) -> list[AxisPlan]:
    """Per-axis plans from sizes (output lengths) or scales."""
    target = np.asarray(target).reshape(-1)
    if target.size != len(axes):
        raise ValidationError(f"{'sizes' if by_sizes else 'scales'} has {target.size} values for {len(axes)} axes")
    plans = []
    for axis, t in zip(axes, target):
        if by_sizes:
            out = int(t)
            scale = F32(out) / F32(padded[axis]) if padded[axis] else F32(1)
        else:
            scale = F32(t)
            out = output_length(padded[axis], scale)
        if out < 0 or scale <= 0:
            raise ValidationError(f"axis {axis}: output length {out} / scale {scale} is not positive")
        plans.append(AxisPlan(axis, padded[axis], out, scale))
    return plans


def _infer_shape(padded: Shape, axes: list[int], target: np.ndarray | None, by_sizes: bool) -> Shape:
    if target is None:
        return tuple(DYNAMIC if i in axes else d for i, d in enumerate(padded))
    target = np.asarray(target).reshape(-1)
    if target.size != len(axes):
        raise ValidationError(f"{'sizes' if by_sizes else 'scales'} has {target.size} values for {len(axes)} axes")
    result = list(padded)
    for axis, t in zip(axes, target):
        if by_sizes:
            result[axis] = int(t)
        elif isinstance(padded[axis], int):
            result[axis] = output_length(padded[axis], float(t))
        elif F32(t) != F32(1):  # a scale of 1 keeps even a dynamic dimension
            result[axis] = DYNAMIC
    return tuple(result)


_V4_ATTRS = {
    "mode": Attr("str"), "shape_calculation_mode": Attr("str"),
    "coordinate_transformation_mode": Attr("str", default="half_pixel"),
    "nearest_mode": Attr("str", default="round_prefer_floor"), "antialias": Attr("bool", default=False),
    "pads_begin": Attr("ints", default=[0]), "pads_end": Attr("ints", default=[0]),
    "cube_coeff": Attr("float", default=-0.75),
}


class _InterpolateV4Family(Op):
    """Shared by Interpolate-4 (sizes, scales, axes) and -11 (scales_or_sizes, axes)."""

    attrs = _V4_ATTRS
    axes_input: int

    def target_input(self, attrs: dict) -> int:
        raise NotImplementedError

    def infer(self, ctx: InferContext):
        _check_common(ctx.attrs, ctx.fail)
        shape = ctx.shape(0)
        if shape is None:
            return [(ctx.etype(0), None)]
        by_sizes = ctx.attrs["shape_calculation_mode"] == "sizes"
        target_index = self.target_input(ctx.attrs)
        target_type = ctx.etype(target_index)
        if by_sizes != target_type.is_integral:
            raise ctx.fail(f"shape_calculation_mode={ctx.attrs['shape_calculation_mode']} needs "
                           f"{'integer sizes' if by_sizes else 'float scales'}, got {target_type}")
        try:
            axes_value = ctx.value(self.axes_input) if ctx.num_inputs > self.axes_input else None
            if ctx.num_inputs > self.axes_input and axes_value is None:
                return [(ctx.etype(0), tuple(DYNAMIC for _ in shape))]
            axes = _axes_from(axes_value, len(shape))
            if ctx.attrs["mode"] in PILLOW_MODES and len(axes) != 2:
                raise ValidationError(f"mode {ctx.attrs['mode']} resizes exactly two axes, got axes {axes}")
            out = _infer_shape(_padded_shape(shape, ctx.attrs), axes, ctx.value(target_index), by_sizes)
        except ValidationError as exc:
            raise ctx.fail(str(exc)) from exc
        return [(ctx.etype(0), out)]

    def run(self, x: np.ndarray, target: np.ndarray, axes: np.ndarray | None, attrs: dict) -> tuple[np.ndarray]:
        x = np.asarray(x)
        by_sizes = attrs["shape_calculation_mode"] == "sizes"
        padded = _padded_shape(x.shape, attrs)
        plans = _plans(padded, _axes_from(axes, x.ndim), target, by_sizes)
        return (interpolate(x, plans, attrs, attrs["pads_begin"], attrs["pads_end"]),)


@register("Interpolate", opset=4)
class Interpolate4(_InterpolateV4Family):
    """Interpolate-4: both sizes (input 1) and scales (input 2); the attribute says which counts."""

    traits = Traits(quantizable=True, activation_inputs=(0,), precision_sensitive_inputs=(2,))
    axes_input = 3

    def target_input(self, attrs: dict) -> int:
        return 1 if attrs["shape_calculation_mode"] == "sizes" else 2

    def evaluate(self, x, sizes, scales, axes=None, **attrs):
        return self.run(x, sizes if attrs["shape_calculation_mode"] == "sizes" else scales, axes, attrs)


@register("Interpolate", opset=11)
class Interpolate11(_InterpolateV4Family):
    """Interpolate-11: one input holds sizes or scales."""

    traits = Traits(quantizable=True, activation_inputs=(0,), precision_sensitive_inputs=(1,))
    axes_input = 2

    def target_input(self, attrs: dict) -> int:
        return 1

    def evaluate(self, x, scales_or_sizes, axes=None, **attrs):
        return self.run(x, scales_or_sizes, axes, attrs)


def v1_as_v4(attrs: dict, rank: int) -> dict:
    """Interpolate-1 attributes in Interpolate-4 terms, as OpenVINO's reference converts them."""
    mode = attrs["mode"]
    if mode == "linear":
        mode = "linear_onnx" if rank < 5 else "linear"
    pads_zero = not any(_per_axis(attrs["pads_begin"], rank) + _per_axis(attrs["pads_end"], rank))
    transform = "asymmetric"
    if attrs["align_corners"]:
        transform = "align_corners"
    elif mode in ("linear", "linear_onnx") and pads_zero and not (rank == 4 and sorted(attrs["axes"]) == [2, 3]):
        transform = "half_pixel"
    return dict(attrs, mode=mode, shape_calculation_mode="sizes", nearest_mode="simple",
                coordinate_transformation_mode=transform, cube_coeff=-0.75)


@register("Interpolate", opset=1)
class Interpolate1(Op):
    """Interpolate-1: target sizes of the ``axes`` attribute; modes nearest, linear, cubic."""

    traits = Traits(quantizable=True, activation_inputs=(0,))

    attrs = {"axes": Attr("ints"), "mode": Attr("str"), "align_corners": Attr("bool", default=True),
             "antialias": Attr("bool", default=False), "pads_begin": Attr("ints", default=[0]),
             "pads_end": Attr("ints", default=[0])}

    def infer(self, ctx: InferContext):
        shape = ctx.shape(0)
        if ctx.attrs["mode"] not in ("nearest", "linear", "cubic", "linear_onnx"):
            raise ctx.fail(f"mode must be nearest, linear, linear_onnx or cubic, got {ctx.attrs['mode']!r}")
        _check_common(ctx.attrs, ctx.fail)
        if shape is None:
            return [(ctx.etype(0), None)]
        if not ctx.etype(1).is_integral:
            raise ctx.fail(f"target_spatial_shape must be integers, got {ctx.etype(1)}")
        try:
            axes = _axes_from(ctx.attrs["axes"], len(shape))
            out = _infer_shape(_padded_shape(shape, ctx.attrs), axes, ctx.value(1), True)
        except ValidationError as exc:
            raise ctx.fail(str(exc)) from exc
        return [(ctx.etype(0), out)]

    def evaluate(self, x, target_spatial_shape, **attrs):
        x = np.asarray(x)
        v4 = v1_as_v4(attrs, x.ndim)
        plans = _plans(_padded_shape(x.shape, v4), _axes_from(attrs["axes"], x.ndim), target_spatial_shape, True)
        return (interpolate(x, plans, v4, v4["pads_begin"], v4["pads_end"]),)
