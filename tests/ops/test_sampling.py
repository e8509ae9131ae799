"""GridSample against OpenVINO: every mode, padding mode and corner alignment, on grids that
reach outside the image (where the padding modes differ), on the core reference
(node.evaluate) and on the CPU plugin (f32)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino import opset9
from ops.oracle import lpir_op, openvino_op

from lpir.errors import ValidationError

MODES = ["bilinear", "bicubic", "nearest"]
PADDINGS = ["zeros", "border", "reflection"]


def _factory(attrs):
    return lambda data, grid: opset9.grid_sample(data, grid, attrs)


def _inputs(seed: int, n: int = 2, c: int = 3, size=(4, 5), out=(3, 6), reach: float = 1.6):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((n, c) + size).astype(np.float32)
    grid = rng.uniform(-reach, reach, (n,) + out + (2,)).astype(np.float32)
    return data, grid


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", PADDINGS)
@pytest.mark.parametrize("mode", MODES)
def test_matches_reference(mode, padding_mode, align_corners):
    attrs = {"mode": mode, "padding_mode": padding_mode, "align_corners": align_corners}
    data, grid = _inputs(0)
    expected = openvino_op(_factory(attrs), [data, grid], reference=True)[0]
    result = lpir_op("GridSample", [data, grid], attrs, opset=9)[0]
    assert result.shape == (2, 3, 3, 6) and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)


@settings(max_examples=30, deadline=None)  # each example compiles a model on the CPU plugin
@given(mode=st.sampled_from(MODES), padding_mode=st.sampled_from(PADDINGS), align_corners=st.booleans(),
       seed=st.integers(0, 2**32 - 1), size=st.tuples(st.integers(1, 6), st.integers(1, 6)),
       out=st.tuples(st.integers(1, 5), st.integers(1, 5)), reach=st.sampled_from([0.9, 1.5, 4.0]))
def test_random_images_match_cpu_plugin(mode, padding_mode, align_corners, seed, size, out, reach):
    attrs = {"mode": mode, "padding_mode": padding_mode, "align_corners": align_corners}
    data, grid = _inputs(seed, 1, 2, size, out, reach)
    expected = openvino_op(_factory(attrs), [data, grid])[0]
    np.testing.assert_allclose(lpir_op("GridSample", [data, grid], attrs, opset=9)[0], expected,
                               rtol=1e-4, atol=1e-4)


def test_refuses_unknown_mode_and_rank():
    data, grid = _inputs(0)
    with pytest.raises(ValidationError, match="mode='area'"):
        lpir_op("GridSample", [data, grid], {"mode": "area"}, opset=9)
    with pytest.raises(ValidationError, match="4-D"):
        lpir_op("GridSample", [data[0], grid], {}, opset=9)
