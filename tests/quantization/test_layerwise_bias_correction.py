"""lpir.quantize(fast_bias_correction=False) against nncf.quantize(fast_bias_correction=False):
the same layers corrected, the same corrected biases, on the real classifier and on small graphs
built to hit the algorithm's rules (threshold, depthwise layers, branches that meet)."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import lpir
import ovmodels
import realdata
from lpir.quantization.ptq import NNCF_RANGES

nncf = pytest.importorskip("nncf")

BIASED_TYPES = ("Convolution", "GroupConvolution", "MatMul")


def ov_biases(model: ov.Model) -> dict[str, np.ndarray]:
    """Bias Add name → its constant, for every weighted layer followed by an Add of a constant."""
    found = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Add":
            continue
        for port in (0, 1):
            layer, bias = op.input_value(1 - port).get_node(), op.input_value(port).get_node()
            if layer.get_type_name() in BIASED_TYPES and bias.get_type_name() == "Constant":
                found[op.get_friendly_name()] = np.array(bias.get_data())
    return found


def lpir_bias(model: lpir.Model, add_name: str) -> np.ndarray:
    return next(p.source.node for p in model.node(add_name).inputs if p.source.node.type == "Const").tensor.numpy()


def compare(xml: str, samples: list, *, subset_size: int | None = None) -> tuple[set[str], set[str], dict]:
    """Quantize ``xml`` with both; returns (layers NNCF corrected, layers lpir corrected, the
    largest difference per bias Add relative to NNCF's shift)."""
    subset_size = subset_size or len(samples)
    before = ov_biases(ovmodels.core().read_model(xml))
    reference = ov_biases(nncf.quantize(ovmodels.core().read_model(xml), nncf.Dataset(samples), subset_size=subset_size,
                                        fast_bias_correction=False))
    ours = lpir.quantize(lpir.read_model(xml), samples, subset_size=subset_size, fast_bias_correction=False,
                         advanced=NNCF_RANGES)
    theirs_changed, ours_changed, errors = set(), set(), {}
    for name, original in before.items():
        expected, actual = reference[name], lpir_bias(ours, name)
        if not np.array_equal(expected, original):
            theirs_changed.add(name)
        if not np.array_equal(actual, original):
            ours_changed.add(name)
        shift = float(np.abs(expected - original).max())
        errors[name] = (float(np.abs(actual - expected).max()), shift, float(np.abs(original).max()))
    return theirs_changed, ours_changed, errors


def assert_same_biases(errors: dict) -> None:
    """Both compute the same float32 means of the same replayed tensors; only the order of the
    sums differs, so a corrected bias may differ from NNCF's by float32 rounding, which the
    later layers inherit through their inputs (measured on the classifier: at most 3.5e-6,
    or 1.3e-4 of the shift). Allowed: 1e-3 of the largest shift of that layer, plus 1e-6 of
    its bias. A different algorithm (the latest value of a tensor carried on instead of the
    first) moves the classifier's biases by up to the size of the shift itself."""
    for name, (error, shift, bias) in errors.items():
        assert error <= 1e-3 * shift + 1e-6 * bias, (name, error, shift)


@pytest.fixture(scope="module")
def classifier_result(real_ir):
    batch = realdata.text_lines(48, 192, 20)
    return compare(real_ir("ppocr_cls"), [[batch[i:i + 1]] for i in range(len(batch))])


def test_classifier_biases_are_nncfs(classifier_result):
    theirs, ours, errors = classifier_result
    assert ours == theirs and len(ours) >= 50
    assert_same_biases(errors)


def test_classifier_depthwise_layers_are_corrected_too(classifier_result, real_ir):
    """BiasCorrection (not its fast variant) corrects depthwise convolutions."""
    _, ours, _ = classifier_result
    model = ovmodels.core().read_model(real_ir("ppocr_cls"))
    depthwise = {op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "Add"
                 and op.input_value(0).get_node().get_type_name() == "GroupConvolution"}
    assert len(depthwise) >= 10 and depthwise <= ours


def _weights(rng, *shape, scale=0.3):
    return ops.constant(rng.normal(0, scale, shape).astype(np.float32))


def _conv(x, rng, out_channels, in_channels, bias):
    conv = ops.convolution(x, _weights(rng, out_channels, in_channels, 3, 3), [1, 1], [1, 1], [1, 1], [1, 1])
    return ops.add(conv, ops.constant(np.asarray(bias, np.float32).reshape(1, -1, 1, 1)))


def _depthwise(x, rng, channels, bias):
    conv = ops.group_convolution(x, _weights(rng, channels, 1, 1, 3, 3), [1, 1], [1, 1], [1, 1], [1, 1])
    return ops.add(conv, ops.constant(np.asarray(bias, np.float32).reshape(1, -1, 1, 1)))


def _save(result, parameter, tmp_path, name) -> str:
    model = ov.Model([ops.result(result)], [parameter], name)
    return ovmodels.save(model, tmp_path / f"{name}.xml")


def _images(rng, count, shape):
    return [[rng.normal(0.5, 1.0, shape).astype(np.float32)] for _ in range(count)]


def test_threshold_rejects_where_nncfs_does(tmp_path):
    """A bias with zeros (any shift is infinitely large relative to it) and one of tiny values
    stay; the others are corrected; the depthwise layer in between is corrected too."""
    rng = np.random.default_rng(0)
    x = ops.parameter([1, 3, 12, 12], np.float32, name="x")
    a = ops.relu(_conv(x, rng, 8, 3, rng.normal(0, 1, 8)))
    b = ops.relu(_conv(a, rng, 8, 8, np.r_[0.0, rng.normal(0, 1, 7)]))
    c = ops.relu(_depthwise(b, rng, 8, rng.normal(0, 1, 8)))
    d = ops.relu(_conv(c, rng, 6, 8, np.full(6, 1e-7)))
    e = _conv(d, rng, 4, 6, rng.normal(0, 1, 4))
    xml = _save(e, x, tmp_path, "chain")
    theirs, ours, errors = compare(xml, _images(rng, 15, (1, 3, 12, 12)))
    assert ours == theirs and len(ours) == 3
    assert_same_biases(errors)


def test_branches_that_meet_use_the_first_computed_input(tmp_path):
    """A squeeze-and-excitation block (with HardSigmoid, which keeps it out of NNCF's ignored
    pattern) and a residual Add: the layer after them is reached from several corrected layers;
    its input is carried from the first, as NNCF does."""
    rng = np.random.default_rng(1)
    x = ops.parameter([1, 4, 10, 10], np.float32, name="x")
    stem = ops.relu(_conv(x, rng, 8, 4, rng.normal(0, 1, 8)))
    main = ops.relu(_conv(stem, rng, 8, 8, rng.normal(0, 1, 8)))
    pooled = ops.reduce_mean(main, ops.constant(np.array([2, 3])), keep_dims=True)
    squeeze = ops.relu(ops.add(ops.convolution(pooled, _weights(rng, 4, 8, 1, 1), [1, 1], [0, 0], [0, 0], [1, 1]),
                               ops.constant(rng.normal(0, 1, (1, 4, 1, 1)).astype(np.float32))))
    excite = ops.hard_sigmoid(ops.add(ops.convolution(squeeze, _weights(rng, 8, 4, 1, 1), [1, 1], [0, 0], [0, 0], [1, 1]),
                                      ops.constant(rng.normal(0, 1, (1, 8, 1, 1)).astype(np.float32))),
                              ops.constant(np.float32(1 / 6)), ops.constant(np.float32(0.5)))
    merged = ops.add(ops.multiply(main, excite), stem)
    head = ops.reduce_mean(_conv(merged, rng, 5, 8, rng.normal(0, 1, 5)), ops.constant(np.array([2, 3])), keep_dims=False)
    out = ops.add(ops.matmul(head, _weights(rng, 5, 3), False, False), ops.constant(rng.normal(0, 1, 3).astype(np.float32)))
    xml = _save(out, x, tmp_path, "branches")
    theirs, ours, errors = compare(xml, _images(rng, 20, (1, 4, 10, 10)))
    assert ours == theirs and len(ours) == 6
    assert_same_biases(errors)


def _biased_matmul(bias: np.ndarray):
    """x → MatMul(constant) → Add(bias), as lpir's biased layer."""
    from lpir.ir.graph import Model, make_constant, make_parameter, make_result
    from lpir.ops import build
    from lpir.quantization.bias_correction import find_biased_layers
    x = make_parameter("f32", [1, bias.size], name="x")
    layer = build("MatMul", [x.outputs[0], make_constant(np.eye(bias.size, dtype=np.float32)).outputs[0]], {})
    add = build("Add", [layer.outputs[0], make_constant(bias).outputs[0]], {})
    model = Model([x], [make_result(add.outputs[0])])
    return find_biased_layers(model, [layer], lambda out: out.node.tensor.numpy())[0]


finite = {"allow_nan": False, "allow_infinity": False, "width": 32}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-10, 10, **finite), st.floats(-10, 10, **finite)), min_size=1, max_size=6),
       st.sampled_from(["layerwise", "fast"]))
def test_threshold_rule_is_nncfs(pairs, variant):
    """Whether a shift is applied, against NNCF's own magnitude functions and thresholds."""
    from nncf.quantization.algorithms.bias_correction.algorithm import BIAS_CORRECTION_THRESHOLD, BiasCorrection
    from nncf.quantization.algorithms.fast_bias_correction.algorithm import (FAST_BIAS_CORRECTION_THRESHOLD,
                                                                             FastBiasCorrection)
    from nncf.tensor import Tensor

    from lpir.quantization import bias_correction, layerwise_bias_correction

    bias = np.array([b for b, _ in pairs], np.float32)
    shift = np.array([s for _, s in pairs], np.float32)
    reference, threshold = ((BiasCorrection, BIAS_CORRECTION_THRESHOLD) if variant == "layerwise"
                            else (FastBiasCorrection, FAST_BIAS_CORRECTION_THRESHOLD))
    magnitude = reference._get_bias_shift_magnitude(Tensor(bias), Tensor(bias + shift))
    magnitude = float(getattr(magnitude, "data", magnitude))  # a Tensor, or inf for a bias with zeros
    assume(not np.isfinite(magnitude) or abs(magnitude - threshold) > 1e-3 * threshold)  # float32 rounding at the edge
    biased = _biased_matmul(bias)
    if variant == "layerwise":
        applied = bias_correction.shift_bias(biased, shift, threshold=layerwise_bias_correction.THRESHOLD,
                                             eps=layerwise_bias_correction.EPS)
    else:
        applied = bias_correction.shift_bias(biased, shift, threshold=bias_correction.THRESHOLD)
    assert applied == (magnitude < threshold)
    if applied:
        new = biased.add.inputs[biased.bias_port].source.node.tensor.numpy()
        np.testing.assert_allclose(new, bias + shift, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fast", [True, False])
def test_a_fixed_batch_is_corrected_as_nncf_does(tmp_path, fast):
    """A model whose batch is fixed at 4 takes each calibration item whole: both variants
    correct its biases as NNCF does (the fast one runs the mean input in every row)."""
    rng = np.random.default_rng(3)
    x = ops.parameter([4, 3, 12, 12], np.float32, name="x")
    xml = _save(_conv(ops.relu(_conv(x, rng, 8, 3, rng.normal(0, 1, 8))), rng, 4, 8, rng.normal(0, 1, 4)),
                x, tmp_path, "batch4")
    samples = [[rng.normal(0.5, 1.0, (4, 3, 12, 12)).astype(np.float32)] for _ in range(6)]
    before = ov_biases(ovmodels.core().read_model(xml))
    reference = ov_biases(nncf.quantize(ovmodels.core().read_model(xml), nncf.Dataset(samples), subset_size=6,
                                        fast_bias_correction=fast))
    ours = lpir.quantize(lpir.read_model(xml), samples, subset_size=6, fast_bias_correction=fast, advanced=NNCF_RANGES)
    for name, original in before.items():
        shift = np.abs(reference[name] - original).max()
        assert shift > 1e-3
        assert np.abs(lpir_bias(ours, name) - reference[name]).max() <= 1e-3 * shift + 1e-6 * np.abs(original).max()
