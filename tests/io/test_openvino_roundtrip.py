"""Read → write round trips on IRs that OpenVINO itself wrote: OpenVINO must read lpir's copy
and compute bit-identical outputs, and every constant's bytes must be unchanged."""

from __future__ import annotations

import numpy as np
import openvino as ov
import ovmodels
import pytest
from conftest import REAL_MODELS
from defusedxml import ElementTree as SafeET
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino import opset13 as ops

import lpir

QUANTIZED = list(ovmodels.quantized_models())


def const_blobs(xml_path: str) -> dict[str, bytes]:
    """Bytes of every Const layer by name, read straight from the files."""
    with open(str(xml_path)[:-4] + ".bin", "rb") as f:
        data = f.read()
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


def normalized(value: str):
    """An attribute value with formatting noise removed: list spacing, float digits ("1e-06" = "1.0e-6")."""
    items = value.replace(" ", "").split(",")
    try:
        return tuple(float(item) for item in items)
    except ValueError:
        return value.replace(" ", "")


def layer_records(xml_path: str) -> dict:
    """Per layer name: type, version, every layer and <data> attribute but ids and offsets, rt_info."""
    records = {}
    for layer in SafeET.parse(xml_path).getroot().iter("layer"):
        data = layer.find("data")
        attrs = {k: normalized(v) for k, v in (data.attrib.items() if data is not None else ()) if k != "offset"}
        attrs.update({f"layer.{k}": v for k, v in layer.attrib.items() if k not in ("id", "name")})
        records[layer.get("name")] = attrs
    return records


def assert_round_trip(original: str, tmp_path) -> None:
    copy = str(tmp_path / "copy.xml")
    lpir.save_model(lpir.read_model(original), copy)
    assert const_blobs(copy) == const_blobs(original)
    assert layer_records(copy) == layer_records(original)
    assert rt_info_by_place(copy) == rt_info_by_place(original)
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


# -- hand-written IRs: features the converter's output does not exercise -----------------------

HAND_WRITTEN_V11 = r"""<?xml version="1.0"?>
<net name="hand" version="11">
	<layers>
		<layer id="7" name="data" type="Parameter" version="opset1">
			<data shape="?,1..10,3" element_type="f32" />
			<rt_info>
				<custom name="node_info_A" value="v_A" />
			</rt_info>
			<output>
				<port id="5" precision="FP32" names="in\,put,a\b">
					<dim>-1</dim>
					<dim>1..10</dim>
					<dim>3</dim>
					<rt_info>
						<custom name="output_info_A" value="o_A" />
					</rt_info>
				</port>
			</output>
		</layer>
		<layer id="3" name="w" type="Const" version="opset1">
			<data element_type="f32" shape="3" offset="0" size="12" />
			<output><port id="1" precision="FP32"><dim>3</dim></port></output>
		</layer>
		<layer id="4" name="w_again" type="Const" version="opset1">
			<data element_type="f32" shape="3" offset="0" size="16" />
			<output><port id="1" precision="FP32"><dim>3</dim></port></output>
		</layer>
		<layer id="1" name="mul" type="Multiply" version="opset1">
			<data auto_broadcast="numpy" />
			<rt_info>
				<attribute name="fused_names" version="0" value="a,b" />
				<custom name="node_info_B" value="v_B" />
			</rt_info>
			<input>
				<port id="10" precision="FP32"><dim>-1</dim><dim>1..10</dim><dim>3</dim></port>
				<port id="11" precision="FP32"><dim>3</dim></port>
			</input>
			<output>
				<port id="12" precision="FP32" names="y">
					<dim>-1</dim><dim>1..10</dim><dim>3</dim>
					<rt_info>
						<custom name="output_info_B" value="o_B" />
					</rt_info>
				</port>
			</output>
		</layer>
		<layer id="2" name="add" type="Add" version="opset1">
			<input>
				<port id="0" precision="FP32"><dim>-1</dim><dim>1..10</dim><dim>3</dim></port>
				<port id="1" precision="FP32"><dim>3</dim></port>
			</input>
			<output>
				<port id="2" precision="FP32" names="z,z\,1"><dim>-1</dim><dim>1..10</dim><dim>3</dim></port>
			</output>
		</layer>
		<layer id="0" name="out" type="Result" version="opset1">
			<input>
				<port id="0" precision="FP32"><dim>-1</dim><dim>1..10</dim><dim>3</dim></port>
			</input>
		</layer>
	</layers>
	<edges>
		<edge from-layer="7" from-port="5" to-layer="1" to-port="10" />
		<edge from-layer="3" from-port="1" to-layer="1" to-port="11" />
		<edge from-layer="1" from-port="12" to-layer="2" to-port="0" />
		<edge from-layer="4" from-port="1" to-layer="2" to-port="1" />
		<edge from-layer="2" from-port="2" to-layer="0" to-port="0" />
	</edges>
	<rt_info>
		<custom_rt_info1><item0 value="testvalue1" /></custom_rt_info1>
		<nncf><weight_compression><mode value="int4_sym" /></weight_compression></nncf>
	</rt_info>
</net>
"""

HAND_WRITTEN_V10 = """<?xml version="1.0" ?>
<net name="v10" version="10">
	<layers>
		<layer id="0" name="input" type="Parameter" version="opset1">
			<data element_type="f32" shape="2,4"/>
			<output><port id="0" precision="FP32"><dim>2</dim><dim>4</dim></port></output>
		</layer>
		<layer id="1" name="scale" type="Const" version="opset1">
			<data element_type="f32" offset="8" shape="4" size="16"/>
			<output><port id="1" precision="FP32"><dim>4</dim></port></output>
		</layer>
		<layer id="2" name="mul" type="Multiply" version="opset1">
			<data auto_broadcast="numpy"/>
			<input><port id="0"><dim>2</dim><dim>4</dim></port><port id="1"><dim>4</dim></port></input>
			<output><port id="2" precision="FP32"><dim>2</dim><dim>4</dim></port></output>
		</layer>
		<layer id="3" name="axis" type="Const" version="opset1">
			<data element_type="i64" offset="0" shape="" size="8"/>
			<output><port id="1" precision="I64"/></output>
		</layer>
		<layer id="4" name="split" type="Split" version="opset1">
			<data num_splits="2"/>
			<input><port id="0"><dim>2</dim><dim>4</dim></port><port id="1"/></input>
			<output>
				<port id="2" precision="FP32"><dim>2</dim><dim>2</dim></port>
				<port id="3" precision="FP32"><dim>2</dim><dim>2</dim></port>
			</output>
		</layer>
		<layer id="5" name="relu" type="ReLU" version="opset1">
			<input><port id="0"><dim>2</dim><dim>2</dim></port></input>
			<output><port id="1" precision="FP32"><dim>2</dim><dim>2</dim></port></output>
		</layer>
		<layer id="6" name="out0" type="Result" version="opset1">
			<input><port id="0"><dim>2</dim><dim>2</dim></port></input>
		</layer>
		<layer id="7" name="out1" type="Result" version="opset1">
			<input><port id="0"><dim>2</dim><dim>2</dim></port></input>
		</layer>
	</layers>
	<edges>
		<edge from-layer="0" from-port="0" to-layer="2" to-port="0"/>
		<edge from-layer="1" from-port="1" to-layer="2" to-port="1"/>
		<edge from-layer="2" from-port="2" to-layer="4" to-port="0"/>
		<edge from-layer="3" from-port="1" to-layer="4" to-port="1"/>
		<edge from-layer="4" from-port="2" to-layer="5" to-port="0"/>
		<edge from-layer="5" from-port="1" to-layer="6" to-port="0"/>
		<edge from-layer="4" from-port="3" to-layer="7" to-port="0"/>
	</edges>
	<meta_data><MO_version value="2022.1"/></meta_data>
</net>
"""


def write_hand_written(folder, text: str, weights: bytes, name: str = "hand") -> str:
    xml = folder / f"{name}.xml"
    xml.write_text(text)
    xml.with_suffix(".bin").write_bytes(weights)
    return str(xml)


def rt_info_by_place(xml_path: str) -> dict:
    """Every <rt_info> subtree as text, keyed by (layer name, 'layer' or port position) and 'model'."""
    def flatten(element) -> list:
        return [(child.tag, sorted(child.attrib.items()), flatten(child)) for child in element]
    root = SafeET.parse(xml_path).getroot()
    places = {"model": flatten(root.find("rt_info"))}
    for layer in root.iter("layer"):
        places[(layer.get("name"), "layer")] = flatten(layer.find("rt_info") if layer.find("rt_info") is not None else [])
        for side in ("input", "output"):
            for position, port in enumerate(layer.findall(f"{side}/port")):
                info = port.find("rt_info")
                places[(layer.get("name"), side, position)] = flatten(info if info is not None else [])
    return places


@pytest.fixture
def hand_written(tmp_path) -> str:
    weights = np.array([0.5, -2.0, 3.0, 99.0], np.float32).tobytes()  # w_again's size has 4 spare bytes
    return write_hand_written(tmp_path, HAND_WRITTEN_V11, weights)


def test_hand_written_ir_round_trip(hand_written, tmp_path):
    """Dynamic and interval dims, escaped names, ids that are labels, two Consts on one blob, oversized size."""
    model = lpir.read_model(hand_written)
    data = model.parameters[0]
    assert data.attrs["shape"] == (lpir.ir.DYNAMIC, lpir.ir.Dim(1, 10), 3)
    assert data.outputs[0].shape == (lpir.ir.DYNAMIC, lpir.ir.Dim(1, 10), 3)
    assert sorted(data.outputs[0].names) == ["a\\b", "in,put"]
    copy = str(tmp_path / "copy.xml")
    lpir.save_model(model, copy)
    assert (tmp_path / "copy.bin").stat().st_size == 12  # one blob, trimmed to what the shape needs
    original, copied = ovmodels.core().read_model(hand_written), ovmodels.core().read_model(copy)
    for a, b in [(original.inputs, copied.inputs), (original.outputs, copied.outputs)]:
        assert [p.get_names() for p in a] == [p.get_names() for p in b]
        assert [p.get_partial_shape() for p in a] == [p.get_partial_shape() for p in b]
    x = np.random.default_rng(0).random((2, 4, 3), dtype=np.float32)
    np.testing.assert_array_equal(ovmodels.run(copy, [x])[0], ovmodels.run(hand_written, [x])[0])


def test_rt_info_preserved_at_model_layer_and_port_level(hand_written, tmp_path):
    copy = str(tmp_path / "copy.xml")
    lpir.save_model(lpir.read_model(hand_written), copy)
    before, after = rt_info_by_place(hand_written), rt_info_by_place(copy)
    assert {k: v for k, v in before.items() if v} == {k: v for k, v in after.items() if v}
    assert before["model"] and before[("data", "output", 0)] and before[("mul", "layer")]


LEGACY_SECTIONS = """	<meta_data>
		<MO_version value="2022.3.0-9052" />
		<cli_parameters>
			<input_shape value="[1,3,224,224]" />
			<reverse_input_channels value="False" />
		</cli_parameters>
	</meta_data>
	<quantization_parameters>
		<config>{"algorithm": "DefaultQuantization", "preset": "performance", "stat_subset_size": 300}</config>
		<version value="invalid &amp; odd" />
	</quantization_parameters>
"""


def test_legacy_top_level_sections_survive_a_round_trip(tmp_path):
    """Model Optimizer's <meta_data> and POT's <quantization_parameters> (text included) are kept
    verbatim and written back; OpenVINO still reads the copy."""
    text = HAND_WRITTEN_V11.replace("</rt_info>\n</net>", "</rt_info>\n" + LEGACY_SECTIONS + "</net>")
    assert LEGACY_SECTIONS in text
    source = write_hand_written(tmp_path, text, np.array([0.5, -2.0, 3.0, 99.0], np.float32).tobytes())
    model = lpir.read_model(source)
    assert [s.tag for s in model.sections] == ["meta_data", "quantization_parameters"]
    copy = str(tmp_path / "copy.xml")
    lpir.save_model(model, copy)
    assert lpir.read_model(copy).sections == model.sections
    config = lpir.read_model(copy).sections[1].children[0]
    assert config.tag == "config" and '"stat_subset_size": 300' in config.text
    ov.Core().read_model(copy)


def test_v10_ir_reads_and_its_v11_copy_runs_the_same(tmp_path):
    weights = np.array([1], np.int64).tobytes() + np.array([1.0, -2.0, 0.5, 4.0], np.float32).tobytes()
    v10 = write_hand_written(tmp_path, HAND_WRITTEN_V10, weights, "v10")
    model = lpir.read_model(v10)
    assert [n.type for n in model.nodes()].count("Const") == 2
    copy = str(tmp_path / "copy.xml")
    lpir.save_model(model, copy)
    assert SafeET.parse(copy).getroot().get("version") == "11"
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    expected, actual = ovmodels.run(v10, [x]), ovmodels.run(copy, [x])
    for e, a in zip(expected, actual, strict=True):
        np.testing.assert_array_equal(a, e)
    original, copied = ovmodels.core().read_model(v10), ovmodels.core().read_model(copy)
    assert [p.get_names() for p in copied.inputs] == [p.get_names() for p in original.inputs] == [{"input"}]
    assert [p.get_names() for p in copied.outputs] == [p.get_names() for p in original.outputs]


def test_openvino_shared_blobs_stay_shared(tmp_path):
    """OpenVINO's serializer stores identical constants once; lpir's copy is no larger."""
    weight = np.random.default_rng(2).random((16, 16), dtype=np.float32)
    x = ops.parameter([1, 16], np.float32, name="x")
    y = ops.matmul(ops.matmul(x, ops.constant(weight), False, True), ops.constant(weight.copy()), False, True)
    original = ovmodels.save(ov.Model([ops.result(y)], [x]), tmp_path / "shared.xml")
    copy = tmp_path / "copy.xml"
    lpir.save_model(lpir.read_model(original), copy)
    assert copy.with_suffix(".bin").stat().st_size == weight.nbytes == (tmp_path / "shared.bin").stat().st_size
    assert const_blobs(str(copy)) == const_blobs(original)


def directory_state(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_failed_save_leaves_the_previous_model_and_no_temporary_files(hand_written, tmp_path):
    target = tmp_path / "out" / "model.xml"
    target.parent.mkdir()
    lpir.save_model(lpir.read_model(hand_written), target)
    before = directory_state(target.parent)
    broken = lpir.read_model(hand_written)
    unreadable = memoryview(bytearray(12))
    unreadable.release()  # data that can no longer be read, as a closed mapping
    broken.node("w_again").tensor = lpir.Tensor.from_buffer(unreadable, lpir.ir.types.f32, (3,))
    with pytest.raises(ValueError):
        lpir.save_model(broken, target)
    assert directory_state(target.parent) == before
    ovmodels.core().read_model(str(target))


def test_save_over_the_model_being_read(hand_written, tmp_path):
    x = np.random.default_rng(3).random((1, 5, 3), dtype=np.float32)
    expected = ovmodels.run(hand_written, [x])[0]
    model = lpir.read_model(hand_written)
    lpir.save_model(model, hand_written)
    lpir.save_model(model, hand_written)  # its constants still map the replaced .bin
    np.testing.assert_array_equal(ovmodels.run(hand_written, [x])[0], expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hand.bin", "hand.xml"]


def test_save_creates_missing_folders_like_openvino(hand_written, tmp_path):
    target = tmp_path / "a" / "b" / "model.xml"
    lpir.save_model(lpir.read_model(hand_written), target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.bin", "model.xml"]
    ovmodels.core().read_model(str(target))


def test_unwritable_target_is_a_clear_error(hand_written, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(lpir.ValidationError, match=f"{blocker / 'model.xml'}: cannot save the model"):
        lpir.save_model(lpir.read_model(hand_written), blocker / "model.xml")


def test_blobs_that_differ_only_between_sampled_bytes_are_both_kept(tmp_path):
    """Dedup samples bytes to find candidates; equal samples must still be compared in full."""
    from lpir.ir import make_constant, make_node, make_parameter, make_result, types
    base = np.random.default_rng(4).random(4096, dtype=np.float32)  # 16 KiB: samples every 256 bytes
    near_twin = base.copy()
    near_twin.view(np.uint8)[1003] ^= 0x80  # sign of element 250; byte 1003 is not among the sampled ones
    x = make_parameter("f32", (4096,), name="x")
    node = x.output
    for values in (base, near_twin, base.copy()):
        node = make_node("Add", [node, make_constant(values).output], outputs=[(types.f32, (4096,))]).output
    lpir.save_model(lpir.Model([x], [make_result(node)]), tmp_path / "m.xml")
    assert (tmp_path / "m.bin").read_bytes() == base.tobytes() + near_twin.tobytes()
    ones = np.ones(4096, np.float32)
    expected = ((ones + base) + near_twin) + base
    # the plugin may fold the constants in another order: equal up to f32 rounding, and the
    # sign flip of element 250 changes it far beyond that
    np.testing.assert_allclose(ovmodels.run(tmp_path / "m.xml", [ones])[0], expected, rtol=1e-6)


def test_result_names_of_their_own_survive(tmp_path):
    """OpenVINO 2025+ lets each Result name its output; two Results of one tensor keep theirs."""
    x = ops.parameter([2], np.float32, name="x")
    relu = ops.relu(x)
    results = [ops.result(x), ops.result(relu), ops.result(relu)]
    for result, names in zip(results, [{"out1"}, {"a"}, {"b,c"}]):
        result.output(0).get_tensor().set_names(names)
    original = ovmodels.save(ov.Model(results, [x]), tmp_path / "results.xml")
    copy = tmp_path / "copy.xml"
    lpir.save_model(lpir.read_model(original), copy)
    expected = [p.get_names() for p in ovmodels.core().read_model(original).outputs]
    assert expected == [{"out1"}, {"a"}, {"b,c"}]
    assert [p.get_names() for p in ovmodels.core().read_model(str(copy)).outputs] == expected


# -- property: what lpir writes, OpenVINO reads back the same -----------------------------------

NAME_CHARS = st.one_of(st.sampled_from(list(",\\ &<>\"'.:/")),  # the characters with a meaning in IR XML
                       st.characters(min_codepoint=32, max_codepoint=0x24F, blacklist_characters="\x7f"))
TENSOR_NAME = st.text(NAME_CHARS, min_size=1, max_size=8).filter(
    lambda s: s == s.strip() and not s.endswith("\\"))  # "a\" + "," reads as "a,": the format's own ambiguity


@st.composite
def dims(draw):
    lo = draw(st.integers(0, 8))
    return draw(st.sampled_from([lo, lpir.ir.DYNAMIC, lpir.ir.Dim(lo, None), lpir.ir.Dim(lo, lo + draw(st.integers(1, 8)))]))


def ov_dimension(dim) -> ov.Dimension:
    if isinstance(dim, int):
        return ov.Dimension(dim)
    return ov.Dimension(dim.lo, -1 if dim.hi is None else dim.hi)


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(dims(), max_size=4).map(tuple), in_names=st.sets(TENSOR_NAME, min_size=1, max_size=3),
       out_names=st.sets(TENSOR_NAME, min_size=1, max_size=3))
def test_written_shapes_and_names_read_back_in_openvino(tmp_path_factory, shape, in_names, out_names):
    from lpir.ir import make_node, make_parameter, make_result, types
    x = make_parameter("f32", shape, name="x")
    x.output.names = sorted(in_names)
    relu = make_node("Relu", [x.output], outputs=[(types.f32, shape)], name="relu")
    relu.output.names = sorted(out_names - in_names) or ["y"]
    path = tmp_path_factory.mktemp("prop") / "m.xml"
    lpir.save_model(lpir.Model([x], [make_result(relu.output)]), path)
    model = ovmodels.core().read_model(str(path))
    assert model.inputs[0].get_partial_shape() == ov.PartialShape([ov_dimension(d) for d in shape])
    assert model.inputs[0].get_names() == set(x.output.names)
    assert model.outputs[0].get_names() == set(relu.output.names)
    again = lpir.read_model(path)
    assert again.parameters[0].attrs["shape"] == shape
    assert sorted(again.outputs[0].names) == sorted(relu.output.names)
