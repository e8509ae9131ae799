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
