"""One regression test per class of hostile input the fuzzer found: each ends in an LpirError
that names the file, layer or tensor, raised where the fact is first known."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import lpir
from lpir.ir import make_constant, make_node, make_parameter, make_result, types


def onnx_file(tmp_path, nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


@pytest.mark.parametrize("entries, message", [
    ({"location": "w.bin", "offset": "abc"}, "offset 'abc' is not a non-negative integer"),
    ({"location": "w.bin", "length": "-1"}, "length '-1' is not a non-negative integer"),
    ({"location": "w.bin", "offset": "8", "length": "16"}, "beyond the end"),
    ({"location": "a" * 5000}, "is not a file name"),
    ({"location": "../outside.bin"}, "outside the model folder"),
])
def test_onnx_external_data_entries_are_checked(tmp_path, entries, message):
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4], [1, 2, 3, 4])
    weight.data_location = TensorProto.EXTERNAL
    weight.ClearField("float_data")
    for key, value in entries.items():
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    (tmp_path / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    path = onnx_file(tmp_path, [helper.make_node("Add", ["x", "w"], ["y"])],
                     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [weight])
    with pytest.raises(lpir.ModelParseError, match=message) as info:
        lpir.read_model(path)
    assert "'w'" in str(info.value)


@pytest.mark.parametrize("group, message", [(0, "group=0 does not divide"), (3, "group=3 does not divide"),
                                            ([2], "attribute group=\\[2\\] is not an integer")])
def test_onnx_conv_group_is_checked(tmp_path, group, message):
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 1, 1, 1], np.ones(4, np.float32))
    path = onnx_file(tmp_path, [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", group=group)],
                     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 3, 3])],
                     [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    with pytest.raises(lpir.LpirError, match=message) as info:
        lpir.read_model(path)
    assert "'conv'" in str(info.value)


def test_onnx_required_attribute_missing_names_the_node(tmp_path):
    path = onnx_file(tmp_path, [helper.make_node("Einsum", ["a", "b"], ["y"], name="mix")],
                     [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 2]) for n in "ab"],
                     [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(lpir.LpirError, match="'mix'.*required attribute 'equation'"):
        lpir.read_model(path)


def ir_text(layer_type: str = "Relu", const_type: str = "f32") -> str:
    return f"""<?xml version="1.0"?>
<net name="m" version="11">
  <layers>
    <layer id="0" name="x" type="Parameter" version="opset1">
      <data shape="2" element_type="f32" />
      <output><port id="0" precision="FP32" names="x"><dim>2</dim></port></output>
    </layer>
    <layer id="1" name="c" type="Const" version="opset1">
      <data element_type="{const_type}" shape="2" offset="0" size="8" />
      <output><port id="0" precision="FP32"><dim>2</dim></port></output>
    </layer>
    <layer id="2" name="act" type="{layer_type}" version="opset1">
      <input><port id="0" precision="FP32"><dim>2</dim></port></input>
      <output><port id="1" precision="FP32"><dim>2</dim></port></output>
    </layer>
    <layer id="3" name="sum" type="Add" version="opset1">
      <input><port id="0" precision="FP32"><dim>2</dim></port><port id="1" precision="FP32"><dim>2</dim></port></input>
      <output><port id="2" precision="FP32" names="y"><dim>2</dim></port></output>
    </layer>
    <layer id="4" name="out" type="Result" version="opset1">
      <input><port id="0" precision="FP32"><dim>2</dim></port></input>
    </layer>
  </layers>
  <edges>
    <edge from-layer="0" from-port="0" to-layer="2" to-port="0" />
    <edge from-layer="2" from-port="1" to-layer="3" to-port="0" />
    <edge from-layer="1" from-port="0" to-layer="3" to-port="1" />
    <edge from-layer="3" from-port="2" to-layer="4" to-port="0" />
  </edges>
</net>
"""


def write(tmp_path, text: str):
    (tmp_path / "m.xml").write_text(text)
    (tmp_path / "m.bin").write_bytes(np.ones(2, np.float32).tobytes())
    return tmp_path / "m.xml"


@pytest.mark.parametrize("layer_type, message", [("Parameter", "a Parameter has no inputs"),
                                                 ("Result", "a Result has one input and feeds nothing")])
def test_a_layer_retyped_to_parameter_or_result_is_refused(tmp_path, layer_type, message):
    with pytest.raises(lpir.ModelParseError, match=f"layer 2 'act'.*{message}"):
        lpir.read_model(write(tmp_path, ir_text(layer_type)))


@pytest.mark.parametrize("etype", ["dynamic", "undefined"])
def test_a_const_without_a_concrete_type_is_refused(tmp_path, etype):
    with pytest.raises(lpir.ModelParseError, match=f"layer 1 'c'.*concrete element_type, got '{etype}'"):
        lpir.read_model(write(tmp_path, ir_text(const_type=etype)))


def test_a_shape_input_with_nan_is_refused_at_compile():
    x = make_parameter("f32", (2, 3), name="x")
    target = make_constant(np.array([np.nan, 3], np.float32))
    reshape = make_node("Reshape", [x.output, target.output], {"special_zero": False}, name="flatten",
                        outputs=[(types.f32, None)])
    with pytest.raises(lpir.ValidationError, match=r"'flatten'.*expected integers, got \[nan, 3.0\]"):
        lpir.compile_model(lpir.Model([x], [make_result(reshape.outputs[0])]))


def test_inspect_refuses_a_graph_edited_into_inconsistent_shapes_and_takes_empty_weights():
    x = make_parameter("f32", (1, 3, 4, 4), name="x")
    empty = make_constant(np.zeros((0,), np.float32))
    fq = make_node("FakeQuantize", [x.output, empty.output, empty.output, empty.output, empty.output],
                   {"levels": 256}, name="fq", outputs=[(types.f32, (1, 3, 4, 4))])
    with pytest.raises(lpir.ValidationError, match="'fq'"):
        lpir.inspect_model(lpir.Model([x], [make_result(fq.outputs[0])]))
    conv = make_node("Convolution", [x.output, make_constant(np.ones((0, 3, 1, 1), np.float32)).output],
                     {"strides": [1, 1], "pads_begin": [0, 0], "pads_end": [0, 0], "dilations": [1, 1]},
                     outputs=[(types.f32, (1, 0, 4, 4))])
    report = lpir.inspect_model(lpir.Model([x], [make_result(conv.outputs[0])]))
    assert report.to_dict()["sparsity"]["layers"][0]["elements"] == 0


def test_an_onnx_name_that_is_not_utf8_is_refused(tmp_path):
    path = onnx_file(tmp_path, [helper.make_node("Relu", ["x"], ["y"], name="relu_QQ")],
                     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    path.write_bytes(path.read_bytes().replace(b"relu_QQ", b"relu_\xf2Q"))
    with pytest.raises(lpir.ModelParseError, match="is not valid UTF-8"):
        lpir.read_model(path)


def test_a_group_wise_dequantization_with_a_dynamic_dim_leaves_the_group_size_open():
    """A port dim mutated to '?' in a 4-bit group-wise weight: inspect reports the group, size unknown."""
    from lpir.ir.dequantization import match_dequantization
    codes = make_parameter("u4", (12, 4, -1), name="codes")
    convert = make_node("Convert", [codes.output], {"destination_type": types.f16}, outputs=[(types.f16, (12, 4, -1))])
    scale = make_constant(np.ones((12, 4, 1), np.float16))
    multiply = make_node("Multiply", [convert.outputs[0], scale.output], outputs=[(types.f16, (12, 4, -1))])
    make_node("Reshape", [multiply.outputs[0], make_constant(np.array([12, 64])).output], {"special_zero": False},
              outputs=[(types.f16, (12, 64))])
    assert match_dequantization(codes.output).granularity() == ("group", None)
