"""Depthwise convolution (one input channel per group): a numpy reference and a compiled twin.

Depthwise layers have few multiply-adds per byte, so with numpy they are bound by its one
pass over memory per operation: the reference pads each channel once into stride *phase
planes* (:func:`phase_planes`), where every kernel tap reads one contiguous run, and then
makes two passes (multiply, add) per tap. The compiled twin ``lpir.ops._native.depthwise2d``
builds the same planes one channel at a time in cache and keeps the partial sums in
registers across all taps. It does the same operations in the same order without fused
multiply-add, so its results are bit-identical to the reference's; the interpreter's kernel
table runs it for 2-D (and 1-D) float32/float64 convolutions when the extension was built (a C
compiler at install time), see :mod:`lpir.runtime.kernels.depthwise`.

The phase planes and the tap plan also serve dense convolutions, which multiply each tap's run
by that tap's weights as one matrix product (:mod:`lpir.ops.convolution`).
"""

from __future__ import annotations

import functools
import itertools
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:
    from lpir.ops import _native
except ImportError:  # installed without a C compiler: the numpy reference gives the same bits
    _native = None

Pads = Sequence[tuple[int, int]]


# ---------------------------------------------------------------- compiled

def depthwise_native(x: np.ndarray, w: np.ndarray, strides: Sequence[int], dilations: Sequence[int],
                     pads: Pads, out: Sequence[int]) -> np.ndarray:
    """:func:`depthwise_reference` through ``lpir.ops._native`` (1-D or 2-D, float32/float64).

    One thread: splitting the planes over two cores measured no faster on EfficientNet-Lite0
    (batch 1 and 8), the handover costing what the second core saves."""
    if x.ndim == 3:  # a 1-D convolution is a 2-D one of height 1
        result = depthwise_native(x[:, :, None], w[..., None, :], (1, *strides), (1, *dilations),
                                  ((0, 0), *pads), (1, *out))
        return result[:, :, 0]
    x = np.ascontiguousarray(_crop(x, pads))
    n, g = x.shape[:2]
    weights = np.ascontiguousarray(w[:, :, 0])
    result = np.empty((n, g * weights.shape[1], *out), dtype=x.dtype)
    geometry = (tuple(strides), tuple(dilations), tuple(max(p, 0) for pair in zip(*pads) for p in pair))
    _native.depthwise2d(x, weights, result, *geometry)
    return result


def _crop(x: np.ndarray, pads: Pads) -> np.ndarray:
    """``x`` with negative pads applied (they crop the input); positive pads are left to the kernel."""
    if all(b >= 0 and e >= 0 for b, e in pads):
        return x
    lead = x.ndim - len(pads)
    return x[(Ellipsis,) + tuple(slice(max(0, -b), x.shape[lead + i] - max(0, -e)) for i, (b, e) in enumerate(pads))]


# ---------------------------------------------------------------- numpy reference

def depthwise_reference(x: np.ndarray, w: np.ndarray, strides: Sequence[int], dilations: Sequence[int],
                        pads: Pads, out: Sequence[int]) -> np.ndarray:
    """Convolution of ``x`` ``[N, G, *spatial]`` with ``w`` ``[G, M, 1, *kernel]`` → ``[N, G*M, *out]`` in numpy, over blocks of about ``_BLOCK_BYTES`` of input
    channels (each block's phase planes stay in cache), the blocks spread over the cores (numpy
    releases the GIL)."""
    channels = x.shape[1]
    channel_bytes = x.nbytes // max(channels, 1)
    if x.nbytes <= 2 * _BLOCK_BYTES or channels < 2:
        return _reference_block(x, w, strides, dilations, pads, out)
    step = max(1, _BLOCK_BYTES // max(channel_bytes, 1))
    blocks = [slice(start, min(start + step, channels)) for start in range(0, channels, step)]
    parts = _pool().map(lambda block: _reference_block(x[:, block], w[block], strides, dilations, pads, out), blocks)
    return np.concatenate(list(parts), axis=1)


_BLOCK_BYTES = 1 << 20
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="lpir-depthwise")
    return _POOL


def _reference_block(x: np.ndarray, w: np.ndarray, strides: Sequence[int], dilations: Sequence[int],
                     pads: Pads, out: Sequence[int]) -> np.ndarray:
    """One block of channels: the taps accumulated over the phase planes, channels-first, or
    channels-last when the image is small and the channels many."""
    with np.errstate(all="ignore"):  # inf - inf is NaN, silently, as in the compiled twin (per thread)
        return _accumulate_block(x, w, strides, dilations, pads, out)


def _accumulate_block(x: np.ndarray, w: np.ndarray, strides: Sequence[int], dilations: Sequence[int],
                      pads: Pads, out: Sequence[int]) -> np.ndarray:
    n, g = x.shape[:2]
    m = w.shape[1]
    planes, taps, offsets, q = tap_layout(x, w.shape[3:], strides, dilations, pads, out)
    weights = w[:, :, 0].reshape(g, m, -1)
    if m == 1 and out[0] * math.prod(q[1:]) <= 4 * g:
        grid = planes.reshape(planes.shape[:3] + (-1,) + tuple(q[1:]))
        return np.ascontiguousarray(_accumulate_channels_last(grid, weights[:, 0], taps, out))
    weights = np.broadcast_to(weights[None], (n, g, m, len(taps))).reshape(n * g, m, -1)
    acc = _accumulate_taps(planes.reshape(n * g, planes.shape[2], -1), weights, taps, offsets,
                           out[0] * math.prod(q[1:]))
    return crop_rows(acc, g * m, out, q)


def tap_layout(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
               pads: Pads, out: Sequence[int]) -> tuple[np.ndarray, tuple, tuple[int, ...], tuple[int, ...]]:
    """The phase planes of ``x`` (:func:`phase_planes`), tall enough for every tap's run of
    ``out[0]`` whole rows; per kernel tap its (phase, shift) and run offset (:func:`tap_plan`);
    and the plane shape ``q`` the runs are laid out in."""
    padded = [size + b + e for size, (b, e) in zip(x.shape[2:], pads)]
    q = tuple(-(-p // s) for p, s in zip(padded, strides))
    taps, offsets = tap_plan(tuple(kernel), tuple(strides), tuple(dilations), q)
    planes = phase_planes(x, pads, strides, out[0] + -(-max(offsets) // math.prod(q[1:])))
    return planes, taps, offsets, q


def crop_rows(acc: np.ndarray, channels: int, out: Sequence[int], q: Sequence[int]) -> np.ndarray:
    """Sums computed over whole plane rows (``[..., out[0] * prod(q[1:])]`` per image) as
    ``[N, channels, *out]``, the columns beyond ``out`` dropped."""
    acc = acc.reshape((-1, channels, out[0]) + tuple(q[1:]))
    return np.ascontiguousarray(acc[(Ellipsis,) + tuple(slice(0, o) for o in out[1:])])


def phase_planes(x: np.ndarray, pads: Pads, strides: Sequence[int], min_rows: int) -> np.ndarray:
    """Zero-padded ``x`` ``[N, C, *spatial]`` split into stride phases and flattened.

    Returns ``[N, C, prod(strides), rows * prod(q[1:])]`` where phase ``(a, b, ...)`` holds the
    padded input at ``(a + s*i, b + s*j, ...)`` laid out with row length ``q`` per axis: a strided
    window becomes a contiguous run, so each kernel tap is one long 1-D slice.
    """
    n, c = x.shape[:2]
    x = _crop(x, pads)
    begin = [max(b, 0) for b, _ in pads]
    padded = [size + b + max(e, 0) for size, b, (_, e) in zip(x.shape[2:], begin, pads)]
    q = [-(-p // s) for p, s in zip(padded, strides)]
    q[0] = max(q[0], min_rows)
    planes = np.zeros((n, c) + tuple(strides) + tuple(q), dtype=x.dtype)
    for phase in itertools.product(*(range(s) for s in strides)):
        source, target = [], []
        for a, s, b, size in zip(phase, strides, begin, x.shape[2:]):
            first = max(0, -(-(b - a) // s))  # first row i of this phase with a + s*i inside the data
            start = a + s * first - b
            source.append(slice(start, size, s))
            target.append(slice(first, first + len(range(start, size, s))))
        planes[(slice(None), slice(None)) + phase + tuple(target)] = x[(Ellipsis,) + tuple(source)]
    return planes.reshape(n, c, math.prod(strides), math.prod(q))


@functools.lru_cache(maxsize=256)
def tap_plan(kernel: tuple[int, ...], strides: tuple[int, ...], dilations: tuple[int, ...],
              q: tuple[int, ...]) -> tuple[tuple[tuple[int, tuple[int, ...]], ...], tuple[int, ...]]:
    """Per kernel tap (row-major): its phase plane and per-axis shift, and the shift flattened
    over phase planes of shape ``q``. Cached: on small layers these loops cost more than the
    arithmetic."""
    taps = []
    for tap in itertools.product(*(range(k) for k in kernel)):
        phase = 0
        for ti, d, s in zip(tap, dilations, strides):
            phase = phase * s + (ti * d) % s
        taps.append((phase, tuple((ti * d) // s for ti, d, s in zip(tap, dilations, strides))))
    offsets = tuple(sum(sh * math.prod(q[i + 1:]) for i, sh in enumerate(shift)) for _, shift in taps)
    return tuple(taps), offsets


def _accumulate_taps(planes: np.ndarray, weights: np.ndarray, taps: Sequence[tuple[int, tuple[int, ...]]],
                     offsets: Sequence[int], length: int) -> np.ndarray:
    """``acc[c, o, l] = sum_t weights[c, o, t] * planes[c, phase_t, offset_t + l]`` in tap order."""
    acc = np.empty(weights.shape[:2] + (length,), dtype=planes.dtype)
    tmp = np.empty_like(acc)
    for t, ((phase, _), offset) in enumerate(zip(taps, offsets)):
        np.multiply(planes[:, None, phase, offset:offset + length], weights[:, :, t, None], out=tmp if t else acc)
        if t:
            acc += tmp
    return acc


def _accumulate_channels_last(grid: np.ndarray, weights: np.ndarray, taps: Sequence[tuple[int, tuple[int, ...]]],
                              out: Sequence[int]) -> np.ndarray:
    """Depthwise taps for many channels over a small image: ``grid`` ``[N, C, S, *q]`` goes
    channels-last once, so every tap's inner loop runs over the channels and no padding column is
    computed. Returns ``[N, C, *out]`` (a channels-last array seen channels-first)."""
    channels_last = np.ascontiguousarray(np.moveaxis(grid, 1, -1))
    per_tap = np.ascontiguousarray(weights.T)
    acc = np.empty((grid.shape[0],) + tuple(out) + (grid.shape[1],), dtype=grid.dtype)
    tmp = np.empty_like(acc)
    for t, (phase, shift) in enumerate(taps):
        view = channels_last[(slice(None), phase) + tuple(slice(sh, sh + o) for sh, o in zip(shift, out))]
        np.multiply(view, per_tap[t], out=tmp if t else acc)
        if t:
            acc += tmp
    return np.moveaxis(acc, -1, 1)
