"""The arithmetic of weight compression: float weights to int8/int4/nf4 codes, scales, zero points.

Bit-exact to NNCF's ``compress_weights`` (its numpy reference and its OpenVINO-compiled kernels
agree): statistics over a *reduction axis* (the input channels, or a group of ``group_size`` of
them), all in f32 with true division and round-half-to-even.

* asymmetric (``int8_asym``, ``int4_asym``; codes ``0 .. 2^b-1``, stored u8/u4): the range
  ``[min(w_min, 0), max(w_max, 0)]`` — widened to include 0 — gives
  ``scale = (hi - lo) / (2^b - 1)`` and ``zero_point = clip(-round(lo / scale), 0, 2^b - 1)``;
* symmetric (``int8_sym``, ``int4_sym``; codes ``-2^(b-1) .. 2^(b-1)-1``, stored i8/i4): a signed
  scale ``(|w_min| >= w_max ? |w_min| : -w_max) / 2^(b-1)`` maps the extreme of larger magnitude
  to ``-2^(b-1)``, so the whole code range is used and no zero point is needed;
* ``nf4``: ``scale = max |w|``; the code is the nearest of the 16 NF4 levels to ``w / scale``
  (ties to the lower level).

A scale smaller in magnitude than f32's epsilon becomes epsilon (all-zero channels). Codes are
computed with the f32 scale, which is then stored as f16. Work is split in row blocks over a
thread pool: numpy releases the GIL, so a layer uses every core.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from lpir.ir import types
from lpir.ir.types import ElementType

EPS = float(np.finfo(np.float32).eps)

# The 16 NF4 levels (OpenVINO's nf4 table) and the f32 midpoints between neighbours that NNCF
# and OpenVINO's f32 → nf4 conversion compare against.
NF4_LEVELS = types.NF4_VALUES
NF4_MIDPOINTS = np.array([-0.84809643, -0.6106329, -0.45999527, -0.33967942, -0.2346074, -0.13791174,
                          -0.045525018, 0.03979015, 0.120255254, 0.20352125, 0.29201376, 0.38931254,
                          0.5016634, 0.6427869, 0.8614784], dtype=np.float32)


# nf4 codes by table: [-1, 1] cut into buckets narrower than the gap between two midpoints, so a
# bucket holds at most one; a value's code is the number of midpoints below its bucket plus one
# if it lies above the bucket's midpoint. Equal to searchsorted(NF4_MIDPOINTS, x, "left") for
# every x (ties go to the lower level) and several times faster.
_NF4_BUCKETS = 4096
_NF4_BELOW = np.searchsorted(NF4_MIDPOINTS, -1 + 2 * np.arange(_NF4_BUCKETS, dtype=np.float64) / _NF4_BUCKETS,
                             side="left").astype(np.uint8)
_NF4_NEXT = np.append(NF4_MIDPOINTS, np.float32(np.inf))[_NF4_BELOW]


def nf4_codes(normalized: np.ndarray) -> np.ndarray:
    """The index of the NF4 level nearest to each value of ``normalized`` (in [-1, 1]), ties down."""
    bucket = np.multiply(np.add(normalized, np.float32(1)), np.float32(_NF4_BUCKETS / 2))
    bucket = np.clip(bucket, 0, _NF4_BUCKETS - 1, out=bucket).astype(np.int32)
    codes = _NF4_BELOW[bucket]
    codes += normalized > _NF4_NEXT[bucket]
    return codes


@dataclass(frozen=True)
class Mode:
    """A compression mode: how many bits, how codes are chosen and how they are stored."""

    name: str
    bits: int
    kind: str               # "asym" | "sym" | "nf4"
    etype: ElementType      # the storage type of the codes (and of the zero point)

    @property
    def has_zero_point(self) -> bool:
        return self.kind == "asym"

    @property
    def code_range(self) -> tuple[int, int]:
        if self.kind == "asym":
            return 0, 2 ** self.bits - 1
        if self.kind == "sym":
            return -(2 ** (self.bits - 1)), 2 ** (self.bits - 1) - 1
        return 0, 15

    @property
    def is_4bit(self) -> bool:
        return self.bits == 4


MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("int8_asym", 8, "asym", types.u8),
    Mode("int8_sym", 8, "sym", types.i8),
    Mode("int4_asym", 4, "asym", types.u4),
    Mode("int4_sym", 4, "sym", types.i4),
    Mode("nf4", 4, "nf4", types.nf4),
)}


@dataclass
class Lowered:
    """A lowered weight: codes (one per item, in the grouped shape), f16 scale, zero point or None.

    4-bit codes lowered with ``pack=True`` come as ``packed`` bytes in the .bin layout instead
    (``codes`` is then None).
    """

    codes: np.ndarray | None
    scale: np.ndarray
    zero_point: np.ndarray | None
    is_finite: bool = True  # False when a scale is NaN or infinite (NaN/inf weights)
    packed: np.ndarray | None = None


def grouped_shape(shape: tuple[int, ...], axis: int, group_size: int | None) -> tuple[tuple[int, ...], int]:
    """The weight shape with the reduction ``axis`` split into ``[axis/group, group]`` (and the new
    reduction axis); unchanged for per-channel (``group_size`` None or -1)."""
    if group_size in (None, -1):
        return tuple(shape), axis
    grouped = list(shape)
    grouped[axis:axis + 1] = [shape[axis] // group_size, group_size]
    return tuple(grouped), axis + 1


def scale_and_zero_point(w: np.ndarray, axis: int | tuple[int, ...], mode: Mode) -> tuple[np.ndarray, np.ndarray | None]:
    """The f32 scale (and f32 zero point of asymmetric modes) over ``axis`` of f32 ``w`` (keepdims)."""
    if mode.kind == "nf4":
        scale = np.abs(w).max(axis=axis, keepdims=True)
        return _clamp_eps(scale), None
    low = w.min(axis=axis, keepdims=True)
    high = w.max(axis=axis, keepdims=True)
    if mode.kind == "sym":
        magnitude = np.abs(low)
        scale = np.where(magnitude >= high, magnitude, -high) / np.float32(2 ** (mode.bits - 1))
        return _clamp_eps(scale.astype(np.float32, copy=False)), None
    zero = np.float32(0)
    low, high = np.minimum(low, zero), np.maximum(high, zero)
    levels_low, levels_high = mode.code_range
    scale = _clamp_eps((high - low) / np.float32(levels_high - levels_low))
    zero_point = np.clip(np.float32(levels_low) - np.round(low / scale), levels_low, levels_high)
    return scale, zero_point.astype(np.float32)


def _clamp_eps(scale: np.ndarray) -> np.ndarray:
    return np.where(np.abs(scale) < EPS, np.float32(EPS), scale).astype(np.float32, copy=False)


def quantize(w: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, mode: Mode) -> np.ndarray:
    """Codes of f32 ``w`` for an f32 ``scale`` (and zero point): uint8 for unsigned/nf4, int8 for signed."""
    normalized = w / scale
    if mode.kind == "nf4":
        return nf4_codes(normalized)
    if zero_point is not None:
        normalized += zero_point
    np.round(normalized, out=normalized)
    low, high = mode.code_range
    np.clip(normalized, low, high, out=normalized)
    return normalized.astype(np.uint8 if mode.kind == "asym" else np.int8)


def dequantize(codes: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, mode: Mode) -> np.ndarray:
    """The f32 values the codes stand for (with the scale as given: f32 or stored f16)."""
    scale = scale.astype(np.float32)
    if mode.kind == "nf4":
        return NF4_LEVELS[codes] * scale
    values = codes.astype(np.int32)
    if zero_point is not None:
        values = values - zero_point.astype(np.int32)
    return values.astype(np.float32) * scale


def lower_block(w: np.ndarray, axis: int | tuple[int, ...], mode: Mode) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Codes, f32 scale and zero point (in the code dtype) of one block of an f32 grouped weight."""
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf weights: reported by the caller
        scale, zero_point = scale_and_zero_point(w, axis, mode)
        codes = quantize(w, scale, zero_point, mode)
        if zero_point is not None:
            zero_point = zero_point.astype(np.uint8)
    return codes, scale, zero_point


def lower(weight: np.ndarray, axis: int | tuple[int, ...], mode: Mode, group_size: int | None = None, *,
          workers: int | None = None, after_block: Callable[[np.ndarray], None] | None = None,
          pack: bool = False) -> Lowered:
    """Lower a float weight over its reduction ``axis``, per channel or in groups of ``group_size``.

    Codes come back in the grouped shape (``[..., axis/g, g, ...]``), the scale (f16) and zero
    point with size 1 on the reduced axes. Per channel, ``axis`` may be several axes (the input
    channels and kernel of a convolution). ``workers`` threads share the row blocks (default:
    every core); ``after_block`` is called with each block of ``weight`` once it is lowered (to
    release memory-mapped pages while streaming). With ``pack`` 4-bit codes are packed two per
    byte block by block, when the blocks are whole rows (saves a pass and the unpacked copy).
    """
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if group_size not in (None, -1):
        if len(axes) != 1:
            raise ValueError("group-wise lowering reduces over one axis")
        shape, reduce = grouped_shape(weight.shape, axes[0], group_size)
        axes = (reduce,)
    else:
        shape = tuple(weight.shape)
    w = weight.reshape(shape)
    split = next((a for a in range(len(shape)) if a not in axes and shape[a] > 1), None)
    reduced = tuple(1 if a in axes else d for a, d in enumerate(shape))
    size = int(np.prod(shape, dtype=np.int64))
    row = size // shape[split] if split is not None else size
    pack_rows = pack and mode.is_4bit and (split == 0 or split is None) and row % 2 == 0
    codes = None if pack_rows else np.empty(shape, dtype=np.int8 if mode.kind == "sym" else np.uint8)
    packed = np.empty(size // 2, dtype=np.uint8) if pack_rows else None
    scale = np.empty(reduced, dtype=np.float32)
    zero_point = np.empty(reduced, dtype=np.uint8) if mode.has_zero_point else None

    def run(block: slice) -> None:
        index = (slice(None),) * split + (block,) if split is not None else ()
        source = w[index]
        part = source if source.dtype == np.float32 else source.astype(np.float32)
        block_codes, block_scale, block_zero = lower_block(part, axes, mode)
        if after_block is not None:
            after_block(source)
        scale[index] = block_scale
        if zero_point is not None:
            zero_point[index] = block_zero
        if packed is None:
            codes[index] = block_codes
        else:
            start, stop, _ = block.indices(shape[split]) if split is not None else (0, 1, 1)
            pack_nibbles(block_codes, packed[start * row // 2:stop * row // 2])

    blocks = _blocks(shape, split, w.itemsize)
    workers = workers or os.cpu_count() or 1
    if workers > 1 and len(blocks) > 1:
        with ThreadPoolExecutor(min(workers, len(blocks))) as pool:
            list(pool.map(run, blocks))
    else:
        for block in blocks:
            run(block)
    return Lowered(codes, scale.astype(np.float16), zero_point, bool(np.isfinite(scale).all()), packed)


def pack_nibbles(codes: np.ndarray, out: np.ndarray) -> None:
    """Pack 4-bit codes (int8 or uint8, an even count) two per byte into ``out``, element ``2k``
    in the low nibble (OpenVINO's layout, :mod:`lpir.ir.packing`), without range checks."""
    flat = np.ascontiguousarray(codes).reshape(-1).view(np.uint8)
    np.bitwise_and(flat[0::2], 0x0F, out=out)
    out |= flat[1::2] << 4


def _blocks(shape: tuple[int, ...], split: int | None, itemsize: int, target: int = 1 << 20) -> list[slice]:
    """Slices along ``split`` of about ``target`` bytes each (one slice when nothing splits)."""
    if split is None:
        return [slice(None)]
    extent = shape[split]
    per_index = max(1, int(np.prod(shape, dtype=np.int64)) // extent * itemsize)
    step = max(1, target // per_index)
    return [slice(start, min(start + step, extent)) for start in range(0, extent, step)]


def quantization_error(weight: np.ndarray, axis: int, mode: Mode = MODES["int8_asym"], *,
                       reduction: str = "max_mean") -> float:
    """NNCF's data-free sensitivity input: the largest per-channel mean squared error of
    quantizing and dequantizing ``weight`` (per channel over ``axis``, f32 scale); with
    ``reduction="sum"`` the sum of the squared errors (the square of the Frobenius norm)."""
    w = weight.astype(np.float32, copy=False)
    scale, zero_point = scale_and_zero_point(w, axis, mode)
    codes = quantize(w, scale, zero_point, mode)
    restored = dequantize(codes, scale, None if zero_point is None else zero_point.astype(np.int32), mode)
    squared = (restored - w) ** 2
    if reduction == "sum":
        return float(np.sum(squared, dtype=np.float64))
    return float(np.mean(squared, axis=axis).max())
