"""Window functions (HannWindow, HammingWindow, BlackmanWindow) as sums of cosines of
2πn/N (periodic) or 2πn/(N-1) (symmetric) over n = 0 .. size-1."""

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
