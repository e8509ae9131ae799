"""TensorIterator, Loop and If IRs as OpenVINO writes them: read, run and written back.

The reference IRs are written by ``openvino.save_model`` from models built with OpenVINO's API
(tests/bodymodels.py) and by its ONNX frontend from ONNX Loop, Scan and If models. A read + save
keeps the structure (layers, ports, edges, port maps, back edges and bodies, compared by layer
name since ids may be renumbered), OpenVINO computes the same outputs from lpir's copy as from
its own file, and lpir's interpreter agrees with OpenVINO's CPU plugin.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import onnx
import openvino as ov
import pytest
from onnx import TensorProto, helper

import bodymodels
import lpir
import ovmodels
from lpir.errors import EvaluationError, LpirError, ValidationError
from lpir.ir import make_constant, make_node, make_parameter, make_result
from lpir.ir.body import Body, InputMap
from lpir.ir.graph import Model
from lpir.ops import infer_node

_BODY_TAGS = ("body", "then_body", "else_body")
_MAP_TAGS = ("port_map", "then_port_map", "else_port_map")


# -- reference IRs ------------------------------------------------------------------------------
def onnx_loop() -> onnx.ModelProto:
    """ONNX Loop: a carried sum with a scan output and an outer-scope value read in the body."""
    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "x"], ["acc_out"]), helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Mul", ["acc_out", "two"], ["scan_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("scan_out", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])])
    graph = helper.make_graph([helper.make_node("Loop", ["M", "cond", "init"], ["final", "scans"], body=body)], "g",
                              [helper.make_tensor_value_info("M", TensorProto.INT64, []),
                               helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
                               helper.make_tensor_value_info("init", TensorProto.FLOAT, [2, 3]),
                               helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("final", TensorProto.FLOAT, [2, 3]),
                               helper.make_tensor_value_info("scans", TensorProto.FLOAT, ["n", 2, 3])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])


def onnx_scan() -> onnx.ModelProto:
    """ONNX Scan (a TensorIterator in OpenVINO): a running sum over the rows of xs."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "xi"], ["s2"]), helper.make_node("Identity", ["s2"], ["yi"])], "body",
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, [3]),
         helper.make_tensor_value_info("xi", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("s2", TensorProto.FLOAT, [3]),
         helper.make_tensor_value_info("yi", TensorProto.FLOAT, [3])])
    graph = helper.make_graph([helper.make_node("Scan", ["s0", "xs"], ["sf", "ys"], body=body, num_scan_inputs=1)],
                              "g", [helper.make_tensor_value_info("s0", TensorProto.FLOAT, [3]),
                                    helper.make_tensor_value_info("xs", TensorProto.FLOAT, [4, 3])],
                              [helper.make_tensor_value_info("sf", TensorProto.FLOAT, [3]),
                               helper.make_tensor_value_info("ys", TensorProto.FLOAT, [4, 3])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])


def converted(proto: onnx.ModelProto) -> ov.Model:
    """The model as OpenVINO's ONNX frontend converts it."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        onnx.save(proto, str(path))
        return ov.convert_model(str(path))


# name → (how to build the OpenVINO model, input values by parameter name)
CASES = {
    "if_then": (bodymodels.if_model, {"c": True}),
    "if_else": (bodymodels.if_model, {"c": False}),
    "loop_counted": (bodymodels.loop_model, {"trip": 5, "limit": 1e9}),
    "loop_condition": (bodymodels.loop_model, {"trip": 10, "limit": 2.0}),
    "loop_unbounded": (bodymodels.loop_model, {"trip": -1, "limit": 6.0}),
    "tensor_iterator": (bodymodels.tensor_iterator_model, {}),
    "onnx_loop": (lambda: converted(onnx_loop()), {"M": 4, "cond": True}),
    "onnx_loop_no_iteration": (lambda: converted(onnx_loop()), {"M": 3, "cond": False}),
    "onnx_scan": (lambda: converted(onnx_scan()), {}),
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bodies")
    saved = {}

    def get(name: str) -> tuple[Path, list[np.ndarray]]:
        if name not in saved:
            build, fixed = CASES[name]
            model = build()
            xml = folder / f"{name}.xml"
            ov.save_model(model, str(xml), compress_to_fp16=False)
            saved[name] = xml, bodymodels.inputs_for(model, **fixed)
        return saved[name]
    return get


# -- structure, by layer name -------------------------------------------------------------------
def structure(graph: ElementTree.Element) -> tuple:
    """A graph element (``<net>`` or a body) with ids replaced by layer names and port positions."""
    layers = {layer.get("id"): layer for layer in graph.find("layers")}
    names = {lid: layer.get("name") for lid, layer in layers.items()}
    ports = {}
    described = {}
    for lid, layer in layers.items():
        ins = [p.get("id") for p in layer.find("input") or []]
        outs = [p.get("id") for p in layer.find("output") or []]
        ports[lid] = {pid: i for i, pid in enumerate(ins)} | {pid: i for i, pid in enumerate(outs)}
        data = layer.find("data")
        attrs = {k: v for k, v in (data.attrib if data is not None else {}).items() if k not in ("offset", "size")}
        port_text = [(p.get("precision"), p.get("names"), tuple(d.text for d in p.findall("dim")))
                     for group in ("input", "output") for p in (layer.find(group) or [])]
        bodies = {}
        for tag in _BODY_TAGS:
            if layer.find(tag) is not None:
                bodies[tag] = structure(layer.find(tag))
        body_names = {tag: {b.get("id"): b.get("name") for b in layer.find(tag).find("layers")} for tag in bodies}
        maps = {}
        for tag in _MAP_TAGS:
            if layer.find(tag) is None:
                continue
            inner = body_names["body" if tag == "port_map" else tag.replace("port_map", "body")]
            maps[tag] = sorted(
                (e.tag, str(ports[lid].get(e.get("external_port_id"), e.get("external_port_id"))),
                 inner[e.get("internal_layer_id")],
                 tuple((k, e.get(k)) for k in ("axis", "start", "end", "stride", "part_size", "purpose")))
                for e in layer.find(tag))
        back = sorted((body_names["body"][e.get("from-layer")], body_names["body"][e.get("to-layer")])
                      for e in (layer.find("back_edges") or []))
        described[layer.get("name")] = (layer.get("type"), layer.get("version"), tuple(sorted(attrs.items())),
                                        tuple(port_text), maps, back, bodies)
    edges = sorted((names[e.get("from-layer")], ports[e.get("from-layer")][e.get("from-port")],
                    names[e.get("to-layer")], ports[e.get("to-layer")][e.get("to-port")])
                   for e in graph.find("edges"))
    return described, edges


@pytest.mark.parametrize("name", sorted(CASES))
def test_read_save_keeps_the_structure_and_openvino_computes_the_same(name, reference, tmp_path):
    xml, inputs = reference(name)
    model = lpir.read_model(xml)
    copy = tmp_path / "copy.xml"
    lpir.save_model(model, copy)
    original, saved = ElementTree.parse(xml).getroot(), ElementTree.parse(copy).getroot()
    assert structure(saved) == structure(original)
    for ours, theirs in zip(ovmodels.run(copy, inputs), ovmodels.run(xml, inputs)):
        np.testing.assert_array_equal(ours, theirs)
    again = tmp_path / "again.xml"
    lpir.save_model(lpir.read_model(copy), again)  # lpir's own output reads and writes back byte for byte
    assert again.read_bytes() == copy.read_bytes()
    assert again.with_suffix(".bin").read_bytes() == copy.with_suffix(".bin").read_bytes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_interpreter_agrees_with_the_cpu_plugin(name, reference):
    xml, inputs = reference(name)
    expected = ovmodels.run(xml, inputs)
    got = lpir.compile_model(lpir.read_model(xml))(inputs)
    assert len(got) == len(expected)
    for ours, theirs in zip(got, expected):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_the_condition_ends_a_loop_early(reference):
    """The same trip count with a low limit runs fewer iterations: the stacked output is shorter."""
    counted = lpir.compile_model(lpir.read_model(reference("loop_counted")[0]))(reference("loop_counted")[1])
    stopped = lpir.compile_model(lpir.read_model(reference("loop_condition")[0]))(reference("loop_condition")[1])
    assert counted[1].shape[0] == 5 and counted[2] == 4
    assert 0 < stopped[1].shape[0] < 10 and stopped[2] == stopped[1].shape[0] - 1


def test_inferred_shapes_match_openvino(reference):
    """Output shapes inferred from the bodies: static where OpenVINO knows them, dynamic where it does not."""
    for name in ("tensor_iterator", "loop_counted", "if_then"):
        xml, _ = reference(name)
        ours = lpir.read_model(xml)
        theirs = ovmodels.core().read_model(str(xml))
        for out, ov_out in zip(ours.outputs, theirs.outputs):
            assert [str(d) if not isinstance(d, int) else d for d in out.shape] == \
                [d.get_length() if d.is_static else "?" for d in ov_out.get_partial_shape()]


# -- malformed bodies -----------------------------------------------------------------------------
def edited(xml: Path, tmp_path: Path, old: str, new: str) -> Path:
    text = xml.read_text()
    assert old in text, old
    target = tmp_path / "edited.xml"
    target.write_text(text.replace(old, new, 1))
    target.with_suffix(".bin").write_bytes(xml.with_suffix(".bin").read_bytes())
    return target


def refused(path: Path, *fragments: str) -> str:
    with pytest.raises(LpirError) as info:
        lpir.compile_model(lpir.read_model(path))
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_a_port_map_naming_a_missing_port_is_refused(reference, tmp_path):
    xml, _ = reference("onnx_scan")
    bad = edited(xml, tmp_path, 'external_port_id="1"', 'external_port_id="7"')
    refused(bad, "external_port_id 7", "input port")


def test_a_port_map_naming_a_layer_that_is_not_a_parameter_is_refused(reference, tmp_path):
    xml, _ = reference("onnx_scan")
    text = xml.read_text()
    entry = next(line for line in text.splitlines() if 'external_port_id="1"' in line)
    internal = entry.split('internal_layer_id="')[1].split('"')[0]
    bad = edited(xml, tmp_path, f'external_port_id="1" internal_layer_id="{internal}"',
                 'external_port_id="1" internal_layer_id="99"')
    refused(bad, "body layer 99 is not a body Parameter")


def test_a_missing_else_body_is_refused(reference, tmp_path):
    xml, _ = reference("if_then")
    text = xml.read_text()
    start, end = text.index("<else_body>"), text.index("</else_body>") + len("</else_body>")
    bad = edited(xml, tmp_path, text[start:end], "")
    refused(bad, "no <else_body>")


def test_an_unfed_body_parameter_is_refused(reference, tmp_path):
    xml, _ = reference("tensor_iterator")
    text = xml.read_text()
    entry = next(line for line in text.splitlines() if "<input axis" in line)
    bad = edited(xml, tmp_path, entry, "")
    refused(bad, "is fed by no input")
    unsliced = edited(xml, tmp_path, entry, entry.replace('axis="1"', "").replace("<input", "<input "))
    refused(unsliced, "has no sliced input, so no iteration count")  # it would never end
    text = xml.read_text()
    merged = next(line for line in text.splitlines() if "<input external_port_id" in line)
    refused(edited(xml, tmp_path, merged, ""), "back edge to body Parameter", "which no port_map input feeds")


def test_a_cycle_inside_a_body_is_refused(reference, tmp_path):
    """Body layer 3 (the Add) fed back from its own output: the message names the body's owner."""
    xml, _ = reference("onnx_loop")
    body = ElementTree.parse(xml).getroot().find("layers/layer/body")
    add = next(layer for layer in body.find("layers") if layer.get("type") == "Add")
    edge = next(e for e in body.find("edges") if e.get("to-layer") == add.get("id") and e.get("to-port") == "0")
    old = f'<edge from-layer="{edge.get("from-layer")}" from-port="{edge.get("from-port")}" to-layer="{add.get("id")}" to-port="0" />'
    new = f'<edge from-layer="{add.get("id")}" from-port="2" to-layer="{add.get("id")}" to-port="0" />'
    message = refused(edited(xml, tmp_path, old, new), "cycle", "body: layer")
    assert "Loop-opset5" in message


def test_bodies_built_in_memory_are_checked():
    """A Loop node whose body has no Parameter for a mapped input is refused by inference."""
    inner = make_parameter("f32", [2])
    body = Body(Model([inner], [make_result(inner.output)]), [InputMap(2, 1)])
    node = make_node("Loop", [make_constant(np.int64(2)).output, make_constant(True).output,
                              make_parameter("f32", [2]).output], version="opset5")
    node.bodies = [body]
    with pytest.raises(ValidationError, match="Parameter 1, it has 1"):
        infer_node(node)


def test_a_cloned_model_keeps_its_bodies_and_runs_the_same(reference):
    """clone_model (behind integer lowering and the algorithms' rewrites) copies bodies too:
    the clone's Loop runs its own copy of the body and computes the same outputs."""
    from lpir.ir.passes import clone_model
    xml, inputs = reference("loop_condition")
    model = lpir.read_model(xml)
    twin = clone_model(model)
    loop, twin_loop = (next(n for n in m.nodes() if n.type == "Loop") for m in (model, twin))
    assert twin_loop.bodies[0].model is not loop.bodies[0].model
    assert twin_loop.bodies[0].inputs == loop.bodies[0].inputs
    for a, b in zip(lpir.compile_model(twin)(inputs), lpir.compile_model(model)(inputs)):
        np.testing.assert_array_equal(a, b)


def test_a_body_layer_whose_declared_shape_its_op_contradicts_is_refused(reference, tmp_path):
    """Layers inside bodies are checked like the others: an Add declared [2, 4] from [2, 3] inputs."""
    xml, _ = reference("onnx_loop")
    text = xml.read_text()
    start = text.index('type="Add"')
    output = text.index("<output>", start)
    dim = text.index("<dim>3</dim>", output)
    bad = tmp_path / "bad.xml"
    bad.write_text(text[:dim] + "<dim>4</dim>" + text[dim + len("<dim>3</dim>"):])
    bad.with_suffix(".bin").write_bytes(xml.with_suffix(".bin").read_bytes())
    refused(bad, "layer 4 'scans' (Loop-opset5) body: layer", "(Add-opset1): output 0 is declared f32[2,4]")


def test_a_loop_that_would_never_end_is_refused(tmp_path):
    """Trip count -1 and a body condition that is a constant true: refused instead of run."""
    from openvino import opset13 as ops
    x = ops.parameter([2], np.float32, name="x")
    inner = ops.parameter([2], np.float32)
    body = ov.Model([ops.result(ops.constant(True)), ops.result(ops.relu(inner))], [inner])
    loop = ops.loop(ops.constant(np.int64(-1)), ops.constant(True))
    loop.set_function(body)
    loop.set_special_body_ports([-1, 0])
    loop.set_merged_input(inner, x.output(0), body.results[1].input_value(0))
    xml = tmp_path / "endless.xml"
    ov.save_model(ov.Model([ops.result(loop.get_iter_value(body.results[1].input_value(0), -1))], [x]), str(xml))
    model = lpir.read_model(xml)  # OpenVINO reads it too; running it is what cannot be done
    with pytest.raises(EvaluationError, match="Loop-opset5.*it would never end"):
        lpir.compile_model(model)([np.zeros(2, np.float32)])


def test_saving_over_its_own_files_keeps_body_constants_readable(reference, tmp_path):
    """The TensorIterator's weights live in its body: after a save over the model's own .bin they
    are read from the new file (the old map is closed), and the model still computes the same."""
    xml, inputs = reference("tensor_iterator")
    own = tmp_path / "own.xml"
    own.write_bytes(xml.read_bytes())
    own.with_suffix(".bin").write_bytes(xml.with_suffix(".bin").read_bytes())
    model = lpir.read_model(own)
    before = lpir.compile_model(model)(inputs)
    lpir.save_model(model, own)
    body = next(n for n in model.nodes() if n.bodies).bodies[0].model
    assert all(n.tensor.mapping is model.weights for n in body.nodes() if n.type == "Const")
    for a, b in zip(lpir.compile_model(model)(inputs), before):
        np.testing.assert_array_equal(a, b)


def test_inspect_counts_the_layers_and_weights_inside_bodies(reference):
    """The TensorIterator's two MatMuls and their 3×4 + 4×4 weights are in its body."""
    report = lpir.inspect_model(lpir.read_model(reference("tensor_iterator")[0]))
    assert report.op_counts["MatMul"] == 2 and report.op_counts["TensorIterator"] == 1
    assert report.parameters == 3 * 4 + 4 * 4
    assert [layer.type for layer in report.layers] == ["MatMul", "MatMul"]
    assert all(layer.mode == "float" for layer in report.layers)
