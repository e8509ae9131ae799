"""ONNX import of real models and QDQ models, checked against ONNX Runtime and OpenVINO.

Real models (PP-OCR det/rec/cls, MiniLM) run in lpir's interpreter on real inputs (photos and
a scanned page from scikit-image, token ids with a padded attention mask) and must match ONNX
Runtime within 1e-4 of each output's range; the IR lpir saves must load in OpenVINO and match
ONNX Runtime the same way. A QDQ model made by ONNX Runtime's own quantizer must match ONNX
Runtime's output of that QDQ model. Errors: one UnsupportedOpError listing every unsupported
op, ModelParseError naming the file for unreadable files and unsafe external data.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnx.version_converter
import ovmodels
import pytest
import realdata
from conftest import REAL_MODELS
from onnx import TensorProto, helper, numpy_helper
from onnx_check import TOLERANCE, assert_close, lpir_run, make_model, ort_run

import lpir
from lpir.ir import DYNAMIC

# Measured on the PP-OCR cls QDQ models (4 text-line crops): the class probabilities agree with
# ONNX Runtime within 0.067 (per tensor) and 0.086 (per channel) of their range, about as well
# as OpenVINO's own import of the same file (0.086). FakeQuantize rounds (x - in_low) / step while
# QuantizeLinear rounds x / scale and then adds the zero point, so a value at (or within float
# rounding of) a tie lands one quantum apart; 24 such elements at the input quantizer spread
# through the squeeze-excite blocks to the output. The input quantizer is checked exactly below.
QDQ_TOLERANCE = 0.15
@pytest.mark.parametrize("name", REAL_MODELS)
def test_real_model_matches_onnxruntime(real_onnx, name):
    inputs = realdata.inputs_for(name)
    assert_close(lpir_run(real_onnx[name], inputs), ort_run(real_onnx[name], inputs))


@pytest.mark.parametrize("name", REAL_MODELS)
def test_saved_ir_runs_in_openvino(real_onnx, tmp_path, name):
    model = lpir.read_model(real_onnx[name])
    lpir.save_model(model, tmp_path / f"{name}.xml")
    inputs = realdata.inputs_for(name)
    assert_close(ovmodels.run(tmp_path / f"{name}.xml", inputs), ort_run(real_onnx[name], inputs))


def test_interface_names_and_dynamic_dims(real_onnx):
    """Graph inputs/outputs keep their names; dynamic batch and sequence dims stay dynamic."""
    model = lpir.read_model(real_onnx["minilm"])
    proto = onnx.load(str(real_onnx["minilm"]), load_external_data=False)
    assert [p.name for p in model.parameters] == ["input_ids", "attention_mask"]
    assert all(p.outputs[0].shape == (DYNAMIC, DYNAMIC) for p in model.parameters)
    assert [r.name for r in model.results] == [o.name for o in proto.graph.output]
    assert all(r.name in out.names for r, out in zip(model.results, model.outputs))
    layer_names = {node.name for node in model.nodes()}
    assert {i.name for i in proto.graph.initializer} <= layer_names
    assert "/model/model.0/auto_model/encoder/layer.0/attention/self/Softmax" in layer_names


def test_constant_node_weights_keep_their_names(real_onnx):
    """PP-OCR stores weights in Constant nodes: each becomes a Const named after its tensor."""
    model = lpir.read_model(real_onnx["ppocr_cls"])
    proto = onnx.load(str(real_onnx["ppocr_cls"]))
    constants = {n.output[0] for n in proto.graph.node if n.op_type == "Constant"}
    consts = {n.name for n in model.nodes() if n.type == "Const"}
    conv_weights = {n.input[1] for n in proto.graph.node if n.op_type == "Conv"}
    assert conv_weights <= constants & consts


# -- QDQ models from ONNX Runtime's quantizer -----------------------------------------------

class _Calibration:
    """A calibration reader over real text-line crops (ONNX Runtime's CalibrationDataReader API)."""

    def __init__(self, input_name: str):
        batches = [realdata.text_lines(48, 192, 4), realdata.text_lines(48, 192, 3)[::-1]]
        self._feeds = iter([{input_name: b} for b in batches])

    def get_next(self):
        return next(self._feeds, None)


def _constants_as_initializers(source, target) -> None:
    """PP-OCR keeps weights in Constant nodes; ONNX Runtime's quantizer treats only initializers as weights."""
    model = onnx.load(str(source))
    constants = [n for n in model.graph.node if n.op_type == "Constant"]
    for node in constants:
        tensor = onnx.TensorProto()
        tensor.CopyFrom(node.attribute[0].t)
        tensor.name = node.output[0]
        model.graph.initializer.append(tensor)
        model.graph.node.remove(node)
    # opset 13 is where DequantizeLinear gains per-axis scales
    onnx.save(onnx.version_converter.convert_version(model, 13), str(target))


@pytest.fixture(scope="module")
def qdq_cls(real_onnx, tmp_path_factory):
    """``qdq_cls(granularity)`` → path of the PP-OCR cls model quantized by quantize_static in QDQ form."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    folder = tmp_path_factory.mktemp("qdq")
    float_model = folder / "cls_float.onnx"
    _constants_as_initializers(real_onnx["ppocr_cls"], float_model)
    cache = {}

    def get(granularity: str):
        if granularity not in cache:
            path = folder / f"cls_{granularity}.onnx"
            quantize_static(str(float_model), str(path), _Calibration("x"), quant_format=QuantFormat.QDQ,
                            per_channel=granularity == "per_channel", activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8)
            cache[granularity] = path
        return cache[granularity]

    return get


@pytest.mark.parametrize("granularity", ["per_channel", "per_tensor"])
def test_qdq_model_matches_onnxruntime(qdq_cls, granularity):
    path = qdq_cls(granularity)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    inputs = realdata.inputs_for("ppocr_cls")
    actual, expected = lpir_run(path, inputs), ort_run(path, inputs)
    error = assert_close(actual, expected, QDQ_TOLERANCE)
    print(f"{granularity}: max error {error:.2e} of the output range")
    np.testing.assert_array_equal(actual[0].argmax(axis=1), expected[0].argmax(axis=1))


def test_qdq_input_quantizer_differs_only_at_ties(qdq_cls, tmp_path):
    """The first QuantizeLinear, made a model output: lpir's FakeQuantize + Convert equals ONNX
    Runtime's integers except at exact ties of x / scale, where they are one quantum apart."""
    model = onnx.load(str(qdq_cls("per_tensor")))
    first = next(n for n in model.graph.node if n.op_type == "QuantizeLinear")
    model.graph.output.append(helper.make_empty_tensor_value_info(first.output[0]))
    onnx.save(model, str(tmp_path / "probe.onnx"))
    scale = next(numpy_helper.to_array(i) for i in model.graph.initializer if i.name == first.input[1])
    inputs = realdata.inputs_for("ppocr_cls")
    actual = lpir_run(tmp_path / "probe.onnx", inputs)[-1].astype(np.int32)
    expected = ort_run(tmp_path / "probe.onnx", inputs)[-1].astype(np.int32)
    differ = actual != expected
    assert np.abs(actual - expected).max() <= 1
    ratio = inputs[0][differ].astype(np.float64) / float(scale)
    np.testing.assert_allclose(np.abs(ratio - np.trunc(ratio)), 0.5, atol=1e-4)
    assert differ.mean() < 1e-3


def test_qdq_imports_as_fake_quantize(qdq_cls):
    """QuantizeLinear → FakeQuantize(levels=256) + Convert; weights DequantizeLinear → Const(i8) → Convert."""
    model = lpir.read_model(qdq_cls("per_channel"))
    nodes = model.nodes()
    fqs = [n for n in nodes if n.type == "FakeQuantize"]
    assert fqs and all(n.attrs["levels"] == 256 for n in fqs)
    assert all(fq.outputs[0].consumers[0].node.type == "Convert" for fq in fqs)
    weights = [n for n in nodes if n.type == "Const" and n.outputs[0].etype.name == "i8"]
    assert weights and all(w.outputs[0].consumers[0].node.type == "Convert" for w in weights)


# -- errors --------------------------------------------------------------------------------

def _graph(nodes, inputs, outputs, initializers=()):
    return helper.make_graph(nodes, "g", inputs, outputs, list(initializers))


def _float_info(name, shape):
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)


def test_unsupported_ops_are_listed_together_before_conversion(tmp_path):
    """Every unsupported op type with its count and node names, in one error; a node that would
    fail to convert (a Reshape to an impossible shape) comes first and is not reached."""
    nodes = [
        helper.make_node("Reshape", ["x", "bad_shape"], ["r"], name="bad_reshape"),
        helper.make_node("Det", ["r"], ["d1"], name="det_a"),
        helper.make_node("Det", ["r"], ["d2"], name="det_b"),
        helper.make_node("StringSplit", ["d1"], ["e"], name="split_words"),
        helper.make_node("FusedGemm", ["e", "e"], ["y"], name="fused", domain="com.microsoft"),
    ]
    graph = _graph(nodes, [_float_info("x", [2, 3, 3])], [_float_info("y", None)],
                   [numpy_helper.from_array(np.array([7, 7], np.int64), "bad_shape")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)])
    onnx.save(model, str(tmp_path / "m.onnx"))
    with pytest.raises(lpir.UnsupportedOpError) as info:
        lpir.read_model(tmp_path / "m.onnx")
    message = str(info.value)
    assert "m.onnx" in message and "3 ONNX op type(s) in 4 node(s)" in message
    assert "Det: 2 node(s): 'det_a', 'det_b'" in message
    assert "StringSplit: 1 node(s): 'split_words'" in message and "com.microsoft.FusedGemm: 1 node(s): 'fused'" in message


def test_invalid_graph_names_the_node(tmp_path):
    graph = _graph([helper.make_node("Add", ["x", "missing"], ["y"], name="orphan")], [_float_info("x", [2])],
                   [_float_info("y", [2])])
    onnx.save(make_model(graph, 13), str(tmp_path / "m.onnx"))
    with pytest.raises(lpir.ModelParseError, match="orphan.*'missing'"):
        lpir.read_model(tmp_path / "m.onnx")


@pytest.mark.parametrize("node, error, fragment", [
    (helper.make_node("MaxPool", ["x"], ["y"], name="pool_without_kernel"), lpir.ValidationError,
     "'pool_without_kernel' (MaxPool"),
    (helper.make_node("Split", ["x"], ["y"], name="split_axis_9", axis=9), lpir.ValidationError,
     "'split_axis_9' (Split"),
])
def test_nodes_outside_the_onnx_spec_are_one_line_errors(tmp_path, node, error, fragment):
    graph = _graph([node], [_float_info("x", [1, 2, 4, 4])], [_float_info("y", None)])
    onnx.save(make_model(graph, 13), str(tmp_path / "m.onnx"))
    with pytest.raises(error, match=fragment.replace("(", r"\(")) as info:
        lpir.read_model(tmp_path / "m.onnx")
    assert "m.onnx" in str(info.value) and "\n" not in str(info.value)


def test_initializer_whose_data_does_not_fit_its_shape(tmp_path):
    weights = numpy_helper.from_array(np.ones((2, 2), np.float32), "w")
    weights.dims[:] = [3, 3]
    graph = _graph([helper.make_node("MatMul", ["x", "w"], ["y"])], [_float_info("x", [2, 3])], [_float_info("y", None)],
                   [weights])
    onnx.save(make_model(graph, 13), str(tmp_path / "m.onnx"))
    with pytest.raises(lpir.ModelParseError, match=r"tensor 'w': 16 bytes of data for f32\[3, 3\]"):
        lpir.read_model(tmp_path / "m.onnx")


@pytest.mark.parametrize("content", [b"", b"not a protobuf \xff\xfe\x00garbage" * 10, b"\x08\x07"],
                         ids=["empty", "garbage", "no-graph"])
def test_unreadable_file_is_a_parse_error_naming_it(tmp_path, content):
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    with pytest.raises(lpir.ModelParseError, match="broken.onnx"):
        lpir.read_model(path)


def test_truncated_real_model_is_a_parse_error(tmp_path, real_onnx):
    data = real_onnx["ppocr_cls"].read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(lpir.ModelParseError, match="cut.onnx"):
        lpir.read_model(path)


def test_missing_file_is_a_parse_error(tmp_path):
    with pytest.raises(lpir.ModelParseError, match="nothing.onnx"):
        lpir.read_model(tmp_path / "nothing.onnx")


# -- external data -------------------------------------------------------------------------

def _matmul_model(weights: np.ndarray) -> onnx.ModelProto:
    graph = _graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")], [_float_info("x", ["batch", 8])],
                   [_float_info("y", ["batch", 16])], [numpy_helper.from_array(weights, "w")])
    return make_model(graph, 13)


def test_external_data_is_loaded(tmp_path):
    rng = np.random.default_rng(1)
    model = _matmul_model(rng.standard_normal((8, 16)).astype(np.float32))
    onnx.save(model, str(tmp_path / "ext.onnx"), save_as_external_data=True, location="ext.weights",
              size_threshold=0)
    assert (tmp_path / "ext.weights").exists()
    x = rng.standard_normal((3, 8)).astype(np.float32)
    assert_close(lpir_run(tmp_path / "ext.onnx", [x]), ort_run(tmp_path / "ext.onnx", [x]), TOLERANCE)
    assert lpir.read_model(tmp_path / "ext.onnx").parameters[0].outputs[0].shape == (DYNAMIC, 8)


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "missing.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path, location):
    model = _matmul_model(np.ones((8, 16), np.float32))
    onnx.save(model, str(tmp_path / "ext.onnx"), save_as_external_data=True, location="w.bin", size_threshold=0)
    model = onnx.load(str(tmp_path / "ext.onnx"), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = location
    (tmp_path / "inner").mkdir()
    onnx.save(model, str(tmp_path / "inner" / "evil.onnx"))
    (tmp_path / "outside.bin").write_bytes((tmp_path / "w.bin").read_bytes())
    with pytest.raises(lpir.ModelParseError, match=f"evil.onnx.*{location}"):
        lpir.read_model(tmp_path / "inner" / "evil.onnx")


def test_declared_dims_are_read_as_openvino_reads_them(tmp_path):
    """dim_value 0 is a static 0, -1 (PaddlePaddle's unknown) and dim_param are dynamic."""
    import openvino as ov
    inputs = [_float_info("a", [0, 3]), _float_info("b", [-1, "n", 4])]
    nodes = [helper.make_node("Relu", ["a"], ["ra"]), helper.make_node("Relu", ["b"], ["rb"])]
    graph = _graph(nodes, inputs, [_float_info("ra", None), _float_info("rb", None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "m.onnx"))
    ours = [str(lpir.ir.shape.format_shape(p.outputs[0].shape)) for p in lpir.read_model(tmp_path / "m.onnx").parameters]
    theirs = [str(i.get_partial_shape()).strip("[]") for i in ov.convert_model(str(tmp_path / "m.onnx")).inputs]
    assert ours == ["0,3", "?,?,4"] and ours == theirs


def test_newer_opset_reads_ops_whose_revisions_only_widen_types(tmp_path):
    """A model of the newest opset onnx knows: Reshape, Transpose, Cast were revised after 22
    only to admit new element types, Add not at all; the result matches numpy."""
    newest = onnx.defs.onnx_opset_version()
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("Transpose", ["r"], ["t"]),
             helper.make_node("Cast", ["t"], ["c"], to=onnx.TensorProto.INT32),
             helper.make_node("Add", ["c", "c"], ["y"])]
    graph = _graph(nodes, [_float_info("x", [2, 3])], [helper.make_tensor_value_info("y", onnx.TensorProto.INT32, None)],
                   [numpy_helper.from_array(np.array([3, 2], np.int64), "shape")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", newest)]), str(tmp_path / "m.onnx"))
    x = np.arange(6, dtype=np.float32).reshape(2, 3) * 1.5
    (y,) = lpir_run(tmp_path / "m.onnx", [x])
    np.testing.assert_array_equal(y, 2 * x.reshape(3, 2).T.astype(np.int32))


def test_revision_with_a_new_meaning_is_refused_with_the_other_unsupported_ops(tmp_path):
    """DequantizeLinear gained ``output_dtype`` in opset 23: a node that sets it is refused, by
    name, in the one error that also lists an op without a converter; one that leaves it at its
    default is read."""
    scale = numpy_helper.from_array(np.asarray(0.5, dtype=np.float32), "scale")
    nodes = [helper.make_node("DequantizeLinear", ["x", "scale"], ["d"], name="dq", output_dtype=TensorProto.FLOAT16),
             helper.make_node("Det", ["d"], ["y"], name="det")]
    x_info = helper.make_tensor_value_info("x", TensorProto.INT8, [2, 2])
    graph = helper.make_graph(nodes, "g", [x_info], [_float_info("y", None)], [scale])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)]), str(tmp_path / "m.onnx"))
    with pytest.raises(lpir.UnsupportedOpError) as info:
        lpir.read_model(tmp_path / "m.onnx")
    message = str(info.value)
    assert "2 ONNX op type(s) in 2 node(s)" in message
    assert "DequantizeLinear (output_dtype=10 (added in opset 23)): 1 node(s): 'dq'" in message
    assert "Det: 1 node(s): 'det'" in message
    del nodes[0].attribute[0]  # output_dtype back to its default
    graph = helper.make_graph(nodes[:1], "g", [x_info], [_float_info("d", None)], [scale])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)]), str(tmp_path / "default.onnx"))
    x = np.asarray([[-4, 2], [0, 7]], dtype=np.int8)
    (y,) = lpir_run(tmp_path / "default.onnx", [x])
    np.testing.assert_array_equal(y, x.astype(np.float32) * 0.5)


def test_every_revision_of_a_converted_op_is_reviewed():
    """Each revision onnx knows of an op lpir converts, after the opset its converter follows,
    is listed as compatible: a new onnx release with new revisions fails here until they are read."""
    from lpir.io.onnx.context import CONVERTERS
    from lpir.io.onnx.revisions import COMPATIBLE_REVISIONS

    unreviewed = []
    for op_type, conv in CONVERTERS.items():
        for version in range(conv.spec_opset + 1, onnx.defs.onnx_opset_version() + 1):
            since = onnx.defs.get_schema(op_type, version, "").since_version
            if since > conv.spec_opset and (op_type, since) not in COMPATIBLE_REVISIONS:
                unreviewed.append(f"{op_type}-{since}")
    assert not sorted(set(unreviewed))
