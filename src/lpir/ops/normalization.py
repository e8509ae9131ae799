"""Normalizations and attention: Softmax, LogSoftmax, MVN, NormalizeL2, BatchNormInference,
GroupNormalization, LRN and ScaledDotProductAttention.

Half-precision inputs are computed in f32 and rounded back once, as OpenVINO's CPU plugin does
under the f32 inference hint; softmaxes subtract the maximum first so large logits do not
overflow.
"""

from __future__ import annotations

import numpy as np

from lpir.errors import ValidationError
from lpir.ir import types
from lpir.ir.shape import DYNAMIC, Shape
from lpir.ops.common import broadcast_shapes, normalize_axis
from lpir.ops.reduce import infer_reduced, reduction_axes
from lpir.ops.registry import Attr, InferContext, Op, Traits, register

# Quantizers go on the data input only (the other inputs are axes, scales and biases), as NNCF does.
_NORMALIZES_INPUT_0 = Traits(quantizable=True, activation_inputs=(0,))


def _compute_dtype(x: np.ndarray) -> np.dtype:
    """The dtype to compute in: f32 for narrower floats, the input's own otherwise."""
    return np.dtype(np.float32) if x.dtype.itemsize < 4 else x.dtype


def _as_compute(x: np.ndarray) -> np.ndarray:
    return np.asarray(x).astype(_compute_dtype(np.asarray(x)), copy=False)


def _require_float(ctx: InferContext, index: int = 0) -> types.ElementType:
    etype = ctx.etype(index)
    if not etype.is_float:
        raise ctx.fail(f"input {index} must be of a floating-point type, got {etype}")
    return etype


def _check_axis(ctx: InferContext, axis: int, *, allow_negative: bool = True) -> None:
    shape = ctx.shape(0)
    if axis < 0 and not allow_negative:
        raise ctx.fail(f"axis must be non-negative in this opset, got {axis}")
    if shape is not None:
        try:
            normalize_axis(axis, len(shape))
        except ValidationError as exc:
            raise ctx.fail(str(exc)) from exc


def _shift_by_max(x: np.ndarray, axis) -> np.ndarray:
    """``x - max(x)`` along ``axis``; differences beyond the float range become -inf (exp → 0)."""
    with np.errstate(over="ignore"):
        return x - np.max(x, axis=axis, keepdims=True)


def softmax(x: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    """Numerically stable softmax in the dtype of ``x`` (one new array, then in place)."""
    exp = _shift_by_max(x, axis)
    np.exp(exp, out=exp)
    exp /= np.sum(exp, axis=axis, keepdims=True)
    return exp


def _standardize(x: np.ndarray, axes: tuple[int, ...], eps: float, inside_sqrt: bool = True) -> np.ndarray:
    """``(x - mean) / sqrt(var + eps)`` (or ``/ (sqrt(var) + eps)``) over ``axes``."""
    centered = x - np.mean(x, axis=axes, keepdims=True)
    variance = np.mean(np.square(centered), axis=axes, keepdims=True)
    eps = x.dtype.type(eps)
    return centered / (np.sqrt(variance + eps) if inside_sqrt else np.sqrt(variance) + eps)


class _Softmax(Op):
    attrs = {"axis": Attr("int", default=1)}
    allow_negative = True

    def infer(self, ctx: InferContext):
        etype = _require_float(ctx)
        _check_axis(ctx, ctx.attrs["axis"], allow_negative=self.allow_negative)
        return [(etype, ctx.shape(0))]

    @staticmethod
    def compute(x: np.ndarray, axis: int) -> np.ndarray:
        return softmax(x, axis)

    def evaluate(self, x, *, axis):
        x = np.asarray(x)
        axis = normalize_axis(axis, x.ndim)
        return (self.compute(_as_compute(x), axis).astype(x.dtype, copy=False),)


@register("Softmax", opset=1)
class Softmax1(_Softmax):
    """Softmax-1: the axis must be non-negative."""

    allow_negative = False


@register("Softmax", opset=8)
class Softmax8(_Softmax):
    """Softmax-8: negative axes count from the end."""


@register("LogSoftmax", opset=5)
class LogSoftmax(_Softmax):
    """log(softmax(x)) computed as ``x - max - log(sum(exp(x - max)))``."""

    @staticmethod
    def compute(x: np.ndarray, axis: int) -> np.ndarray:
        shifted = _shift_by_max(x, axis)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


@register("MVN", opset=1)
class MVN1(Op):
    """MVN-1: mean (and variance) normalization over the spatial axes, or channels too."""

    traits = _NORMALIZES_INPUT_0

    attrs = {"across_channels": Attr("bool", default=False), "normalize_variance": Attr("bool", default=False),
             "eps": Attr("float"), "reduction_axes": Attr("ints", default=[])}

    @staticmethod
    def axes_for(rank: int, across_channels: bool, reduction_axes_attr) -> tuple[int, ...]:
        if reduction_axes_attr:
            return reduction_axes(reduction_axes_attr, rank, "reduction_axes")
        return tuple(range(1 if across_channels else 2, rank))

    def infer(self, ctx: InferContext):
        etype = _require_float(ctx)
        shape = ctx.shape(0)
        if shape is not None:
            try:
                self.axes_for(len(shape), ctx.attrs["across_channels"], ctx.attrs["reduction_axes"])
            except ValidationError as exc:
                raise ctx.fail(str(exc)) from exc
        return [(etype, shape)]

    def evaluate(self, x, *, across_channels, normalize_variance, eps, reduction_axes):
        x = np.asarray(x)
        axes = self.axes_for(x.ndim, across_channels, reduction_axes)
        return (_mvn(x, axes, normalize_variance, eps, True),)


def _mvn(x: np.ndarray, axes: tuple[int, ...], normalize_variance: bool, eps: float, inside_sqrt: bool):
    data = _as_compute(x)
    if normalize_variance:
        result = _standardize(data, axes, eps, inside_sqrt)
    else:
        result = data - np.mean(data, axis=axes, keepdims=True)
    return result.astype(x.dtype, copy=False)


_EPS_MODES = {"inside_sqrt": True, "outside_sqrt": False}


@register("MVN", opset=6)
class MVN6(Op):
    """MVN-6: normalization over the axes given by input 1, eps inside or outside the root."""

    traits = _NORMALIZES_INPUT_0

    attrs = {"normalize_variance": Attr("bool"), "eps": Attr("float"), "eps_mode": Attr("str")}

    def infer(self, ctx: InferContext):
        etype = _require_float(ctx)
        if str(ctx.attrs["eps_mode"]).lower() not in _EPS_MODES:
            raise ctx.fail(f"eps_mode must be inside_sqrt or outside_sqrt, got {ctx.attrs['eps_mode']!r}")
        infer_reduced(ctx, 1, True)
        return [(etype, ctx.shape(0))]

    def evaluate(self, x, axes, *, normalize_variance, eps, eps_mode):
        x = np.asarray(x)
        inside = _EPS_MODES[str(eps_mode).lower()]
        return (_mvn(x, reduction_axes(axes, x.ndim), normalize_variance, eps, inside),)


@register("NormalizeL2", opset=1)
class NormalizeL2(Op):
    """``x / sqrt(sum(x²) + eps)`` (eps_mode add) or ``x / sqrt(max(sum(x²), eps))`` (max)."""

    traits = _NORMALIZES_INPUT_0

    attrs = {"eps": Attr("float"), "eps_mode": Attr("str")}

    def infer(self, ctx: InferContext):
        etype = _require_float(ctx)
        if str(ctx.attrs["eps_mode"]).lower() not in ("add", "max"):
            raise ctx.fail(f"eps_mode must be add or max, got {ctx.attrs['eps_mode']!r}")
        infer_reduced(ctx, 1, True)
        return [(etype, ctx.shape(0))]

    def evaluate(self, x, axes, *, eps, eps_mode):
        x = np.asarray(x)
        axes = reduction_axes(axes, x.ndim)
        if not axes:  # each element divided by itself, as OpenVINO's reference does
            return ((x != 0).astype(x.dtype),)
        data = _as_compute(x)
        squares = np.sum(np.square(data), axis=axes, keepdims=True)
        eps = data.dtype.type(eps)
        denom = np.maximum(squares, eps) if str(eps_mode).lower() == "max" else squares + eps
        return ((data / np.sqrt(denom)).astype(x.dtype, copy=False),)


def _channel_params_check(ctx: InferContext, data_index: int, param_indices: tuple[int, ...]) -> None:
    """Per-channel parameter inputs must be 1-D with the data's channel count."""
    shape = ctx.shape(data_index)
    if shape is not None and len(shape) < 2:
        raise ctx.fail(f"data must have rank ≥ 2 (N, C, ...), got shape {list(shape)}")
    channels = shape[1] if shape is not None else DYNAMIC
    for i in param_indices:
        p = ctx.shape(i)
        if p is None:
            continue
        if len(p) != 1:
            raise ctx.fail(f"input {i} must be 1-D (one value per channel), got shape {list(p)}")
        if isinstance(p[0], int) and isinstance(channels, int) and p[0] != channels:
            raise ctx.fail(f"input {i} has {p[0]} values for {channels} channels")


def _per_channel(p: np.ndarray, rank: int) -> np.ndarray:
    return np.asarray(p).reshape((1, -1) + (1,) * (rank - 2))


def _batch_norm(x, gamma, beta, mean, variance, epsilon):
    x = np.asarray(x)
    data = _as_compute(x)
    rank = x.ndim
    gamma, beta, mean, variance = (_per_channel(_as_compute(p), rank) for p in (gamma, beta, mean, variance))
    scale = gamma / np.sqrt(variance + data.dtype.type(epsilon))
    return ((data - mean) * scale + beta).astype(x.dtype, copy=False)


@register("BatchNormInference", opset=1)
class BatchNormInference1(Op):
    """BatchNormInference-1: inputs ordered gamma, beta, data, mean, variance."""

    traits = Traits(quantizable=True, activation_inputs=(2,))

    attrs = {"epsilon": Attr("float")}
    data_index = 2

    def infer(self, ctx: InferContext):
        etype = _require_float(ctx, self.data_index)
        others = tuple(i for i in range(5) if i != self.data_index)
        _channel_params_check(ctx, self.data_index, others)
        if ctx.attrs["epsilon"] < 0:
            raise ctx.fail(f"epsilon must be non-negative, got {ctx.attrs['epsilon']}")
        return [(etype, ctx.shape(self.data_index))]

    def evaluate(self, gamma, beta, x, mean, variance, *, epsilon):
        return (_batch_norm(x, gamma, beta, mean, variance, epsilon),)


@register("BatchNormInference", opset=5)
class BatchNormInference5(BatchNormInference1):
    """BatchNormInference-5: inputs ordered data, gamma, beta, mean, variance."""

    traits = _NORMALIZES_INPUT_0

    data_index = 0

    def evaluate(self, x, gamma, beta, mean, variance, *, epsilon):
        return (_batch_norm(x, gamma, beta, mean, variance, epsilon),)


@register("GroupNormalization", opset=12)
class GroupNormalization(Op):
    """Normalization over groups of channels (and all spatial positions), then per-channel affine."""

    traits = _NORMALIZES_INPUT_0

    attrs = {"num_groups": Attr("int"), "epsilon": Attr("float")}

    def infer(self, ctx: InferContext):
        etype = _require_float(ctx)
        _channel_params_check(ctx, 0, (1, 2))
        groups = ctx.attrs["num_groups"]
        if groups < 1:
            raise ctx.fail(f"num_groups must be positive, got {groups}")
        shape = ctx.shape(0)
        if shape is not None and isinstance(shape[1], int) and shape[1] % groups:
            raise ctx.fail(f"{shape[1]} channels do not split into num_groups={groups} groups")
        return [(etype, shape)]

    def evaluate(self, x, scale, bias, *, num_groups, epsilon):
        x = np.asarray(x)
        data = _as_compute(x)
        grouped = data.reshape(x.shape[0], num_groups, -1)
        normed = _standardize(grouped, (2,), epsilon).reshape(x.shape)
        out = normed * _per_channel(_as_compute(scale), x.ndim) + _per_channel(_as_compute(bias), x.ndim)
        return (out.astype(x.dtype, copy=False),)


def _window_sum(x: np.ndarray, axis: int, half: int) -> np.ndarray:
    """Sum over ``[i - half, i + half]`` along ``axis``, clipped at the edges (vectorised)."""
    n = x.shape[axis]
    zero = np.zeros_like(np.take(x, [0], axis=axis))
    cumulative = np.concatenate([zero, np.cumsum(x, axis=axis)], axis=axis)
    idx = np.arange(n)
    upper = np.take(cumulative, np.minimum(idx + half + 1, n), axis=axis)
    lower = np.take(cumulative, np.maximum(idx - half, 0), axis=axis)
    return upper - lower


@register("LRN", opset=1)
class LRN(Op):
    """Local response normalization: ``x / (bias + alpha / size^k * Σ x²)^beta`` over a window."""

    attrs = {"alpha": Attr("float"), "beta": Attr("float"), "bias": Attr("float"), "size": Attr("int")}

    def infer(self, ctx: InferContext):
        etype = _require_float(ctx)
        if ctx.attrs["size"] < 1:
            raise ctx.fail(f"size must be positive, got {ctx.attrs['size']}")
        infer_reduced(ctx, 1, True)
        return [(etype, ctx.shape(0))]

    def evaluate(self, x, axes, *, alpha, beta, bias, size):
        x = np.asarray(x)
        data = _as_compute(x).astype(np.float64)
        axes = reduction_axes(axes, x.ndim)
        square_sum = np.square(data)
        for axis in axes:
            square_sum = _window_sum(square_sum, axis, (size - 1) // 2)
        scale = alpha / float(size) ** len(axes)
        return ((data / np.power(bias + scale * square_sum, beta)).astype(x.dtype, copy=False),)


def _batch_shape(shapes: list[Shape | None]) -> Shape | None:
    """Broadcast of the leading (batch) dims of attention inputs (all but the last two)."""
    known = [s[:-2] for s in shapes if s is not None]
    if len(known) < len(shapes):
        return None
    return broadcast_shapes(known)


@register("ScaledDotProductAttention", opset=13)
class ScaledDotProductAttention(Op):
    """``softmax(Q Kᵀ · scale + bias) V`` with a causal, boolean or additive mask."""

    traits = Traits(quantizable=True, activation_inputs=(0, 1))  # query and key, as NNCF

    attrs = {"causal": Attr("bool")}

    def infer(self, ctx: InferContext):
        etype = _require_float(ctx)
        shapes = [ctx.shape(i) for i in range(3)]
        for i, s in enumerate(shapes):
            if s is not None and len(s) < 3:
                raise ctx.fail(f"input {i} must have rank ≥ 3 ([N, ..., L|S, E]), got shape {list(s)}")
            if ctx.etype(i) != etype:
                raise ctx.fail(f"input {i} has type {ctx.etype(i)}, query has {etype}")
        if ctx.num_inputs > 3 and ctx.etype(3) not in (etype, types.boolean):
            raise ctx.fail(f"attention_mask must be boolean or {etype}, got {ctx.etype(3)}")
        q, k, v = shapes
        try:
            self._check_dims(q, k, v)
            batch = _batch_shape([q, k, v] + self._mask_shapes(ctx))
        except ValidationError as exc:
            raise ctx.fail(str(exc)) from exc
        if ctx.num_inputs > 4:
            scale = ctx.shape(4)
            if scale is not None and int(np.prod([d for d in scale if isinstance(d, int)])) != 1:
                raise ctx.fail(f"scale must hold one value, got shape {list(scale)}")
        if batch is None or q is None or v is None:
            return [(etype, None)]
        return [(etype, tuple(batch) + (q[-2], v[-1]))]

    @staticmethod
    def _check_dims(q: Shape | None, k: Shape | None, v: Shape | None) -> None:
        if q is not None and k is not None and _differ(q[-1], k[-1]):
            raise ValidationError(f"query embedding {q[-1]} differs from key embedding {k[-1]}")
        if k is not None and v is not None and _differ(k[-2], v[-2]):
            raise ValidationError(f"key length {k[-2]} differs from value length {v[-2]}")

    def _mask_shapes(self, ctx: InferContext) -> list[Shape | None]:
        if ctx.num_inputs < 4 or ctx.attrs["causal"]:
            return []
        mask = ctx.shape(3)
        if mask is None or len(mask) < 3:
            return []
        return [mask]

    def evaluate(self, query, key, value, attn_mask=None, scale=None, *, causal):
        query = np.asarray(query)
        q, k, v = (_as_compute(t) for t in (query, key, value))
        if scale is None:
            scale = 1.0 / np.sqrt(q.dtype.type(q.shape[-1]))
        weights = np.matmul(q, np.swapaxes(k, -1, -2)) * _as_compute(scale).reshape(()).astype(q.dtype)
        bias = _attention_bias(attn_mask, causal, q.shape[-2], k.shape[-2], q.dtype)
        if bias is not None:
            weights = weights + bias
        return (np.matmul(softmax(weights, -1), v).astype(query.dtype, copy=False),)


def _differ(a, b) -> bool:
    """True when two dimensions are both static and not equal."""
    return isinstance(a, int) and isinstance(b, int) and a != b


def _attention_bias(mask, causal: bool, length: int, source: int, dtype: np.dtype) -> np.ndarray | None:
    """The additive bias of the attention logits, as the specification's pseudo-code builds it."""
    if causal:
        return np.triu(np.full((length, source), -np.inf, dtype=dtype), k=1)
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype == np.bool_:
        return np.where(mask, dtype.type(0), dtype.type(-np.inf))
    return _as_compute(mask).astype(dtype, copy=False)
