"""``inspect_model`` on quantized IRs that OpenVINO wrote; expectations read from OpenVINO's own graph."""

from __future__ import annotations

import json

import numpy as np
import openvino as ov
import ovmodels
import pytest
from openvino import opset13 as ops

import lpir
from lpir.analysis import inspect_model


def ov_constants(xml: str, etype: str) -> list[np.ndarray]:
    """Values of the Constants of ``etype`` in the model as OpenVINO reads it, in graph order."""
    model = ovmodels.core().read_model(xml)
    return [node.get_data().copy() for node in model.get_ordered_ops()
            if node.get_type_name() == "Constant" and node.get_element_type().get_type_name() == etype]


def report_of(path: str, **kwargs):
    return inspect_model(lpir.read_model(path), **kwargs)


def test_fake_quantize_levels_ranges_and_precision(quantized_ir):
    path = quantized_ir("fq_conv")
    report = report_of(path)
    ov_model = ovmodels.core().read_model(path)
    fqs = [n for n in ov_model.get_ordered_ops() if n.get_type_name() == "FakeQuantize"]
    assert [fq.name for fq in report.fake_quantize] == [n.get_friendly_name() for n in fqs]
    for info, node in zip(report.fake_quantize, fqs):
        limits = [node.input_value(i).get_node().get_data() for i in range(1, 5)]
        assert info.levels == node.get_levels()
        assert info.output_range == pytest.approx((limits[2].min(), limits[3].max()))
        data_is_const = node.input_value(0).get_node().get_type_name() == "Constant"
        assert info.applies_to == ("weights" if data_is_const else "activations")
        per_channel = any(np.asarray(v).size > 1 for v in limits)
        assert info.granularity == ("per-channel" if per_channel else "per-tensor")
        # activations from 0 → u8; symmetric weights with 255 levels → i8; no zero point anywhere
        assert info.precision == ("i8" if data_is_const else "u8")
        assert not info.zero_point
    assert report.fake_quantize[1].channel_axis == 0
    assert [layer.mode for layer in report.layers] == ["low-precision", "low-precision"]


def test_int8_compressed_weights(quantized_ir):
    report = report_of(quantized_ir("int8_weights"))
    by_type = {w.element_type: w for w in report.compressed_weights}
    assert set(by_type) == {"i8", "u8"}
    assert (by_type["i8"].granularity, by_type["i8"].zero_point, by_type["i8"].shape) == ("per-channel", False, [6, 4, 3, 3])
    assert (by_type["u8"].granularity, by_type["u8"].zero_point, by_type["u8"].shape) == ("per-channel", True, [10, 216])
    modes = {layer.type: layer.mode for layer in report.layers}
    assert modes == {"Convolution": "weight-compressed", "MatMul": "weight-compressed"}


@pytest.mark.parametrize("name, etype, zero_point", [("u4_group", "u4", True), ("i4_group", "i4", False)])
def test_int4_group_weights(quantized_ir, name, etype, zero_point):
    report = report_of(quantized_ir(name))
    [weight] = report.compressed_weights
    assert (weight.element_type, weight.granularity, weight.group_size, weight.zero_point) == (etype, "group", 16, zero_point)
    assert weight.scale_type == "f16"
    [layer] = report.layers
    assert layer.mode == "weight-compressed" and layer.inputs[0] == "float"


def test_sparsity_matches_numpy_counts(quantized_ir):
    path = quantized_ir("int8_weights")
    report = report_of(path)
    [conv_w] = ov_constants(path, "i8")
    u8 = ov_constants(path, "u8")
    weights, zero_point = sorted(u8, key=np.size, reverse=True)
    expected = {"Convolution": (conv_w.size, int(np.sum(conv_w == 0))),
                "MatMul": (weights.size, int(np.sum(weights == zero_point)))}
    assert {s.op_type: (s.elements, s.zeros) for s in report.sparsity} == expected


def unpacked_u4(xml: str) -> list[np.ndarray]:
    """u4 Constants as OpenVINO holds them, unpacked by hand (element 2k in the low nibble of byte k)."""
    model = ovmodels.core().read_model(xml)
    arrays = []
    for node in model.get_ordered_ops():
        if node.get_type_name() == "Constant" and node.get_element_type() == ov.Type.u4:
            packed = np.frombuffer(node.get_data().tobytes(), np.uint8)
            codes = np.stack([packed & 0x0F, packed >> 4], axis=1).reshape(-1)
            shape = tuple(node.get_output_shape(0))
            arrays.append(codes[: int(np.prod(shape))].reshape(shape))
    return arrays


def test_sparsity_of_u4_counts_codes_equal_to_zero_point(quantized_ir):
    path = quantized_ir("u4_group")
    report = report_of(path)
    weights, zero_point = sorted(unpacked_u4(path), key=np.size, reverse=True)
    [layer] = report.sparsity
    assert (layer.elements, layer.zeros) == (weights.size, int(np.sum(weights == zero_point)))


def mixed_model() -> ov.Model:
    """A sparse float conv fed by an FQ (float: weights not quantized) and a fully quantized MatMul."""
    rng = np.random.default_rng(5)
    x = ops.parameter([1, 2, 6, 6], np.float32, name="x")
    def c(value):
        return ops.constant(np.asarray(value, np.float32))

    act = ops.fake_quantize(x, c(0), c(1), c(0), c(1), 256)
    w = rng.normal(size=(4, 2, 3, 3)).astype(np.float32)
    w[rng.random(w.shape) < 0.4] = 0.0
    conv = ops.convolution(act, ops.constant(w), [1, 1], [0, 0], [0, 0], [1, 1])
    flat = ops.reshape(conv, ops.constant(np.array([1, 64], np.int64)), False)
    fq_flat = ops.fake_quantize(flat, c(-3), c(3), c(-3), c(3 * 127 / 128), 256)
    wq = rng.integers(-127, 128, size=(5, 64)).astype(np.int8)
    wq[:, :10] = 0
    dq = ops.multiply(ops.convert(ops.constant(wq), "f32"), c(np.full((5, 1), 0.01)))
    mm = ops.matmul(fq_flat, dq, False, True)
    return ov.Model([ops.result(mm)], [x], "mixed")


def test_layer_classification_and_reasons(tmp_path):
    path = ovmodels.save(mixed_model(), tmp_path / "mixed.xml")
    report = report_of(path)
    layers = {layer.type: layer for layer in report.layers}
    assert layers["Convolution"].mode == "float" and "input 1" in layers["Convolution"].reason
    assert layers["MatMul"].mode == "low-precision"
    assert layers["MatMul"].inputs == ["i8 (FakeQuantize 256 levels)", "i8 (compressed weight)"]
    [float_w] = [v for v in ov_constants(path, "f32") if v.shape == (4, 2, 3, 3)]
    [int_w] = ov_constants(path, "i8")
    sparsity = {s.op_type: s for s in report.sparsity}
    assert sparsity["Convolution"].zeros == int(np.sum(float_w == 0))
    assert sparsity["MatMul"].zeros == int(np.sum(int_w == 0))
    total = float_w.size + int_w.size
    assert report.to_dict()["sparsity"]["overall"] == pytest.approx((np.sum(float_w == 0) + np.sum(int_w == 0)) / total)


def test_summary_counts_and_bytes(quantized_ir):
    path = quantized_ir("u4_group")
    report = report_of(path, sparsity=False)
    assert report.sparsity is None
    ov_model = ovmodels.core().read_model(path)
    consts = [n for n in ov_model.get_ordered_ops() if n.get_type_name() == "Constant"]
    by_type: dict[str, int] = {}
    for node in consts:
        etype = node.get_element_type()
        by_type[etype.get_type_name()] = by_type.get(etype.get_type_name(), 0) + node.get_byte_size()
    assert {t: c["bytes"] for t, c in report.constants.items()} == by_type
    assert report.op_counts["MatMul"] == 1 and report.op_counts["Const"] == len(consts)
    assert report.inputs == [{"name": "input", "element_type": "f32", "shape": "3,64"}]


def test_real_float_model_has_no_low_precision_layers(real_ir):
    report = report_of(real_ir("ppocr_cls"), sparsity=False)
    assert report.fake_quantize == [] and report.compressed_weights == []
    assert report.layers and all(layer.mode == "float" for layer in report.layers)


def test_ports_are_named_after_their_layers_when_a_tensor_is_both_input_and_output(real_onnx):
    """MiniLM's graph returns its inputs too; the tensor carries both names."""
    report = inspect_model(lpir.read_model(real_onnx["minilm"]), sparsity=False).to_dict()
    assert [p["name"] for p in report["inputs"]] == ["input_ids", "attention_mask"]
    assert [p["name"] for p in report["outputs"]][:2] == ["output", "463"]


def test_fake_quantize_with_computed_limits_gives_valid_json(tmp_path):
    """Limits that come from the graph, not constants: ranges are null, never NaN (invalid JSON)."""
    x = ops.parameter([1, 4], np.float32, name="x")
    high = ops.reduce_max(ops.abs(x), [0, 1], True)
    fq = ops.fake_quantize(x, ops.negative(high), high, ops.negative(high), high, 256)
    xml = ovmodels.save(ov.Model([ops.result(fq)], [x]), tmp_path / "m.xml")
    report = inspect_model(lpir.read_model(xml), sparsity=False)
    (info,) = report.fake_quantize
    assert info.granularity == "dynamic" and info.output_range is None
    json.loads(json.dumps(report.to_dict(), allow_nan=False))


def test_malformed_fake_quantize_is_a_clear_error():
    from lpir.ir import make_constant, make_node, make_parameter, make_result, types

    x = make_parameter("f32", (2,))
    limit = make_constant(np.float32(0))
    fq = make_node("FakeQuantize", [x.output, limit.output, limit.output], {"levels": 256},
                   name="fq3", outputs=[(types.f32, (2,))])
    with pytest.raises(lpir.ValidationError, match="'fq3'.* has 3 inputs; FakeQuantize-opset1 takes 5"):
        inspect_model(lpir.Model([x], [make_result(fq.output)]))
