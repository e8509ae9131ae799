"""ONNX random generators: lpir's import gives the numbers OpenVINO's import of the same model
gives (CPU plugin, f32 hint; its f32 RandomUniform fuses the scaling into one FMA, so uniform
draws agree to one rounding of the range and normal draws to f32 rounding of the transcendental
steps). ONNX Runtime draws from another generator: it checks shapes, types and value ranges."""

from __future__ import annotations

import numpy as np
import onnx
import openvino as ov
import pytest
from onnx.reference import ReferenceEvaluator
from onnx_check import lpir_run, ort_run, single_node_model

from ovmodels import F32_HINT

X = np.random.default_rng(5).uniform(0, 1, (3, 4, 5)).astype(np.float32)
LIKE = [("x", X, False)]
CASES = {
    "uniform": ("RandomUniform", [], {"shape": [3, 4, 5], "low": -2.0, "high": 5.0, "seed": 3.5}),
    "uniform_like": ("RandomUniformLike", LIKE, {"low": 1.0, "high": 2.0, "seed": 17.0}),
    "normal": ("RandomNormal", [], {"shape": [6, 50], "mean": 1.5, "scale": 2.0, "seed": 0.25}),
    "normal_like": ("RandomNormalLike", LIKE, {"seed": 123.0}),
}


def _write(model: onnx.ModelProto, tmp_path) -> str:
    path = str(tmp_path / "model.onnx")
    onnx.save(model, path)
    return path


def _openvino_import(path: str, feeds) -> np.ndarray:
    return np.asarray(ov.Core().compile_model(path, "CPU", F32_HINT)(feeds)[0])


@pytest.mark.parametrize("case", sorted(CASES))
def test_seeded_draws_equal_openvinos_import(case, tmp_path):
    op_type, inputs, attrs = CASES[case]
    model, feeds = single_node_model(op_type, inputs, opset=21, **attrs)
    path = _write(model, tmp_path)
    ours, theirs = lpir_run(path, feeds)[0], _openvino_import(path, feeds)
    assert ours.dtype == theirs.dtype == np.float32 and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=2e-6, atol=2e-6)
    assert np.mean(ours == theirs) > 0.5  # most values are bit-identical
    reference = ort_run(path, feeds)[0]
    assert reference.shape == ours.shape and reference.dtype == ours.dtype


def test_uniform_draws_stay_in_range_with_the_spread_onnxruntime_has(tmp_path):
    model, feeds = single_node_model("RandomUniform", [], opset=21, shape=[4000], low=-2.0, high=5.0, seed=1.0)
    path = _write(model, tmp_path)
    ours, reference = lpir_run(path, feeds)[0], ort_run(path, feeds)[0]
    for values in (ours, reference):
        assert values.min() >= -2.0 and values.max() < 5.0
        assert abs(values.mean() - 1.5) < 0.15 and abs(values.std() - 7 / np.sqrt(12)) < 0.1


def test_normal_draws_have_the_moments_onnxruntime_has(tmp_path):
    model, feeds = single_node_model("RandomNormal", [], opset=21, shape=[20000], mean=1.5, scale=2.0, seed=2.0)
    path = _write(model, tmp_path)
    for values in (lpir_run(path, feeds)[0], ort_run(path, feeds)[0]):
        assert abs(values.mean() - 1.5) < 0.05 and abs(values.std() - 2.0) < 0.05


def test_unseeded_draws_differ_between_runs(tmp_path):
    model, feeds = single_node_model("RandomUniform", [], opset=21, shape=[64])
    path = _write(model, tmp_path)
    first, second = lpir_run(path, feeds)[0], lpir_run(path, feeds)[0]
    assert not np.array_equal(first, second) and first.min() >= 0 and first.max() < 1


@pytest.mark.parametrize("dtype", [None, onnx.TensorProto.INT32, onnx.TensorProto.BOOL])
def test_bernoulli_draws_zeros_and_ones_at_the_given_rates(dtype, tmp_path):
    """Rates as ONNX's reference evaluator draws them. ONNX Runtime 1.32 gives the types and
    shapes but draws 1 with probability 1 - p, against the spec, so its rates are not used."""
    p = np.repeat(np.float32([[0.0, 0.2, 0.5, 0.9, 1.0]]), 2000, axis=0)
    attrs = {"seed": 4.0} | ({} if dtype is None else {"dtype": dtype})
    model, feeds = single_node_model("Bernoulli", [("p", p, False)], opset=21, **attrs)
    path = _write(model, tmp_path)
    ours, runtime = lpir_run(path, feeds)[0], ort_run(path, feeds)[0]
    reference = ReferenceEvaluator(model).run(None, {"p": p})[0]
    assert ours.dtype == runtime.dtype == reference.dtype and ours.shape == runtime.shape
    assert set(np.unique(ours.astype(np.float64))) <= {0.0, 1.0}
    for values in (ours, reference):
        rates = values.astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(rates, [0.0, 0.2, 0.5, 0.9, 1.0], atol=0.04)


def test_bernoulli_is_a_uniform_draw_below_the_probability(tmp_path):
    """Same seed, same sequence: Bernoulli(p) is 1 exactly where RandomUniformLike(p) < p."""
    p = np.random.default_rng(3).uniform(0, 1, (7, 9)).astype(np.float32)
    hits = lpir_run(_write(single_node_model("Bernoulli", [("p", p, False)], opset=21, seed=9.0)[0], tmp_path), [p])[0]
    draws = lpir_run(_write(single_node_model("RandomUniformLike", [("p", p, False)], opset=21, seed=9.0)[0],
                            tmp_path), [p])[0]
    np.testing.assert_array_equal(hits, (draws < p).astype(np.float32))


@pytest.mark.parametrize("dtype", [onnx.TensorProto.INT32, onnx.TensorProto.INT64])
def test_multinomial_equals_openvinos_import(dtype, tmp_path):
    logits = np.log(np.random.default_rng(8).uniform(0.05, 1, (3, 7))).astype(np.float32)
    model, feeds = single_node_model("Multinomial", [("x", logits, False)], opset=21, sample_size=9, seed=2.5,
                                     dtype=dtype)
    path = _write(model, tmp_path)
    ours, runtime = lpir_run(path, feeds)[0], ort_run(path, feeds)[0]
    np.testing.assert_array_equal(ours, _openvino_import(path, feeds))
    assert ours.dtype == runtime.dtype and ours.shape == runtime.shape == (3, 9)


def test_multinomial_draws_classes_at_the_rates_onnxruntime_has(tmp_path):
    probs = np.float32([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25]])
    model, feeds = single_node_model("Multinomial", [("x", np.log(probs), False)], opset=21, sample_size=20000,
                                     seed=1.0)
    path = _write(model, tmp_path)
    for drawn in (lpir_run(path, feeds)[0], ort_run(path, feeds)[0]):
        for row, expected in zip(drawn, probs):
            np.testing.assert_allclose(np.bincount(row, minlength=3) / row.size, expected, atol=0.015)
