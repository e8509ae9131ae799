"""lpir.quantize as a user calls it: datasets, presets, ignored scopes, and every bad input."""

from __future__ import annotations


import numpy as np
import pytest

import lpir
import realdata
from lpir.ir.graph import Model, make_parameter, make_result
from lpir.ops import build


@pytest.fixture(scope="module")
def classifier(real_ir):
    return lpir.read_model(real_ir("ppocr_cls"))


@pytest.fixture(scope="module")
def crops():
    batch = realdata.text_lines(48, 192, 3)
    return [batch[i:i + 1] for i in range(len(batch))]


def fake_quantizes(model: Model) -> dict[str, object]:
    return {n.name: n for n in model.nodes() if n.type == "FakeQuantize"}


def test_input_model_is_left_unchanged_and_dataset_transform_is_applied(classifier, crops):
    before = [(n.name, n.type) for n in classifier.nodes()]
    seen = []
    dataset = lpir.Dataset(range(len(crops)), lambda i: seen.append(i) or {"x": crops[i]})
    quantized = lpir.quantize(classifier, dataset, subset_size=2)
    assert [(n.name, n.type) for n in classifier.nodes()] == before
    assert seen == [0, 1]  # subset_size samples, in order
    assert len(fake_quantizes(quantized)) == 80 + 54


def test_batched_calibration_gives_the_per_sample_statistics(classifier, crops):
    one_by_one = fake_quantizes(lpir.quantize(classifier, crops, subset_size=3))
    batched = fake_quantizes(lpir.quantize(classifier, [np.concatenate(crops)], subset_size=3))
    assert one_by_one.keys() == batched.keys()
    for name, node in one_by_one.items():
        if "fq_weights" in name:
            continue
        for port in (1, 2):
            np.testing.assert_allclose(batched[name].inputs[port].source.node.tensor.numpy(),
                                       node.inputs[port].source.node.tensor.numpy(), rtol=1e-5, err_msg=name)


def test_mixed_preset_gives_asymmetric_activations(classifier, crops):
    quantized = lpir.quantize(classifier, crops[:1], preset="mixed", subset_size=1)
    from lpir.analysis.precision import precision_details
    details = [precision_details(n.attrs["levels"], n.inputs[3].source.node.tensor.numpy(),
                                 n.inputs[4].source.node.tensor.numpy())
               for name, n in fake_quantizes(quantized).items() if "fq_weights" not in name]
    assert any(d.has_zero_point for d in details)


def test_ignored_scope_keeps_layers_in_float(classifier, crops):
    conv = next(n for n in classifier.nodes() if n.type == "Convolution")
    quantized = lpir.quantize(classifier, crops[:1], subset_size=1,
                              ignored_scope=lpir.IgnoredScope(names=[conv.name], types=["GroupConvolution"]))
    kept = quantized.node(conv.name)
    assert all(p.source.node.type != "FakeQuantize" for p in kept.inputs)
    for node in quantized.nodes():
        if node.type == "GroupConvolution":
            assert node.inputs[1].source.node.type != "FakeQuantize"
    assert len(fake_quantizes(quantized)) < 80 + 54


@pytest.mark.parametrize("kwargs, fragment", [
    ({"subset_size": 0}, "subset_size=0"),
    ({"preset": "fast"}, "preset='fast'"),
    ({"model_type": "cnn"}, "model_type='cnn'"),
    ({"target_device": "GPU"}, "target_device='GPU'"),
    ({"ignored_scope": lpir.IgnoredScope(names=["no such layer", "nor this"])}, "'no such layer', name 'nor this'"),
    ({"ignored_scope": lpir.IgnoredScope(types=["LSTMSequence"])}, "type 'LSTMSequence'"),
    ({"advanced": {"activations_range_estimator_params": "entropy"}}, "activations_range_estimator_params='entropy'"),
    ({"advanced": {"weights_range_estimator_params": "histogram"}}, "weights_range_estimator_params='histogram'"),
    ({"advanced": {"range_estimator": "mse"}}, "unknown option(s) ['range_estimator']"),
])
def test_bad_arguments_are_one_clear_error(classifier, crops, kwargs, fragment):
    with pytest.raises(lpir.LpirError, match=None) as error:
        lpir.quantize(classifier, crops, **kwargs)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_unmatched_ignored_names_are_allowed_without_validation(classifier, crops):
    quantized = lpir.quantize(classifier, crops[:1], subset_size=1,
                              ignored_scope=lpir.IgnoredScope(names=["no such layer"], validate=False))
    assert fake_quantizes(quantized)


def test_empty_dataset(classifier):
    with pytest.raises(lpir.ValidationError, match="calibration dataset is empty"):
        lpir.quantize(classifier, [])


@pytest.mark.parametrize("sample, fragment", [
    (np.zeros((1, 3, 48), np.float32), "input 'x' must have shape"),
    (np.zeros((1, 3, 48, 192), np.int32), "input 'x' must be f32"),
    ({"image": np.zeros((1, 3, 48, 192), np.float32)}, "no input 'image'"),
])
def test_bad_sample_names_its_index_and_the_input(classifier, crops, sample, fragment):
    with pytest.raises(lpir.ValidationError) as error:
        lpir.quantize(classifier, [crops[0], crops[1], sample])
    assert str(error.value).startswith("calibration sample 2:") and fragment in str(error.value)


def test_nan_reaching_a_statistic_names_the_layer_and_the_sample(classifier, crops):
    poisoned = crops[1].copy()
    poisoned[0, 0, 10, 10] = np.nan
    with pytest.raises(lpir.QuantizationError) as error:
        lpir.quantize(classifier, [crops[0], poisoned])
    message = str(error.value)
    assert "calibration sample 1" in message and "'x'" in message and "NaN" in message


def test_nothing_to_quantize_warns_and_returns_the_model_unchanged():
    x = make_parameter("f32", [1, 4], name="x")
    model = Model([x], [make_result(build("Relu", [x.outputs[0]]).outputs[0])], name="tiny")
    with pytest.warns(UserWarning, match="no layer to quantize"):
        result = lpir.quantize(model, [np.ones((1, 4), np.float32)])
    assert [n.type for n in result.nodes()] == [n.type for n in model.nodes()]
    assert result is not model


def test_bias_correction_can_be_turned_off(classifier, crops):
    corrected = lpir.quantize(classifier, crops, subset_size=3)
    plain = lpir.quantize(classifier, crops, subset_size=3, fast_bias_correction=None)
    assert len([n for n in corrected.nodes() if n.name.endswith("/corrected")]) >= 20
    assert not [n for n in plain.nodes() if n.name.endswith("/corrected")]
    layerwise = lpir.quantize(classifier, crops, subset_size=3, fast_bias_correction=False)
    corrected_layers = {n.outputs[0].consumers[0].node.inputs[0].source.node.type
                        for n in layerwise.nodes() if n.name.endswith("/corrected")}
    assert corrected_layers == {"Convolution", "GroupConvolution", "MatMul"}  # depthwise layers too
