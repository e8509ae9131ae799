"""Small models for the weight compression tests, built with lpir's graph API."""

from __future__ import annotations

import numpy as np

import lpir
from lpir.ir import make_constant, make_parameter, make_result
from lpir.ops import build


def mlp(widths=(64, 32, 16), *, seed=0, conv=False, embedding=False, leading=(2,)) -> lpir.Model:
    """x [*leading, widths[0]] → [Gather table] → MatMul(w0, transpose_b) → Relu → MatMul(w1) ... → result 'y'."""
    rng = np.random.default_rng(seed)
    if embedding:
        ids = make_parameter("i64", (2,), name="ids")
        table = make_constant(rng.standard_normal((10, widths[0])).astype(np.float32), name="table")
        value = build("Gather", [table.output, ids.output, make_constant(np.int64(0)).output], name="embed").output
        params = [ids]
    else:
        x = make_parameter("f32", (*leading, widths[0]), name="x")
        value, params = x.output, [x]
    if conv:
        image = make_parameter("f32", (1, 4, 6, 6), name="image")
        kernel = make_constant(rng.standard_normal((widths[0], 4, 3, 3)).astype(np.float32), name="kernel")
        conv_out = build("Convolution", [image.output, kernel.output],
                         {"strides": [1, 1], "pads_begin": [0, 0], "pads_end": [0, 0], "dilations": [1, 1]},
                         name="conv")
        pooled = build("ReduceMean", [conv_out.output, make_constant(np.array([2, 3], np.int64)).output],
                       {"keep_dims": False}, name="pool")
        value = build("Add", [value, pooled.output], name="mix").output
        params.append(image)
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        transpose = i % 2 == 0
        shape = (n_out, n_in) if transpose else (n_in, n_out)
        w = make_constant(rng.standard_normal(shape).astype(np.float32), name=f"w{i}")
        value = build("MatMul", [value, w.output], {"transpose_a": False, "transpose_b": transpose}, name=f"mm{i}").output
        if i < len(widths) - 2:
            value = build("Relu", [value], name=f"relu{i}").output
    value.names = ["y"]
    return lpir.Model(params, [make_result(value)])


def set_weight_value(model: lpir.Model, name: str, index: tuple[int, ...], value: float) -> None:
    """Put ``value`` (e.g. NaN) at ``index`` of the Const ``name``."""
    node = model.node(name)
    values = node.tensor.numpy().copy()
    values[index] = value
    node.tensor = lpir.Tensor.from_array(values)
