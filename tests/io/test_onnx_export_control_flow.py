"""ONNX export of If, Loop and TensorIterator, checked by running the exports in ONNX Runtime.

- ONNX models with If, Loop and Scan (built here, and every node test of ONNX's conformance suite
  holding one that lpir imports) go ONNX → lpir → ONNX and compute in ONNX Runtime what the
  original computes there, and what the suite's own reference outputs say.
- IRs built with OpenVINO's API (tests/bodymodels.py) compute in ONNX Runtime what OpenVINO's CPU
  plugin computes; TensorIterator slicing is a property over axis, direction, part size and
  dynamic dimensions. Port maps OpenVINO's CPU plugin does not run as its specification says
  (a start other than the first part, a stride other than the part size) are checked against
  numpy reading the port map as specified.
- Every export passes ``onnx.checker`` (full check); what ONNX cannot express is an error
  naming the node.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import openvino as ov
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

import bodymodels
import lpir
import ovmodels
from lpir.ir import make_constant, make_node, make_parameter, make_result
from lpir.ir.body import Body, InputMap, OutputMap, Slicing
from lpir.io.onnx.exporter import convert_to_onnx, write_onnx
from lpir.ir.graph import Model
from lpir.ops import build, infer_node
from onnx_check import assert_close, expected_failures, ort_run
from test_onnx_control_flow import if_graph, info, loop_graph, random, save, scan_graph
from test_openvino_bodies import CASES as OPENVINO_CASES

F, B, I64 = TensorProto.FLOAT, TensorProto.BOOL, TensorProto.INT64


def export(model: lpir.Model, folder: Path, **kwargs) -> Path:
    path = folder / "exported.onnx"
    lpir.save_model(model, path, **kwargs)
    onnx.checker.check_model(str(path), full_check=True)
    return path


def body_ops(graph: onnx.GraphProto) -> list[str]:
    """Op types of every sub-graph of ``graph`` (nested ones too)."""
    found = []
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                found += [n.op_type for n in attribute.g.node] + body_ops(attribute.g)
    return found


# -- ONNX → lpir → ONNX ------------------------------------------------------------------------
def _nested_graph() -> onnx.GraphProto:
    """A Loop whose body holds an If whose then-branch holds a Scan reading the model input w
    two scopes out: acc += (running sum of xs rows * w) in the first two iterations, then acc -= w."""
    scan_body = helper.make_graph(
        [helper.make_node("Add", ["s", "row"], ["s2"]), helper.make_node("Mul", ["s2", "w"], ["out"])], "scan_body",
        [helper.make_tensor_value_info("s", F, [3]), helper.make_tensor_value_info("row", F, [3])],
        [helper.make_tensor_value_info("s2", F, [3]), helper.make_tensor_value_info("out", F, [3])])
    then = helper.make_graph(
        [helper.make_node("Scan", ["zero3", "xs"], ["total", "rows"], body=scan_body, num_scan_inputs=1),
         helper.make_node("ReduceSum", ["rows", "axis0"], ["summed"], keepdims=0),
         helper.make_node("Add", ["acc", "summed"], ["acc_then"])], "then", [],
        [helper.make_tensor_value_info("acc_then", F, [3])])
    els = helper.make_graph([helper.make_node("Sub", ["acc", "w"], ["acc_else"])], "else", [],
                            [helper.make_tensor_value_info("acc_else", F, [3])])
    body = helper.make_graph(
        [helper.make_node("Less", ["i", "two"], ["early"]),
         helper.make_node("If", ["early"], ["acc_out"], then_branch=then, else_branch=els),
         helper.make_node("Identity", ["cond"], ["cond_out"])], "body",
        [helper.make_tensor_value_info("i", I64, []), helper.make_tensor_value_info("cond", B, []),
         helper.make_tensor_value_info("acc", F, [3])],
        [helper.make_tensor_value_info("cond_out", B, []), helper.make_tensor_value_info("acc_out", F, [3])])
    constants = [helper.make_tensor("two", I64, [], [2]), helper.make_tensor("zero3", F, [3], [0, 0, 0]), helper.make_tensor("axis0", I64, [1], [0])]
    return helper.make_graph([helper.make_node("Loop", ["trip", "", "init"], ["final"], body=body)], "nested",
                             [helper.make_tensor_value_info("trip", I64, []), helper.make_tensor_value_info("init", F, [3]),
                              helper.make_tensor_value_info("xs", F, [4, 3]), helper.make_tensor_value_info("w", F, [3])],
                             [helper.make_tensor_value_info("final", F, [3])], constants)


ONNX_GRAPHS = {
    "if_then": (if_graph, [np.array(True), random(2, 3), random(2, 3, seed=4)]),
    "if_else": (if_graph, [np.array(False), random(2, 3, seed=1), random(2, 3, seed=5)]),
    "loop_counted": (loop_graph, [np.array(4, np.int64), np.array(True), random(2, 3, seed=3),
                                  np.abs(random(2, 3)) + 0.1, np.array(1e9, np.float32)]),
    "loop_stopped_by_body": (loop_graph, [np.array(20, np.int64), np.array(True), random(2, 3, seed=3),
                                          np.abs(random(2, 3)) + 0.1, np.array(3.0, np.float32)]),
    "loop_negative_trip": (loop_graph, [np.array(-1, np.int64), np.array(True), random(2, 3, seed=3),
                                        np.abs(random(2, 3)) + 0.1, np.array(5.0, np.float32)]),
    "loop_false_condition": (loop_graph, [np.array(5, np.int64), np.array(False), random(2, 3, seed=3),
                                          np.abs(random(2, 3)) + 0.1, np.array(1e9, np.float32)]),
    "scan_forwards": (lambda: scan_graph(0), [random(2, 2), random(2, 5, 2, seed=1), random(2, seed=2)]),
    "scan_backwards": (lambda: scan_graph(1), [random(2, 2), random(2, 5, 2, seed=1), random(2, seed=2)]),
    "nested": (_nested_graph, [np.array(4, np.int64), random(3), random(4, 3, seed=1), random(3, seed=2)]),
    "nested_no_trip": (_nested_graph, [np.array(0, np.int64), random(3), random(4, 3, seed=1), random(3, seed=2)]),
}


@pytest.mark.parametrize("name", ONNX_GRAPHS)
def test_onnx_control_flow_round_trips(name, tmp_path):
    build_graph, inputs = ONNX_GRAPHS[name]
    original = save(build_graph(), tmp_path)
    path = export(lpir.read_model(original), tmp_path)
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version == 13
    assert {n.op_type for n in proto.graph.node} & {"If", "Loop"}
    expected = ort_run(original, inputs)
    got = ort_run(path, inputs)
    assert_close(got, expected, tolerance=1e-5)


def _suite_cases() -> dict:
    """The conformance suite's node tests with an If, Loop or Scan that lpir imports (those its
    expected-failure list does not name), except bfloat16 ones: ONNX Runtime's Python API takes
    no bfloat16 arrays."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        from onnx.backend.test.case import node
        cases = node.collect_testcases(None)
    failing = expected_failures()
    return {case.name: case for case in cases
            if _has_control_flow(case.model.graph) and f"{case.name}_cpu" not in failing
            and not any(np.asarray(v).dtype.name == "bfloat16" for data in case.data_sets for v in data[0])}


def _has_control_flow(graph: onnx.GraphProto) -> bool:
    return any(n.op_type in ("If", "Loop", "Scan") for n in graph.node) or bool(body_ops(graph))


SUITE = _suite_cases()


def test_the_suite_holds_control_flow_cases():
    assert {"test_if", "test_loop11", "test_scan9_sum", "test_scan_sum",
            "test_range_float_type_positive_delta_expanded"} <= set(SUITE)


@pytest.mark.parametrize("name", sorted(SUITE))
def test_conformance_suite_control_flow_round_trips(name, tmp_path):
    """The export computes in ONNX Runtime the suite's reference outputs (at its tolerances)
    and what ONNX Runtime computes from the original."""
    case = SUITE[name]
    original = tmp_path / "original.onnx"
    onnx.save(case.model, str(original))
    path = export(lpir.read_model(original), tmp_path)
    for inputs, reference in case.data_sets:
        inputs = [np.asarray(v) for v in inputs]
        got = ort_run(path, inputs)
        for value, expected in zip(got, reference):
            np.testing.assert_allclose(value, expected, rtol=case.rtol, atol=case.atol)
        assert_close(got, ort_run(original, inputs), tolerance=1e-5)


# -- OpenVINO IR → ONNX ------------------------------------------------------------------------
def _openvino_cases() -> dict:
    cases = dict(OPENVINO_CASES)
    positive, negative = np.full((4, 3), 0.5, np.float32), np.full((4, 3), -0.5, np.float32)
    rows = random(2, 6, 3, seed=9)  # the sequence's dimensions are open: 2 batches of 6 rows
    cases.update({
        "nested_then": (bodymodels.nested_model, {"init": positive, "trip": 3}),
        "nested_else": (bodymodels.nested_model, {"init": negative, "trip": 3}),
        "loop_over_slices_stopped_by_trip": (bodymodels.loop_over_slices_model, {"trip": [3], "xs": rows}),
        "loop_over_all_slices": (bodymodels.loop_over_slices_model, {"trip": [6], "xs": rows}),
        "quantized_body": (bodymodels.quantized_body_model, {}),
        # the export needs the axes' value, which the body reads from a Parameter
        "constant_through_parameter": (bodymodels.constant_through_parameter_model, {"trip": 3}),
    })
    return cases


IR_CASES = _openvino_cases()


def _ir(case: str, folder: Path) -> tuple[Path, list[np.ndarray]]:
    build_model, fixed = IR_CASES[case]
    model = build_model()
    xml = folder / f"{case}.xml"
    ov.save_model(model, str(xml), compress_to_fp16=False)
    return xml, bodymodels.inputs_for(model, **fixed)


@pytest.mark.parametrize("case", IR_CASES)
def test_openvino_bodies_export_as_the_cpu_plugin_computes(case, tmp_path):
    """ONNX Runtime runs the export as OpenVINO runs the IR; lpir reads the export back into
    a model that computes the same."""
    xml, inputs = _ir(case, tmp_path)
    path = export(lpir.read_model(xml), tmp_path)
    expected = ovmodels.run(xml, inputs)
    assert_close(ort_run(path, inputs), expected, tolerance=1e-5)
    assert_close(lpir.compile_model(lpir.read_model(path))(inputs), expected, tolerance=1e-5)


def test_fake_quantize_in_a_body_becomes_qdq_inside_the_loop(tmp_path):
    xml, _ = _ir("quantized_body", tmp_path)
    written = lpir.save_model(lpir.read_model(xml), tmp_path / "q.onnx")
    assert written.op_counts["QuantizeLinear"] == 1 and written.op_counts["Loop"] == 1
    proto = onnx.load(str(export(lpir.read_model(xml), tmp_path)))
    assert [n.op_type for n in proto.graph.node] == ["Loop"]
    inside = body_ops(proto.graph)
    assert inside.count("QuantizeLinear") == 1 and inside.count("DequantizeLinear") >= 1
    assert "Round" not in inside


def test_body_weights_go_to_the_external_data_file_too(tmp_path):
    """A TensorIterator whose body holds a 32×32 weight: it is written in the main graph, where the
    body reads it, and with a low threshold its bytes go to the data file beside the model like the
    other weights; ONNX Runtime reads them there."""
    from openvino import opset13 as ops
    w = ops.constant(np.random.default_rng(5).standard_normal((32, 32)).astype(np.float32) * 0.2)
    model = bodymodels.recurrence_model(3, 32, lambda h, row: ops.tanh(ops.add(ops.matmul(h, w, False, False), row)))
    xml = tmp_path / "rnn.xml"
    ov.save_model(model, str(xml), compress_to_fp16=False)
    path = tmp_path / "rnn.onnx"
    assert write_onnx(convert_to_onnx(lpir.read_model(xml)), path, external_threshold=1000) is not None
    graph = onnx.load(str(path), load_external_data=False).graph
    assert not [t for t in graph.node[0].attribute[0].g.initializer if t.dims == [32, 32]]
    assert [t.data_location for t in graph.initializer if t.dims == [32, 32]] == [TensorProto.EXTERNAL]
    assert (tmp_path / "rnn.onnx.data").stat().st_size >= 32 * 32 * 4
    inputs = [random(3, 32), random(1, 32, seed=1)]
    assert_close(ort_run(path, inputs), ovmodels.run(xml, inputs), tolerance=1e-5)


def test_loop_over_slices_exports_trip_count_and_counter(tmp_path):
    """The i32 [1] trip count becomes ONNX's int64 scalar bounded by the rows the dynamic axis
    holds (measured at run time), and the i32 [1] counter is ONNX's iteration number cast."""
    xml, _ = _ir("loop_over_all_slices", tmp_path)
    proto = onnx.load(str(export(lpir.read_model(xml), tmp_path)))
    ops = [n.op_type for n in proto.graph.node]
    assert {"Shape", "Min", "Loop"} <= set(ops)
    assert {"Slice", "Cast"} <= set(body_ops(proto.graph))


def test_loop_trip_count_beyond_the_slices_or_unbounded(tmp_path):
    """A trip count above the number of rows, or -1 (no limit), runs once per row; OpenVINO's
    CPU plugin refuses both, so numpy gives the expected values: row * (i + 1) + scale."""
    xml, _ = _ir("loop_over_all_slices", tmp_path)
    path = export(lpir.read_model(xml), tmp_path)
    xs, scale = random(2, 5, 3, seed=3), random(3, seed=4)
    expected = xs * np.arange(1, 6, dtype=np.float32)[None, :, None] + scale
    for trip in (9, -1):
        every, last = ort_run(path, [xs, np.array([trip], np.int32), scale])
        assert_close([every, last], [expected, np.array([4], np.int32)], tolerance=1e-6)


@settings(max_examples=16, deadline=None)
@given(axis=st.integers(0, 2), backwards=st.booleans(), part_size=st.sampled_from([1, 2]),
       out_backwards=st.booleans(), dynamic=st.booleans())
def test_tensor_iterator_slicing_matches_openvino(tmp_path_factory, axis, backwards, part_size, out_backwards, dynamic):
    """Whole-axis slicing in parts of 1 or 2, read and concatenated in either direction, with
    the sequence's other dimensions static or open; a last value with no back edge."""
    folder = tmp_path_factory.mktemp("ti")
    start, end, stride = (-1, 0, -part_size) if backwards else (0, -1, part_size)
    model = bodymodels.sliced_tensor_iterator_model(axis, start, end, stride, part_size,
                                                   -1 if out_backwards else 1, dynamic)
    xml = folder / "ti.xml"
    ov.save_model(model, str(xml), compress_to_fp16=False)
    dims = [2, 3]
    dims.insert(axis, 6)
    part = [part_size if i == axis else d for i, d in enumerate(dims)]
    inputs = [random(*dims, seed=axis), random(*part, seed=7)]
    path = export(lpir.read_model(xml), folder)
    assert_close(ort_run(path, inputs), ovmodels.run(xml, inputs), tolerance=1e-5)


def _sliced_iterator(rank: int, axis: int, slicing: Slicing, out_slicing: Slicing, length: int | None) -> Model:
    """An lpir TensorIterator over a sequence of ``rank`` dims (the sliced one ``length`` long,
    None: open): h = 0.5 * h + part, every h concatenated by ``out_slicing``, the last h."""
    seq_shape = tuple(length if i == axis else 2 for i in range(rank)) if length else \
        tuple(-1 if i == axis else 2 for i in range(rank))
    part_shape = tuple(slicing.part_size if i == axis else 2 for i in range(rank))
    xs, h0 = make_parameter("f32", seq_shape, name="xs"), make_parameter("f32", part_shape, name="h0")
    part, h = make_parameter("f32", part_shape, name="part"), make_parameter("f32", part_shape, name="h")
    half = build("Multiply", [h.output, make_constant(np.float32(0.5)).output])
    new_h = build("Add", [half.output, part.output])
    body = Body(Model([part, h], [make_result(new_h.output)]),
                [InputMap(0, 0, slicing), InputMap(1, 1, back_edge=0)],
                [OutputMap(0, 0, out_slicing), OutputMap(1, 0)])
    node = make_node("TensorIterator", [xs.output, h0.output], name="iterator")
    node.bodies = [body]
    infer_node(node)
    return Model([xs, h0], [make_result(node.outputs[0], name="every"), make_result(node.outputs[1], name="last")])


def _numpy_iterator(xs: np.ndarray, h: np.ndarray, axis: int, slicing: Slicing, out_backwards: bool):
    """The port map read as OpenVINO's specification says: negative start/end count from the
    end (-1 being the end), parts of part_size every stride, a negative stride walking back."""
    length = xs.shape[axis]
    start = slicing.start + length + 1 if slicing.start < 0 else slicing.start
    end = slicing.end + length + 1 if slicing.end < 0 else slicing.end
    count = abs(end - start) // abs(slicing.stride)
    every = []
    for i in range(count):
        begin = start + i * slicing.stride if slicing.stride > 0 else start + (i + 1) * slicing.stride
        h = 0.5 * h + np.take(xs, range(begin, begin + slicing.part_size), axis=axis)
        every.append(h)
    return [np.concatenate(every[::-1] if out_backwards else every, axis=axis), h]


@settings(max_examples=30, deadline=None)
@given(data=st.data(), rank=st.integers(1, 3), part_size=st.integers(1, 2), gap=st.integers(0, 1),
       backwards=st.booleans(), out_backwards=st.booleans(), dynamic=st.booleans())
def test_tensor_iterator_port_maps_match_their_specification(tmp_path_factory, data, rank, part_size, gap,
                                                              backwards, out_backwards, dynamic):
    """Any axis (negative too), strides of part_size + gap either way, a start and end anywhere
    on the axis (positive or counted from its end), the axis length known or open."""
    axis = data.draw(st.integers(-rank, rank - 1))
    stride = part_size + gap
    length = 7
    lo = data.draw(st.integers(0, length - stride))
    hi = data.draw(st.integers(lo + stride, length))
    # each position written from the start or counted from the end
    first = lo - length - 1 if data.draw(st.booleans()) else lo
    last = hi - length - 1 if data.draw(st.booleans()) else hi
    slicing = Slicing(axis, first, last, stride, part_size) if not backwards else \
        Slicing(axis, last, first, -stride, part_size)
    out_slicing = Slicing(axis, stride=-part_size if out_backwards else part_size, part_size=part_size)
    model = _sliced_iterator(rank, axis % rank, slicing, out_slicing, None if dynamic else length)
    xs = random(*[length if i == axis % rank else 2 for i in range(rank)], seed=lo)
    h0 = random(*[part_size if i == axis % rank else 2 for i in range(rank)], seed=hi)
    expected = _numpy_iterator(xs, h0, axis % rank, slicing, out_backwards)
    folder = tmp_path_factory.mktemp("ti_spec")
    path = export(model, folder)
    assert_close(ort_run(path, [xs, h0]), expected, tolerance=1e-6)
    assert_close(lpir.compile_model(model)([xs, h0]), expected, tolerance=1e-6)


# -- opsets and what ONNX cannot express -------------------------------------------------------
def test_a_pinned_newer_opset_rewrites_the_forms_inside_bodies(tmp_path):
    """ReduceMean inside a Loop body takes its axes as an input from opset 18 on."""
    body = helper.make_graph(
        [helper.make_node("ReduceMean", ["acc"], ["mean"], axes=[1], keepdims=1),
         helper.make_node("Sub", ["acc", "mean"], ["acc_out"]), helper.make_node("Identity", ["cond"], ["cond_out"])],
        "body", [helper.make_tensor_value_info("i", I64, []), helper.make_tensor_value_info("cond", B, []),
                 helper.make_tensor_value_info("acc", F, [2, 3])],
        [helper.make_tensor_value_info("cond_out", B, []), helper.make_tensor_value_info("acc_out", F, [2, 3])])
    graph = helper.make_graph([helper.make_node("Loop", ["trip", "", "x"], ["y"], body=body)], "g",
                              [helper.make_tensor_value_info("trip", I64, []), helper.make_tensor_value_info("x", F, [2, 3])],
                              [helper.make_tensor_value_info("y", F, [2, 3])])
    original = save(graph, tmp_path, opset=13)
    path = export(lpir.read_model(original), tmp_path, opset=18)
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version == 18
    body = proto.graph.node[-1].attribute[0].g
    mean = next(n for n in body.node if n.op_type == "ReduceMean")
    assert len(mean.input) == 2 and not any(a.name == "axes" for a in mean.attribute)
    assert mean.input[1] in {t.name for t in body.initializer}  # the body holds its constants
    inputs = [np.array(2, np.int64), random(2, 3)]
    assert_close(ort_run(path, inputs), ort_run(original, inputs), tolerance=1e-5)


def test_an_op_of_a_newer_opset_inside_a_nested_body_raises_the_model_opset(tmp_path):
    """HSwish (ONNX HardSwish, opset 14) in the else-branch of an If inside a TensorIterator:
    the model is written at opset 14, and a pinned opset 13 is an error naming it."""
    from openvino import opset13 as ops

    def step(h, row):
        then_x, else_x = ops.parameter([1, 3], np.float32), ops.parameter([1, 3], np.float32)
        then_body = ov.Model([ops.result(ops.relu(then_x))], [then_x])
        else_body = ov.Model([ops.result(ops.hswish(else_x))], [else_x])
        total = ops.add(h, row)
        branch = ops.if_op(ops.greater(ops.reduce_sum(total, ops.constant(np.array([0, 1], np.int64))),
                                       ops.constant(np.float32(0))).output(0))
        branch.set_then_body(then_body)
        branch.set_else_body(else_body)
        branch.set_input(total.output(0), then_x, else_x)
        return branch.set_output(then_body.results[0], else_body.results[0])

    model = bodymodels.recurrence_model(4, 3, step)
    xml = tmp_path / "nested.xml"
    ov.save_model(model, str(xml), compress_to_fp16=False)
    path = export(lpir.read_model(xml), tmp_path)
    assert onnx.load(str(path)).opset_import[0].version == 14
    for seed in range(3):
        inputs = [random(4, 3, seed=seed) * 2, random(1, 3, seed=seed + 5)]
        assert_close(ort_run(path, inputs), ovmodels.run(xml, inputs), tolerance=1e-5)
    with pytest.raises(lpir.ValidationError, match=r"opset 13 cannot express HSwish .*needs opset 14"):
        lpir.save_model(lpir.read_model(xml), tmp_path / "old.onnx", opset=13)


def _if_model(then_value, else_value) -> Model:
    condition = make_parameter("boolean", (), name="c")
    bodies = []
    for value in (then_value, else_value):
        bodies.append(Body(Model([], [make_result(value().output)]), [], [OutputMap(0, 0)]))
    node = make_node("If", [condition.output], name="choose", version="opset8")
    node.bodies = bodies
    infer_node(node)
    return Model([condition], [make_result(node.outputs[0], name="y")])


def test_branches_of_different_element_types_are_an_error_naming_the_if(tmp_path):
    model = _if_model(lambda: make_constant(np.float32([1.0])), lambda: make_constant(np.int32([1])))
    target = tmp_path / "if.onnx"
    with pytest.raises(lpir.LpirError, match=r"'choose' \(If-opset8\): output 0 is f32 in then_body and i32"):
        lpir.save_model(model, target)
    assert not list(tmp_path.iterdir())


def test_concatenating_a_body_result_of_unknown_rank_is_an_error_naming_the_node(tmp_path):
    """ONNX's scan outputs gain their iteration axis in front; moving it to the concatenation
    axis needs the rank of the body's Result."""
    xs = make_parameter("f32", None, name="xs")
    part = make_parameter("f32", None, name="part")
    doubled = build("Add", [part.output, part.output])
    body = Body(Model([part], [make_result(doubled.output)]), [InputMap(0, 0, Slicing(1))], [OutputMap(0, 0, Slicing(1))])
    node = make_node("TensorIterator", [xs.output], name="iterator")
    node.bodies = [body]
    infer_node(node)
    model = Model([xs], [make_result(node.outputs[0], name="y")])
    with pytest.raises(lpir.LpirError, match=r"'iterator' \(TensorIterator-opset1\): output 0 .* rank is unknown"):
        lpir.save_model(model, tmp_path / "ti.onnx")
    assert not list(tmp_path.iterdir())


def test_an_unsupported_op_inside_a_body_is_listed(tmp_path):
    x = make_parameter("f32", [2], name="x")
    inner = make_parameter("f32", [2], name="inner")
    running = build("CumSum", [inner.output, make_constant(np.int64(0)).output], {}, name="running", opset=3)
    then_body = Body(Model([inner], [make_result(running.output)]), [InputMap(1, 0)], [OutputMap(0, 0)])
    other = make_parameter("f32", [2], name="other")
    else_body = Body(Model([other], [make_result(other.output)]), [InputMap(1, 0)], [OutputMap(0, 0)])
    condition = make_parameter("boolean", (), name="c")
    node = make_node("If", [condition.output, x.output], name="choose", version="opset8")
    node.bodies = [then_body, else_body]
    infer_node(node)
    model = Model([condition, x], [make_result(node.outputs[0], name="y")])
    with pytest.raises(lpir.UnsupportedOpError, match=r"CumSum-opset3: 1 node\(s\), e.g. 'running'"):
        lpir.save_model(model, tmp_path / "m.onnx")


def _all_initializers(graph: onnx.GraphProto) -> list[onnx.TensorProto]:
    found = list(graph.initializer)
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                found += _all_initializers(attribute.g)
    return found


def test_a_weight_shared_by_a_body_and_the_graph_is_written_once(tmp_path):
    """An ONNX model whose MatMul weight is read by the main graph and by a Loop body (the
    importer gives the body its own Const on the same tensor): exported, the weight is one
    initializer of the main graph, read by name in the body, and ONNX Runtime computes what it
    computes on the original. Small constants (the Loop's shapes) stay where they are read."""
    weight = helper.make_tensor("w", F, [16, 16], random(16, 16, seed=3).ravel() * 0.2)
    body = helper.make_graph(
        [helper.make_node("MatMul", ["h", "w"], ["hw"]), helper.make_node("Tanh", ["hw"], ["h_out"]),
         helper.make_node("Identity", ["cond"], ["go_on"])],
        "body", [info("i", I64, []), info("cond", B, []), info("h", F, [1, 16])],
        [info("go_on", B, []), info("h_out", F, [1, 16])])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]),
         helper.make_node("Loop", ["trip", "cond", "xw"], ["final"], body=body),
         helper.make_node("MatMul", ["final", "w"], ["y"])],
        "shared_weight", [info("x", F, [1, 16]), info("trip", I64, []), info("cond", B, [])],
        [info("y", F, [1, 16])], [weight])
    path = save(graph, tmp_path)
    (tmp_path / "out").mkdir()
    out = export(lpir.read_model(path), tmp_path / "out")
    written = [t for t in _all_initializers(onnx.load(str(out)).graph) if list(t.dims) == [16, 16]]
    assert len(written) == 1 and written[0] in onnx.load(str(out)).graph.initializer
    inputs = [random(1, 16, seed=4), np.array(3, np.int64), np.array(True)]
    assert_close(ort_run(str(out), inputs), ort_run(path, inputs), tolerance=1e-5)
