"""lpir.quantize against nncf.quantize on the same OpenVINO float IR and the same real samples.

NNCF is the reference: the same FakeQuantize placement (by producer and consumers, with NNCF's
node names), the same activation and weight ranges, and OpenVINO's CPU plugin (the oracle of
what runs in INT8) running as many Convolution/GroupConvolution/MatMul layers in u8/i8 on
lpir's IR as on NNCF's.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest

import lpir
import ovmodels
from lpir.ir.graph import Model, make_result
from lpir.quantization.ptq import NNCF_RANGES
import realdata

nncf = pytest.importorskip("nncf")

MODELS = ["ppocr_cls", "ppocr_rec", "ppocr_det", "minilm"]


def samples(name: str) -> list[list[np.ndarray]]:
    """The real inputs of ``name``, one sample per item (MiniLM: three batches of token ids)."""
    if name == "minilm":
        return [[ids[i:i + 1], mask[i:i + 1]] for seed in range(2) for ids, mask in [realdata.token_batch(seed=seed)]
                for i in range(len(ids))]
    batch = realdata.inputs_for(name)[0]
    return [[batch[i:i + 1]] for i in range(len(batch))]


def model_type(name: str) -> dict:
    return {"model_type": "transformer"} if name == "minilm" else {}


@pytest.fixture(scope="module")
def quantized(real_ir, tmp_path_factory):
    """``quantized(name)`` → (float IR path, NNCF's ov.Model, its IR path, lpir's model, its IR path)."""
    folder = tmp_path_factory.mktemp("ptq")
    cache = {}

    def get(name: str):
        if name not in cache:
            xml = real_ir(name)
            data = samples(name)
            reference = nncf.quantize(ovmodels.core().read_model(xml), nncf.Dataset(data), subset_size=len(data),
                                      **{k: nncf.ModelType.TRANSFORMER for k in model_type(name)})
            limits = fake_quantize_limits(reference), compressed_weights(reference), biases(reference)
            nncf_xml = ovmodels.save(reference, folder / f"{name}_nncf.xml")
            ours = lpir.quantize(lpir.read_model(xml), data, subset_size=len(data), advanced=NNCF_RANGES,
                                 **model_type(name))
            ours_xml = folder / f"{name}_lpir.xml"
            lpir.save_model(ours, ours_xml)
            cache[name] = (xml, limits, nncf_xml, ours, str(ours_xml))
        return cache[name]

    return get


def fake_quantize_limits(model: ov.Model) -> dict[str, tuple[np.ndarray, np.ndarray, int, str, tuple[str, ...]]]:
    """Each FakeQuantize by name: (input_low, input_high, levels, producer, consumers)."""
    found = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() != "FakeQuantize":
            continue
        low, high = (op.input_value(i).get_node().get_data() for i in (1, 2))
        consumers = tuple(sorted(t.get_node().get_friendly_name() for t in op.output(0).get_target_inputs()))
        found[op.get_friendly_name()] = (np.array(low), np.array(high), op.get_attributes()["levels"],
                                         op.input_value(0).get_node().get_friendly_name(), consumers)
    return found


def compressed_weights(model: ov.Model) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Weights of each layer NNCF quantized, stored ``Const(i8) → Convert → Multiply(scale)``:
    layer name → (dequantized weights, scale)."""
    found = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() not in ("Convolution", "GroupConvolution", "MatMul", "ConvolutionBackpropData", "Gather"):
            continue
        multiply = op.input_value(0 if op.get_type_name() == "Gather" else 1).get_node()
        if multiply.get_type_name() != "Multiply":
            continue
        convert, scale = (multiply.input_value(i).get_node() for i in (0, 1))
        if convert.get_type_name() != "Convert" or scale.get_type_name() != "Constant":
            continue
        integers = convert.input_value(0).get_node().get_data().astype(np.float32)
        found[op.get_friendly_name()] = (integers * scale.get_data(), np.array(scale.get_data()))
    return found


def biases(model: ov.Model) -> dict[str, np.ndarray]:
    """Bias Add name → its constant, for the Convolution and MatMul layers (where NNCF corrects them)."""
    found = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() in ("Convolution", "MatMul"):
            targets = list(op.output(0).get_target_inputs())
            add = targets[0].get_node() if len(targets) == 1 else None
            if add is not None and add.get_type_name() == "Add":
                bias = add.input_value(1 - targets[0].get_index()).get_node()
                if bias.get_type_name() == "Constant":
                    found[add.get_friendly_name()] = np.array(bias.get_data())
    return found


def lpir_weights(model: lpir.Model) -> dict[str, np.ndarray]:
    """Layer name → its weights after lpir's weight FakeQuantize."""
    fake_quantize = lpir.ops.lookup("FakeQuantize", 1)
    found = {}
    for node in model.nodes():
        if node.type == "FakeQuantize" and "/fq_weights_" in node.name:
            values = [p.source.node.tensor.numpy() for p in node.inputs]
            found[node.outputs[0].consumers[0].node.name] = fake_quantize.evaluate(*values, levels=node.attrs["levels"],
                                                                                   auto_broadcast="numpy")[0]
    return found


def lpir_limits(model: lpir.Model) -> dict[str, tuple[np.ndarray, np.ndarray, int, str, tuple[str, ...]]]:
    found = {}
    for node in model.nodes():
        if node.type == "FakeQuantize":
            low, high = (node.inputs[i].source.node.tensor.numpy() for i in (1, 2))
            consumers = tuple(sorted(p.node.name for p in node.outputs[0].consumers))
            found[node.name] = (low, high, node.attrs["levels"], node.inputs[0].source.node.name, consumers)
    return found


@pytest.mark.parametrize("name", MODELS)
def test_same_fake_quantize_placement_and_ranges_as_nncf(quantized, name):
    _, (reference, reference_weights, _), _, ours, _ = quantized(name)
    mine = {k: v for k, v in lpir_limits(ours).items() if "/fq_weights_" not in k}
    assert sorted(mine) == sorted(reference)
    for fq_name, (low, high, levels, producer, consumers) in reference.items():
        my_low, my_high, my_levels, my_producer, my_consumers = mine[fq_name]
        assert (my_levels, my_producer, my_consumers) == (levels, producer, consumers), fq_name
        np.testing.assert_allclose(my_high, high, rtol=1e-4, atol=1e-6, err_msg=fq_name)
        np.testing.assert_allclose(my_low, low, rtol=1e-4, atol=1e-6, err_msg=fq_name)
    weights = lpir_weights(ours)
    assert sorted(weights) == sorted(reference_weights) and len(weights) >= 18
    for layer, (expected, scale) in reference_weights.items():
        quantum = np.broadcast_to(np.abs(scale), expected.shape)
        assert np.all(np.abs(weights[layer] - expected) <= quantum * 1.01), layer
        assert np.mean(np.abs(weights[layer] - expected) <= quantum * 1e-3) > 0.99, layer  # same integers


@pytest.mark.parametrize("name", MODELS)
def test_bias_correction_gives_nncfs_biases(quantized, name):
    xml, (_, _, reference), _, ours, _ = quantized(name)
    original = {name: node for name, node in ((n.name, n) for n in lpir.read_model(xml).nodes())}
    changed, nncf_changed = set(), set()
    for add_name, expected in reference.items():
        add = ours.node(add_name)
        bias = next(p.source.node for p in add.inputs if p.source.node.type == "Const")
        before = next(p.source.node for p in original[add_name].inputs if p.source.node.type == "Const").tensor.numpy()
        actual = bias.tensor.numpy()
        close = np.isclose(actual, expected, rtol=1e-3, atol=1e-4 * float(np.abs(before).max()))
        assert np.mean(close) >= 0.99 and np.allclose(actual, expected, rtol=0.02, atol=1e-2 * float(np.abs(before).max())), add_name
        if not np.array_equal(actual, before):
            changed.add(add_name)
        if not np.allclose(expected, before, rtol=1e-6, atol=0):
            nncf_changed.add(add_name)
    assert changed == nncf_changed and changed  # corrected where NNCF corrects, left where its threshold rejects


@pytest.mark.parametrize("name", MODELS)
def test_openvino_runs_as_many_layers_in_int8_as_for_nncf(quantized, name):
    _, _, nncf_xml, _, ours_xml = quantized(name)
    ours, reference = ovmodels.int8_layers(ours_xml), ovmodels.int8_layers(nncf_xml)
    low_precision = {k: v for k, v in ours.items() if k[1] in ("u8", "i8")}
    assert low_precision and ours == reference
    assert sum(low_precision.values()) >= 18


@pytest.mark.parametrize("name", MODELS)
def test_lpir_and_openvino_agree_on_the_int8_model(quantized, name):
    """OpenVINO runs integer kernels whose rounding differs from the FakeQuantize formula (see
    tests/runtime/test_real_models.py): a value next to a rounding boundary moves by one quantum
    and the move cascades. The mean error (over the output range) stays within 1e-2, except
    where NNCF's own model shows the same cascade: the classifier's softmax, measured 0.020 for
    NNCF's model and 0.026 for lpir's; then within 1.5 times NNCF's."""
    _, _, nncf_xml, ours, ours_xml = quantized(name)
    inputs = realdata.inputs_for(name)

    def error(xml, model):
        expected = ovmodels.run(xml, inputs)[0]
        actual = lpir.compile_model(model)(inputs)[0]
        return float(np.mean(np.abs(actual - expected))) / (float(np.ptp(expected)) or 1.0)

    ours_error = error(ours_xml, ours)
    reference_error = error(nncf_xml, lpir.read_model(nncf_xml))
    assert ours_error <= max(1e-2, 1.5 * reference_error), (ours_error, reference_error)


def test_classifier_keeps_its_answers(quantized):
    xml, _, _, ours, _ = quantized("ppocr_cls")
    batch = realdata.text_lines(48, 192, 8)
    batch = np.concatenate([batch, batch[:, :, ::-1, ::-1]])
    expected = lpir.compile_model(lpir.read_model(xml))(batch)[0].argmax(axis=1)
    actual = lpir.compile_model(ours)(batch)[0].argmax(axis=1)
    assert np.mean(actual == expected) >= 0.9


@pytest.mark.parametrize("name", MODELS)
def test_saved_model_has_nncfs_compressed_weights_node_for_node(quantized, name):
    _, (_, reference_weights, _), nncf_xml, _, ours_xml = quantized(name)
    ours_ir, nncf_ir = (ovmodels.core().read_model(x) for x in (ours_xml, nncf_xml))
    assert sorted(compressed_weights(ours_ir)) == sorted(reference_weights)
    weights = compressed_weights(ours_ir)
    for layer, (expected, scale) in reference_weights.items():
        actual, my_scale = weights[layer]
        assert my_scale.shape == scale.shape, layer
        assert np.mean(np.abs(actual - expected) <= np.abs(scale) * 1e-3) > 0.99, layer

    def structure(model):
        return sorted((op.get_type_name(), op.get_friendly_name(), tuple(op.get_output_partial_shape(0).to_string()
                       for _ in [0]), op.get_output_element_type(0).get_type_name())
                      for op in model.get_ordered_ops() if op.get_type_name() in ("FakeQuantize", "Multiply")
                      and "fq_" in op.get_friendly_name())

    assert structure(ours_ir) == structure(nncf_ir)


@pytest.mark.parametrize("name", MODELS)
def test_compressed_model_reads_back_with_the_same_weights_and_outputs(quantized, name):
    """The folded weights are the FakeQuantize's weights up to float rounding (``q * scale``
    versus the FakeQuantize formula: a few ULPs); through the activation quantizers such ULPs
    cascade as between lpir and OpenVINO, so outputs agree in the mean, not bit for bit."""
    _, _, _, ours, ours_xml = quantized(name)
    read_back = lpir.read_model(ours_xml)
    assert not any(n.type == "FakeQuantize" and n.inputs[0].source.node.type == "Const" for n in read_back.nodes())
    folded = {n.outputs[0].consumers[0].node.name: n for n in read_back.nodes()
              if n.type == "Multiply" and "/fq_weights_" in n.name}
    weights = lpir_weights(ours)
    assert sorted(folded) == sorted(weights)
    for layer, expected in weights.items():
        actual = lpir.compile_model(Model([], [make_result(folded[layer].outputs[0])]))([])[0]
        np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7 * float(np.abs(expected).max()), err_msg=layer)
    inputs = realdata.inputs_for(name)
    expected = lpir.compile_model(ours)(inputs)[0]
    actual = lpir.compile_model(read_back)(inputs)[0]
    assert float(np.mean(np.abs(actual - expected))) <= 2e-2 * (float(np.ptp(expected)) or 1.0)
