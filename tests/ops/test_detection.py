"""NonMaxSuppression-9 against OpenVINO's CPU plugin: random boxes in both encodings (corners
given in either order), overlapping enough that the IoU threshold matters, with and without
sorting across batches and classes; all three outputs compared exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino import opset9
from ops.oracle import lpir_op, openvino_op

from lpir.errors import EvaluationError


def _boxes(rng, batches: int, count: int, encoding: str) -> np.ndarray:
    """Boxes within a 10x10 area, large enough to overlap often."""
    a = rng.uniform(0, 10, (batches, count, 2))
    size = rng.uniform(1, 5, (batches, count, 2))
    if encoding == "center":
        return np.concatenate([a, size], axis=-1).astype(np.float32)
    b = a + size * rng.choice([-1, 1], (batches, count, 2))  # corners in either order
    return np.concatenate([a, b], axis=-1).astype(np.float32)


@settings(max_examples=30, deadline=None)  # each example compiles a model on the CPU plugin
@given(seed=st.integers(0, 2**32 - 1), batches=st.integers(1, 2), classes=st.integers(1, 3),
       count=st.integers(1, 12), limit=st.integers(1, 6), iou=st.sampled_from([0.0, 0.3, 0.5, 0.9]),
       floor=st.sampled_from([-1.0, 0.2, 0.6]), encoding=st.sampled_from(["corner", "center"]),
       descending=st.booleans())
def test_matches_cpu_plugin(seed, batches, classes, count, limit, iou, floor, encoding, descending):
    rng = np.random.default_rng(seed)
    boxes = _boxes(rng, batches, count, encoding)
    scores = rng.uniform(0, 1, (batches, classes, count)).round(2).astype(np.float32)  # ties happen
    params = [np.int64(limit), np.float32(iou), np.float32(floor)]
    attrs = {"box_encoding": encoding, "sort_result_descending": descending}

    def factory(b, s, m, i, f):
        return opset9.non_max_suppression(b, s, m, i, f, box_encoding=encoding,
                                          sort_result_descending=descending, output_type="i64")

    expected = openvino_op(factory, [boxes, scores] + params, constant_inputs=(2, 3, 4))
    result = lpir_op("NonMaxSuppression", [boxes, scores] + params, attrs, opset=9, constant_inputs=(2, 3, 4))
    count_kept = int(expected[2][0])
    np.testing.assert_array_equal(result[2], expected[2])
    np.testing.assert_array_equal(result[0], expected[0][:count_kept])
    np.testing.assert_array_equal(result[1], expected[1][:count_kept])


def test_soft_suppression_is_refused():
    boxes = np.zeros((1, 2, 4), np.float32)
    scores = np.ones((1, 1, 2), np.float32)
    with pytest.raises(EvaluationError, match="soft"):
        lpir_op("NonMaxSuppression", [boxes, scores, np.int64(2), np.float32(0.5), np.float32(0), np.float32(0.5)],
                opset=9)


def test_no_box_when_the_limit_is_zero():
    """OpenVINO's plugin leaves valid_outputs uninitialised here (garbage counts), so the spec
    answers: nothing is selected."""
    boxes = np.asarray([[[0, 0, 1, 1], [0, 0, 2, 2]]], np.float32)
    scores = np.ones((1, 1, 2), np.float32)
    indices, chosen, count = lpir_op("NonMaxSuppression", [boxes, scores, np.int64(0), np.float32(0.5),
                                                           np.float32(0)], opset=9)
    assert indices.shape == (0, 3) and chosen.shape == (0, 3) and count.tolist() == [0]


def _regions(rng, count: int, height: int, width: int, scale: float) -> np.ndarray:
    """Regions [x1, y1, x2, y2] with x1 <= x2, y1 <= y2, some reaching outside the map."""
    start = rng.uniform(-2, [width / scale, height / scale], (count, 2))
    size = rng.uniform(0, 6 / scale, (count, 2))
    return np.concatenate([start, start + size], axis=-1).astype(np.float32)


@settings(max_examples=40, deadline=None)  # each example compiles a model on the CPU plugin
@given(seed=st.integers(0, 2**32 - 1), size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
       pooled=st.tuples(st.integers(1, 4), st.integers(1, 4)), ratio=st.integers(0, 3),
       scale=st.sampled_from([1.0, 0.5, 0.25]), mode=st.sampled_from(["avg", "max"]),
       aligned=st.sampled_from(["asymmetric", "half_pixel_for_nn", "half_pixel"]), count=st.integers(1, 5))
def test_roi_align_matches_cpu_plugin(seed, size, pooled, ratio, scale, mode, aligned, count):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((2, 3) + size).astype(np.float32)
    rois = _regions(rng, count, *size, scale)
    indices = rng.integers(0, 2, count).astype(np.int32)
    attrs = {"pooled_h": pooled[0], "pooled_w": pooled[1], "sampling_ratio": ratio, "spatial_scale": scale,
             "mode": mode, "aligned_mode": aligned}
    expected = openvino_op(lambda d, r, b: opset9.roi_align(d, r, b, *pooled, ratio, scale, mode, aligned),
                           [data, rois, indices])[0]
    result = lpir_op("ROIAlign", [data, rois, indices], attrs, opset=9)[0]
    assert result.shape == (count, 3) + pooled
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)


def test_roi_align_opset3_is_asymmetric_and_bad_attributes_are_refused():
    rng = np.random.default_rng(3)
    data, rois = rng.standard_normal((1, 2, 6, 6)).astype(np.float32), _regions(rng, 3, 6, 6, 1.0)
    indices = np.zeros(3, dtype=np.int64)
    attrs = {"pooled_h": 2, "pooled_w": 3, "sampling_ratio": 2, "spatial_scale": 1.0, "mode": "avg"}
    np.testing.assert_array_equal(lpir_op("ROIAlign", [data, rois, indices], attrs, opset=3)[0],
                                  lpir_op("ROIAlign", [data, rois, indices], {**attrs, "aligned_mode": "asymmetric"},
                                          opset=9)[0])
    from lpir.errors import ValidationError
    with pytest.raises(ValidationError, match="aligned_mode='centre'"):
        lpir_op("ROIAlign", [data, rois, indices], {**attrs, "aligned_mode": "centre"}, opset=9)
    with pytest.raises(ValidationError, match="mode='sum'"):
        lpir_op("ROIAlign", [data, rois, indices], {**attrs, "mode": "sum"}, opset=9)
