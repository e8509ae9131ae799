"""Read → write round trips on IRs that OpenVINO itself wrote: OpenVINO must read lpir's copy
and compute bit-identical outputs, and every constant's bytes must be unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from defusedxml import ElementTree as SafeET

import lpir
import ovmodels
from conftest import REAL_MODELS

QUANTIZED = list(ovmodels.quantized_models())


def const_blobs(xml_path: str) -> dict[str, bytes]:
    """Bytes of every Const layer by name, read straight from the files."""
    data = open(str(xml_path)[:-4] + ".bin", "rb").read()
    blobs = {}
    for layer in SafeET.parse(xml_path).getroot().iter("layer"):
        if layer.get("type") == "Const":
            d = layer.find("data")
            offset, size = int(d.get("offset")), int(d.get("size"))
            blobs[layer.get("name")] = data[offset:offset + size]
    return blobs


def sample_inputs(xml_path: str, seed: int = 0) -> list[np.ndarray]:
    """Random inputs of the model's input types, dynamic dims set to small sizes."""
    rng = np.random.default_rng(seed)
    arrays = []
    for port in ovmodels.core().read_model(xml_path).inputs:
        dims = [d.get_length() if d.is_static else size for d, size in zip(port.get_partial_shape(), [2, 3, 64, 96, 8])]
        if port.get_element_type().is_integral():
            arrays.append(rng.integers(0, 1000, size=dims).astype(port.get_element_type().to_dtype()))
        else:
            arrays.append(rng.random(dims, dtype=np.float32))
    return arrays


def assert_round_trip(original: str, tmp_path) -> None:
    copy = str(tmp_path / "copy.xml")
    lpir.save_model(lpir.read_model(original), copy)
    assert const_blobs(copy) == const_blobs(original)
    inputs = sample_inputs(original)
    expected, actual = ovmodels.run(original, inputs), ovmodels.run(copy, inputs)
    assert len(expected) == len(actual)
    for e, a in zip(expected, actual):
        assert e.dtype == a.dtype and e.shape == a.shape
        np.testing.assert_array_equal(a, e)
    original_model, copied_model = ovmodels.core().read_model(original), ovmodels.core().read_model(copy)
    assert [p.get_names() for p in copied_model.inputs] == [p.get_names() for p in original_model.inputs]
    assert [p.get_names() for p in copied_model.outputs] == [p.get_names() for p in original_model.outputs]


@pytest.mark.parametrize("f16", [False, True], ids=["fp32", "f16"])
@pytest.mark.parametrize("name", REAL_MODELS)
def test_real_model_round_trip(real_ir, name, f16, tmp_path):
    assert_round_trip(real_ir(name, f16), tmp_path)


@pytest.mark.parametrize("name", QUANTIZED)
def test_quantized_model_round_trip(quantized_ir, name, tmp_path):
    assert_round_trip(quantized_ir(name), tmp_path)


def test_second_round_trip_is_a_fixed_point(real_ir, tmp_path):
    first, second = tmp_path / "a.xml", tmp_path / "b.xml"
    lpir.save_model(lpir.read_model(real_ir("ppocr_cls", True)), first)
    lpir.save_model(lpir.read_model(first), second)
    assert first.read_text() == second.read_text()
    assert first.with_suffix(".bin").read_bytes() == second.with_suffix(".bin").read_bytes()


def test_constants_are_lazy_and_typed(quantized_ir):
    model = lpir.read_model(quantized_ir("u4_group"))
    consts = [n for n in model.nodes() if n.type == "Const"]
    assert all(not n.tensor.is_loaded for n in consts)
    u4 = [n for n in consts if n.tensor.etype.name == "u4"]
    assert {n.tensor.shape for n in u4} == {(12, 4, 16), (12, 4, 1)}
    values = u4[0].tensor.numpy()
    assert values.min() >= 0 and values.max() <= 15


def test_identical_blobs_are_stored_once(tmp_path):
    from lpir.ir import make_constant, make_node, make_parameter, make_result, types
    x = make_parameter("f32", (4,), name="x")
    weight = np.arange(4, dtype=np.float32)
    a = make_node("Add", [x.output, make_constant(weight).output], outputs=[(types.f32, (4,))])
    b = make_node("Add", [a.output, make_constant(weight.copy()).output], outputs=[(types.f32, (4,))])
    lpir.save_model(lpir.Model([x], [make_result(b.output)]), tmp_path / "m.xml")
    assert (tmp_path / "m.bin").stat().st_size == weight.nbytes
    assert len(set(const_blobs(str(tmp_path / "m.xml")).values())) == 1


def test_rt_info_is_preserved(tmp_path, real_ir):
    original = real_ir("ppocr_cls", True)
    copy = tmp_path / "c.xml"
    lpir.save_model(lpir.read_model(original), copy)
    model = lpir.read_model(copy)
    converts = [n for n in model.nodes() if n.type == "Convert"]
    assert converts and all(any(e.attrs.get("name") == "decompression" for e in n.rt_info) for n in converts)
    assert model.rt_get("conversion_parameters", "framework") == lpir.read_model(original).rt_get(
        "conversion_parameters", "framework")
