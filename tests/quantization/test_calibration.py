"""The calibration pass: samples batched and run side by side give each sample's statistics as
one sample at a time in one thread (the ranges exactly); BLAS is kept to one thread meanwhile."""

from __future__ import annotations

import numpy as np
import pytest
import threadpoolctl

import lpir
import realdata
from lpir.ir.graph import Model, make_constant, make_parameter, make_result
from lpir.ops import build
from lpir.quantization import bias_correction, ptq
from lpir.quantization.calibration import calibration_pass
from lpir.quantization.dataset import as_dataset
from lpir.quantization.placement import plan_quantization
from lpir.runtime.blas import blas_threads
from lpir.runtime.constants import fold_constant


@pytest.fixture(scope="module")
def classifier_and_lines(real_ir):
    """The PP-OCR text-direction classifier and seven real text lines, one sample each."""
    lines = realdata.text_lines(48, 192, 7)
    return lpir.read_model(real_ir("ppocr_cls")), [lines[i:i + 1] for i in range(len(lines))]


def statistics(model, samples, **options) -> ptq.Calibration:
    """Every statistic lpir.quantize gathers on ``model`` (ranges and bias-correction means)."""
    plan = plan_quantization(model, symmetric_activations=True, transformer=False, ignored={},
                             overflow_fix="first_layer")
    layers = list(dict.fromkeys(w.layer for w in plan.weights))
    biased = bias_correction.find_biased_layers(model, layers, fold_constant)
    original = calibration_pass.__kwdefaults__.copy()
    calibration_pass.__kwdefaults__.update(options)
    try:
        return ptq.collect(model, plan, biased, as_dataset(samples), len(samples))
    finally:
        calibration_pass.__kwdefaults__.update(original)


def test_batched_parallel_calibration_gives_each_samples_statistics(classifier_and_lines):
    classifier, crops = classifier_and_lines
    assert classifier.parameters[0].outputs[0].shape[0] != 1  # an open batch: samples do get stacked
    serial = statistics(classifier, crops, workers=1, batch=1)
    fast = statistics(classifier, crops, workers=2, batch=3)  # 7 samples: chunks of 3, 3 and 1
    assert fast.samples == serial.samples == 7
    assert fast.activations.keys() == serial.activations.keys() and len(serial.activations) > 20
    for key, stat in serial.activations.items():
        assert len(fast.activations[key].mins) == 7
        assert fast.activations[key].mins == stat.mins and fast.activations[key].maxs == stat.maxs
    assert fast.means.keys() == serial.means.keys() and serial.means
    for key, mean in serial.means.items():
        assert fast.means[key].count == 7 and fast.means[key].shape == mean.shape
        # within an ulp: BLAS may round a product of several rows differently from one row
        np.testing.assert_allclose(fast.means[key].result(), mean.result(), rtol=2e-7, atol=0)


def test_a_model_that_folds_the_batch_away_is_calibrated_one_sample_at_a_time():
    x = make_parameter("f32", [-1, 4], name="x")
    flat = build("Reshape", [x.outputs[0], make_constant(np.array([1, -1], np.int64)).outputs[0]],
                 {"special_zero": False})
    model = Model([x], [make_result(flat.outputs[0])], name="flattens")
    assert not isinstance(x.outputs[0].shape[0], int)
    samples = [np.full((1, 4), i, np.float32) for i in range(5)]

    class Seen:
        def __init__(self):
            self.calls = []

        def fresh(self):
            return Seen()

        def observe(self, output, value, index, batch):
            self.calls.append((index, batch, value.shape, float(value.max())))

        def absorb(self, other):
            self.calls.extend(other.calls)

    seen = Seen()
    assert calibration_pass(model, [flat.outputs[0]], seen, as_dataset(samples), 5, workers=2, batch=4) == 5
    assert seen.calls == [(i, 1, (1, 4), float(i)) for i in range(5)]


def test_blas_is_kept_to_one_thread_inside_the_block_and_restored_after():
    def openblas_threads() -> list[int]:
        return [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["internal_api"] == "openblas"]

    np.ones((2, 2)) @ np.ones((2, 2))
    before = openblas_threads()
    assert before  # numpy's wheels bring OpenBLAS
    with blas_threads(1) as limited:
        assert limited and set(openblas_threads()) == {1}
        with blas_threads(1):
            assert set(openblas_threads()) == {1}
        assert set(openblas_threads()) == {1}  # the outer block still holds the limit
    assert openblas_threads() == before
