"""Signal processing: the window functions (HannWindow, HammingWindow, BlackmanWindow) as sums
of cosines of 2πn/N (periodic) or 2πn/(N-1) (symmetric) over n = 0 .. size-1, and the Fourier
transforms DFT and STFT onto OpenVINO's DFT/IDFT/RDFT/IRDFT and STFT."""

from __future__ import annotations

import numpy as np

from lpir.io.onnx.context import NodeContext, converter, element_type
from lpir.ir import types
from lpir.ir.graph import Output

# window → cosine coefficients a_k of sum_k (-1)^k a_k cos(2πkn / N)
_COEFFICIENTS = {
    "HannWindow": (0.5, 0.5),
    "HammingWindow": (25 / 46, 21 / 46),
    "BlackmanWindow": (0.42, 0.5, 0.08),
}


@converter(*_COEFFICIENTS, emits=("Convert", "Range", "Subtract", "Divide", "Multiply", "Cos", "Add"))
def _window(ctx: NodeContext) -> Output:
    f32 = types.f32
    size = ctx.op("Convert", ctx.input(0), destination_type=f32, suffix="size")
    n = ctx.op("Range", ctx.const(np.float32(0), "zero"), size, ctx.const(np.float32(1), "one"), opset=4,
               output_type=f32, suffix="n")
    period = size if ctx.attr("periodic", 1) else ctx.op("Subtract", size, ctx.const(np.float32(1), "one_less"),
                                                         suffix="period")
    phase = ctx.op("Divide", ctx.op("Multiply", n, ctx.const(np.float32(2 * np.pi), "two_pi"), suffix="angle"),
                   period, suffix="phase")
    coefficients = _COEFFICIENTS[ctx.op_type]
    window = ctx.const(np.float32(coefficients[0]), "a0")
    for k, a in enumerate(coefficients[1:], start=1):
        term = ctx.op("Cos", ctx.op("Multiply", phase, ctx.const(np.float32(k), f"k{k}"), suffix=f"phase{k}"),
                      suffix=f"cos{k}")
        weighted = ctx.op("Multiply", term, ctx.const(np.float32((-1) ** k * a), f"a{k}"), suffix=f"term{k}")
        window = ctx.op("Add", window, weighted, suffix=f"sum{k}")
    return ctx.op("Convert", window, destination_type=element_type(ctx.attr("output_datatype", 1), ctx.name))


def _dft_axes(ctx: NodeContext, rank: int) -> Output:
    """The transformed axis as OpenVINO's 1-D axes, counted from the front: an attribute
    (default 1) before opset 20, an input (default -2) from it on, possibly computed at run time."""
    if ctx.opset < 20:
        axis = ctx.attr("axis", 1)
    elif ctx.optional_input(2) is None:
        axis = -2
    elif ctx.value(2) is not None:
        axis = int(ctx.value(2).reshape(-1)[0])
    else:
        axis = ctx.op("Convert", ctx.input(2), destination_type=types.i64, suffix="axis")
        positive = ctx.op("FloorMod", axis, ctx.const(np.int64(rank), "rank"), suffix="positive_axis")
        return ctx.op("Reshape", positive, ctx.const(np.asarray([1], dtype=np.int64), "axes_shape"),
                      special_zero=False, suffix="axes")
    if not -rank <= axis < rank - 1 or axis == -1:
        raise ctx.fail(f"axis {axis} is not a signal axis of the rank-{rank} input")
    return ctx.const(np.asarray([axis % rank], dtype=np.int64), "axes")


@converter("DFT", emits=("DFT", "IDFT", "RDFT", "IRDFT", "Pad", "Squeeze", "Unsqueeze", "Reshape", "Convert", "FloorMod"))
def _dft(ctx: NodeContext) -> Output:
    """DFT → OpenVINO's DFT/IDFT on complex signals (a real one gets a zero imaginary part),
    RDFT for the one-sided spectrum of a real signal, IRDFT for the inverse of a one-sided one."""
    x = ctx.input(0)
    rank = ctx.rank(x)
    components = x.shape[-1]
    if components not in (1, 2):
        raise ctx.fail(f"the last dimension must be 1 (real) or 2 (complex), got {components}")
    axes = _dft_axes(ctx, rank)
    sizes = []
    if ctx.optional_input(1) is not None:
        length = ctx.op("Convert", ctx.input(1), destination_type=types.i64, suffix="length")
        sizes = [ctx.op("Reshape", length, ctx.const(np.asarray([1], dtype=np.int64), "one"), special_zero=False,
                        suffix="signal_size")]
    inverse, onesided = bool(ctx.attr("inverse", 0)), bool(ctx.attr("onesided", 0))
    last = ctx.const(np.asarray([-1], dtype=np.int64), "last_axis")
    if onesided and inverse:
        if components != 2:
            raise ctx.fail("an inverse one-sided DFT needs a complex input")
        real = ctx.op("IRDFT", x, axes, *sizes, opset=9, suffix="irdft")
        return ctx.op("Unsqueeze", real, last)
    if onesided and components == 1:
        signal = ctx.op("Squeeze", x, last, suffix="signal")
        return ctx.op("RDFT", signal, axes, *sizes, opset=9)
    if onesided:
        raise ctx.fail("a one-sided DFT of a complex input is not defined")
    if components == 1:
        zeros = ctx.const(np.zeros(rank, dtype=np.int64), "no_padding")
        imaginary = ctx.const(np.asarray([0] * (rank - 1) + [1], dtype=np.int64), "imaginary_part")
        x = ctx.op("Pad", x, zeros, imaginary, ctx.const_like(0, x, "zero"), opset=12, pad_mode="constant",
                   suffix="complex")
    return ctx.op("IDFT" if inverse else "DFT", x, axes, *sizes, opset=7)


@converter("STFT", emits=("STFT", "Squeeze", "ShapeOf", "Broadcast", "Convert", "Reshape"))
def _stft(ctx: NodeContext) -> Output:
    """STFT of a real signal [batch, length, 1] → OpenVINO's STFT-15; no window means a
    rectangular one of frame_length samples, no frame_length the window's length."""
    signal = ctx.input(0)
    if ctx.rank(signal) != 3 or signal.shape[-1] != 1:
        raise ctx.fail(f"only real signals [batch, length, 1] are supported, got shape {list(signal.shape)}")
    if not ctx.attr("onesided", 1):
        raise ctx.fail("only the one-sided STFT (onesided=1) is supported")
    last = ctx.const(np.asarray([-1], dtype=np.int64), "last_axis")
    samples = ctx.op("Squeeze", signal, last, suffix="samples")
    step = ctx.op("Convert", ctx.input(1), destination_type=types.i64, suffix="frame_step")
    window, length = ctx.optional_input(2), ctx.optional_input(3)
    if window is None and length is None:
        raise ctx.fail("either a window or frame_length is required")
    if length is None:
        size = ctx.op("Squeeze", ctx.op("ShapeOf", window, output_type=types.i64, opset=3, suffix="window_shape"),
                      ctx.const(np.asarray([0], dtype=np.int64), "first"), suffix="frame_size")
    else:
        size = ctx.op("Convert", length, destination_type=types.i64, suffix="frame_size")
    if window is None:
        shape = ctx.op("Reshape", size, ctx.const(np.asarray([1], dtype=np.int64), "one"), special_zero=False,
                       suffix="window_shape")
        window = ctx.op("Broadcast", ctx.const_like(1, signal, "rectangle"), shape, opset=3, suffix="window")
    return ctx.op("STFT", samples, window, size, step, opset=15, transpose_frames=False)
