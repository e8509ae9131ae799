"""Discrete Fourier transforms: DFT-7, IDFT-7, RDFT-9, IRDFT-9 and the short-time STFT-15.

A complex tensor is a real one whose last dimension is 2 (real part, imaginary part), as
OpenVINO stores it. ``axes`` name the transformed dimensions of the signal (the complex
tensor without that last dimension; negative axes count from its end), ``signal_size`` the
length each of them is cut or zero-padded to before the transform (-1: keep). The real
transforms keep half the spectrum of the last axis in ``axes`` (n // 2 + 1 bins); the inverse
one rebuilds n = 2 * (bins - 1) samples unless ``signal_size`` says otherwise. Transforms run
in single precision (double for f64 data) and round once to the input's type.
"""

from __future__ import annotations

import numpy as np

from lpir.errors import ValidationError
from lpir.ir import types
from lpir.ir.shape import DYNAMIC, Shape
from lpir.ops.registry import Attr, InferContext, Op, register


def _working_type(dtype: np.dtype) -> type:
    """Single precision for f32 and narrower (as OpenVINO's f32 kernels), double for f64."""
    return np.float64 if dtype == np.float64 else np.float32


def _complex(x: np.ndarray) -> np.ndarray:
    real = x.astype(_working_type(x.dtype))
    return real[..., 0] + np.complex64(1j) * real[..., 1]


def _pairs(z: np.ndarray, dtype) -> np.ndarray:
    return np.stack([z.real, z.imag], axis=-1).astype(dtype)


def _normalized_axes(axes: np.ndarray, rank: int, where) -> list[int]:
    result = []
    for axis in np.asarray(axes).reshape(-1).tolist():
        if not -rank <= axis < rank:
            raise where(f"axis {axis} is out of range for a signal of rank {rank}")
        result.append(axis % rank)
    if len(set(result)) != len(result):
        raise where(f"axes {np.asarray(axes).tolist()} repeat an axis")
    return result


def _sizes(signal_size: np.ndarray | None, count: int, where) -> list[int]:
    if signal_size is None:
        return [-1] * count
    sizes = np.asarray(signal_size).reshape(-1).tolist()
    if len(sizes) != count:
        raise where(f"signal_size has {len(sizes)} values for {count} axes")
    if any(s < 1 and s != -1 for s in sizes):
        raise where(f"signal_size {sizes} must hold positive lengths or -1")
    return sizes


class _Transform(Op):
    """Shared inference and evaluation; subclasses say which sides are complex."""

    complex_input: bool = True
    complex_output: bool = True
    numpy_transform: staticmethod

    def input_kinds(self, ctx: InferContext) -> None:
        if not (ctx.etype(0).is_float or ctx.etype(0) is types.dynamic):
            raise ctx.fail(f"data is {ctx.etype(0)}: it must be floating-point")
        for i in range(1, ctx.num_inputs):
            if not (ctx.etype(i).is_integral or ctx.etype(i) is types.dynamic):
                raise ctx.fail(f"input {i} is {ctx.etype(i)}: it must be an integer tensor")

    def infer(self, ctx: InferContext):
        self.input_kinds(ctx)
        shape = ctx.shape(0)
        if shape is None:
            return [(ctx.etype(0), None)]
        if self.complex_input:
            if len(shape) < 2 or shape[-1] not in (2,) and isinstance(shape[-1], int):
                raise ctx.fail(f"data must be complex [..., 2], got shape {list(shape)}")
            shape = shape[:-1]
        signal = self.output_signal(ctx, tuple(shape))
        return [(ctx.etype(0), signal + (2,) if self.complex_output else signal)]

    def output_signal(self, ctx: InferContext, signal: Shape) -> Shape:
        axes = ctx.value(1)
        if axes is None:
            return (DYNAMIC,) * len(signal)
        axes = _normalized_axes(axes, len(signal), ctx.fail)
        sizes = [-1] * len(axes)
        if ctx.num_inputs > 2:
            known = ctx.value(2)
            sizes = [DYNAMIC] * len(axes) if known is None else _sizes(known, len(axes), ctx.fail)
        dims = list(signal)
        for axis, size in zip(axes, sizes):
            dims[axis] = dims[axis] if size == -1 else size
        if axes:
            dims[axes[-1]] = self.last_axis_length(signal[axes[-1]], sizes[-1])
        return tuple(dims)

    def last_axis_length(self, original, size):
        return original if size == -1 else size

    def evaluate(self, data, axes, signal_size=None):
        data = np.asarray(data)
        signal = _complex(data) if self.complex_input else data.astype(_working_type(data.dtype))
        where = lambda message: ValidationError(f"{self.type}: {message}")  # noqa: E731
        axes = _normalized_axes(axes, signal.ndim, where)
        sizes = _sizes(signal_size, len(axes), where)
        lengths = [signal.shape[a] if s == -1 else s for a, s in zip(axes, sizes)]
        result = self.transform(signal, axes, lengths, sizes)
        return (_pairs(result, data.dtype) if self.complex_output else result.astype(data.dtype),)

    def transform(self, signal, axes, lengths, sizes):
        return self.numpy_transform(signal, s=lengths, axes=axes)


@register("DFT", opset=7)
class DFT(_Transform):
    numpy_transform = staticmethod(np.fft.fftn)


@register("IDFT", opset=7)
class IDFT(_Transform):
    numpy_transform = staticmethod(np.fft.ifftn)


@register("RDFT", opset=9)
class RDFT(_Transform):
    complex_input = False
    numpy_transform = staticmethod(np.fft.rfftn)

    def last_axis_length(self, original, size):
        length = original if size == -1 else size
        return length // 2 + 1 if isinstance(length, int) else DYNAMIC


@register("IRDFT", opset=9)
class IRDFT(_Transform):
    complex_output = False
    numpy_transform = staticmethod(np.fft.irfftn)

    def last_axis_length(self, original, size):
        if size != -1:
            return size
        return 2 * (original - 1) if isinstance(original, int) else DYNAMIC

    def transform(self, signal, axes, lengths, sizes):
        if sizes[-1] == -1:
            lengths[-1] = 2 * (signal.shape[axes[-1]] - 1)
        return super().transform(signal, axes, lengths, sizes)


@register("STFT", opset=15)
class STFT(Op):
    """Frames of ``frame_size`` samples every ``frame_step``, each multiplied by the window
    (zero-padded on both sides to ``frame_size`` when shorter, the extra zero at the end), and
    transformed to their one-sided spectrum: [batch, frames, bins, 2], or [batch, bins, frames, 2]
    with ``transpose_frames`` (no batch axis for a 1-D signal)."""

    attrs = {"transpose_frames": Attr("bool")}

    def infer(self, ctx: InferContext):
        signal, window = ctx.shape(0), ctx.shape(1)
        if not (ctx.etype(0).is_float or ctx.etype(0) is types.dynamic):
            raise ctx.fail(f"signal is {ctx.etype(0)}: it must be floating-point")
        if signal is not None and len(signal) not in (1, 2):
            raise ctx.fail(f"signal must be [signal_size] or [batch, signal_size], got shape {list(signal)}")
        if window is not None and len(window) != 1:
            raise ctx.fail(f"window must be 1-D, got shape {list(window)}")
        if signal is None:
            return [(ctx.etype(0), None)]
        frame_size, frame_step = ctx.value(2), ctx.value(3)
        frames, bins = DYNAMIC, DYNAMIC
        if frame_size is not None:
            frame_size = int(np.asarray(frame_size).reshape(-1)[0])
            if frame_size < 1 or isinstance(signal[-1], int) and frame_size > signal[-1]:
                raise ctx.fail(f"frame_size {frame_size} does not fit the signal of {signal[-1]} samples")
            if isinstance(window[0] if window else None, int) and window[0] > frame_size:
                raise ctx.fail(f"window of {window[0]} samples is longer than frame_size {frame_size}")
            bins = frame_size // 2 + 1
            if frame_step is not None and isinstance(signal[-1], int):
                frame_step = int(np.asarray(frame_step).reshape(-1)[0])
                if frame_step < 1:
                    raise ctx.fail(f"frame_step {frame_step} must be positive")
                frames = (signal[-1] - frame_size) // frame_step + 1
        layout = (bins, frames) if ctx.attrs["transpose_frames"] else (frames, bins)
        return [(ctx.etype(0), tuple(signal[:-1]) + layout + (2,))]

    def evaluate(self, signal, window, frame_size, frame_step, *, transpose_frames):
        signal = np.asarray(signal)
        window = np.asarray(window).astype(_working_type(signal.dtype))
        frame_size, frame_step = int(np.asarray(frame_size).reshape(-1)[0]), int(np.asarray(frame_step).reshape(-1)[0])
        before = (frame_size - window.size) // 2
        padded = np.zeros(frame_size, dtype=window.dtype)
        padded[before:before + window.size] = window
        frames = (signal.shape[-1] - frame_size) // frame_step + 1
        starts = np.arange(frames) * frame_step
        windows = signal.astype(window.dtype)[..., starts[:, None] + np.arange(frame_size)] * padded
        spectrum = np.fft.rfft(windows, axis=-1)  # [..., frames, bins]
        if transpose_frames:
            spectrum = np.swapaxes(spectrum, -1, -2)
        return (_pairs(spectrum, signal.dtype),)
