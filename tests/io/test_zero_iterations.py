"""Loop and TensorIterator running no iteration, against OpenVINO's CPU plugin and ONNX Runtime.

OpenVINO's reference ``evaluate`` refuses zero iterations and its Loop specification leaves the
outputs unsaid; its CPU plugin, given the trip count or the first condition at run time, gives
the initial value for an output whose Result feeds a back edge, an output empty along its
concatenation axis, and for a last-iteration output without a back edge whatever the body
Result's memory holds (zeros in a model compiled afresh, the previous inference's value in a
reused request): lpir gives zeros of the body Result's shape there. ONNX's Loop and Scan give
their initial values and empty scan outputs.
"""

from __future__ import annotations

import numpy as np
import onnx
import openvino as ov
import pytest
from onnx import TensorProto, helper
from openvino import opset13 as ops

import lpir
import ovmodels
from onnx_check import assert_close, lpir_run, ort_run

F = TensorProto.FLOAT


def counted_loop(trip: int | None, condition: bool | None) -> ov.Model:
    """acc += x (back edge), twice the sum (last value, no back edge) and each sum's column
    totals (concatenated on axis 0); trip count and first condition are constants, or inputs
    when None."""
    x, init = ops.parameter([2, 3], np.float32, name="x"), ops.parameter([2, 3], np.float32, name="init")
    parameters = [x, init]
    if trip is None:
        parameters.append(ops.parameter([], np.int64, name="trip"))
    if condition is None:
        parameters.append(ops.parameter([], np.bool_, name="first"))
    trip_count = parameters[2] if trip is None else ops.constant(np.int64(trip))
    first = parameters[-1] if condition is None else ops.constant(np.bool_(condition))
    body_x, acc = ops.parameter([2, 3], np.float32, name="bx"), ops.parameter([2, 3], np.float32, name="acc")
    total = ops.add(acc, body_x)
    doubled = ops.multiply(total, ops.constant(np.float32(2)))
    columns = ops.reduce_sum(total, ops.constant(np.array([0], np.int64)), True)
    results = [ops.result(ops.constant(True)), ops.result(total), ops.result(doubled), ops.result(columns)]
    loop = ops.loop(trip_count, first)
    loop.set_function(ov.Model(results, [body_x, acc], "body"))
    loop.set_special_body_ports([-1, 0])
    loop.set_invariant_input(body_x, x.output(0))
    loop.set_merged_input(acc, init.output(0), results[1].input_value(0))
    outputs = [loop.get_iter_value(results[1].input_value(0), -1), loop.get_iter_value(results[2].input_value(0), -1),
               loop.get_concatenated_slices(results[3].input_value(0), 0, 1, 1, -1, 0)]
    return ov.Model([ops.result(o) for o in outputs], parameters, "counted_loop")


def data(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(2)]


def lpir_outputs(model: ov.Model, inputs: list[np.ndarray], folder) -> list[np.ndarray]:
    xml = ovmodels.save(model, folder / f"{model.get_friendly_name()}.xml")
    return list(lpir.compile_model(lpir.read_model(xml))(inputs))


@pytest.mark.parametrize("trip, first", [(0, True), (5, False), (-1, False)])
def test_loop_given_no_iteration_at_run_time_gives_the_cpu_plugins_outputs(trip, first, tmp_path):
    """Trip count and first condition as inputs: the initial value and the empty concatenation
    equal the CPU plugin's (compiled afresh), the output without a back edge has its shape."""
    model = counted_loop(None, None)
    inputs = [*data(), np.array(trip, np.int64), np.array(first)]
    expected = ovmodels.run(model, inputs)
    got = lpir_outputs(model, inputs, tmp_path)
    np.testing.assert_array_equal(got[0], inputs[1])  # the carried value's initial value ...
    np.testing.assert_array_equal(got[0], expected[0])  # ... as OpenVINO gives it
    assert got[1].shape == expected[1].shape == (2, 3)
    np.testing.assert_array_equal(got[1], np.zeros((2, 3), np.float32))
    assert got[2].shape == expected[2].shape == (0, 3)


@pytest.mark.parametrize("trip", [1, 3])
def test_the_same_loop_with_iterations_still_agrees(trip, tmp_path):
    model = counted_loop(None, None)
    inputs = [*data(1), np.array(trip, np.int64), np.array(True)]
    assert_close(lpir_outputs(model, inputs, tmp_path), ovmodels.run(model, inputs))


def test_a_constant_zero_trip_count_computes_as_the_run_time_form(tmp_path):
    """With the trip count a constant 0 (a form OpenVINO's CPU plugin does not compile), lpir
    infers the concatenated output's empty axis and computes what the CPU plugin gives for the
    same count given at run time."""
    inputs = data(2)
    model = lpir.read_model(ovmodels.save(counted_loop(0, True), tmp_path / "constant.xml"))
    assert [r.inputs[0].source.shape for r in model.results] == [(2, 3), (2, 3), (0, 3)]
    got = list(lpir.compile_model(model)(inputs))
    expected = ovmodels.run(counted_loop(None, None), [*inputs, np.array(0, np.int64), np.array(True)])
    np.testing.assert_array_equal(got[0], expected[0])
    assert [g.shape for g in got] == [e.shape for e in expected]


def test_openvinos_shapes_for_a_constant_false_condition_are_refused_naming_the_loop(tmp_path):
    """OpenVINO's shape inference declares a first dimension of 0 on the last-value outputs of a
    Loop whose first condition is a constant false (and its CPU plugin does not compile it);
    lpir keeps the initial value's shape and refuses the contradiction in one line."""
    xml = ovmodels.save(counted_loop(4, False), tmp_path / "false.xml")
    with pytest.raises(lpir.errors.ModelParseError, match=r"Loop.*declared f32\[0,3\].*computes f32\[2,3\]"):
        lpir.read_model(xml)


def dynamic_width_loop() -> ov.Model:
    """A Loop over a [2, ?] input whose concatenated output has an unknown dimension."""
    x = ops.parameter([2, -1], np.float32, name="x")
    trip = ops.parameter([], np.int64, name="trip")
    body_x = ops.parameter([2, -1], np.float32, name="bx")
    row = ops.reduce_max(body_x, ops.constant(np.array([0], np.int64)), True)
    results = [ops.result(ops.constant(True)), ops.result(row)]
    loop = ops.loop(trip, ops.constant(True))
    loop.set_function(ov.Model(results, [body_x], "body"))
    loop.set_special_body_ports([-1, 0])
    loop.set_invariant_input(body_x, x.output(0))
    out = loop.get_concatenated_slices(results[1].input_value(0), 0, 1, 1, -1, 0)
    return ov.Model([ops.result(out)], [x, trip], "dynamic_width_loop")


@pytest.mark.parametrize("trip", [0, 2])
def test_an_unknown_dimension_of_an_empty_concatenation_is_zero_as_in_openvino(trip, tmp_path):
    model = dynamic_width_loop()
    inputs = [np.random.default_rng(3).standard_normal((2, 5)).astype(np.float32), np.array(trip, np.int64)]
    expected = ovmodels.run(model, inputs)
    got = lpir_outputs(model, inputs, tmp_path)
    assert got[0].shape == expected[0].shape
    assert_close(got, expected)


# -- ONNX: Loop and Scan running no iteration, through the importer --------------------------
def info(name, etype, shape):
    return helper.make_tensor_value_info(name, etype, shape)


def save(graph: onnx.GraphProto, tmp_path) -> str:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])
    onnx.checker.check_model(model)
    path = str(tmp_path / "model.onnx")
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("constant", [False, True])
@pytest.mark.parametrize("trip, first", [(0, True), (3, False), (-2, True)])
def test_onnx_loop_without_iterations_gives_its_initial_values_and_empty_scans(trip, first, constant, tmp_path):
    """Two carried values and two scan outputs; the trip count and the first condition given
    at run time or as initializers (then lpir's Loop has them as constants)."""
    body = helper.make_graph(
        [helper.make_node("Add", ["acc", "x"], ["acc_out"]), helper.make_node("Mul", ["count", "x"], ["count_out"]),
         helper.make_node("Identity", ["cond"], ["cond_out"]),
         helper.make_node("ReduceMax", ["acc_out"], ["col"], keepdims=0, axes=[0]),
         helper.make_node("Concat", ["acc_out", "x"], ["wide"], axis=1)], "body",
        [info("i", TensorProto.INT64, []), info("cond", TensorProto.BOOL, []), info("acc", F, [2, 3]),
         info("count", F, [2, 3])],
        [info("cond_out", TensorProto.BOOL, []), info("acc_out", F, [2, 3]), info("count_out", F, [2, 3]),
         info("col", F, [3]), info("wide", F, [2, 6])])
    controls = [info("trip", TensorProto.INT64, []), info("first", TensorProto.BOOL, [])]
    initializers = [helper.make_tensor("trip", TensorProto.INT64, [], [trip]),
                    helper.make_tensor("first", TensorProto.BOOL, [], [first])] if constant else []
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trip", "first", "init", "init2"], ["final", "final2", "cols", "wides"], body=body)],
        "g", [*([] if constant else controls), info("init", F, [2, 3]), info("init2", F, [2, 3]), info("x", F, [2, 3])],
        [info("final", F, [2, 3]), info("final2", F, [2, 3]), info("cols", F, ["n", 3]), info("wides", F, ["n", 2, 6])],
        initializers)
    path = save(graph, tmp_path)
    inputs = [*([] if constant else [np.array(trip, np.int64), np.array(first)]), *data(4), data(5)[0]]
    expected = ort_run(path, inputs)
    model = lpir.read_model(path)
    if constant:  # the iteration count is known when the model is read
        assert [r.inputs[0].source.shape for r in model.results] == [(2, 3), (2, 3), (0, 3), (0, 2, 6)]
    got = list(lpir.compile_model(model)(inputs))
    assert [g.shape for g in got] == [(2, 3), (2, 3), (0, 3), (0, 2, 6)]
    assert_close(got, expected)


def test_the_same_onnx_loop_with_iterations_still_agrees(tmp_path):
    """The loop of the test above running three times, its scans stacked."""
    body = helper.make_graph(
        [helper.make_node("Add", ["acc", "x"], ["acc_out"]), helper.make_node("Identity", ["cond"], ["cond_out"]),
         helper.make_node("Concat", ["acc_out", "x"], ["wide"], axis=1)], "body",
        [info("i", TensorProto.INT64, []), info("cond", TensorProto.BOOL, []), info("acc", F, [2, 3])],
        [info("cond_out", TensorProto.BOOL, []), info("acc_out", F, [2, 3]), info("wide", F, [2, 6])])
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trip", "", "init"], ["final", "wides"], body=body)], "g",
        [info("trip", TensorProto.INT64, []), info("init", F, [2, 3]), info("x", F, [2, 3])],
        [info("final", F, [2, 3]), info("wides", F, ["n", 2, 6])])
    path = save(graph, tmp_path)
    inputs = [np.array(3, np.int64), *data(6)]
    assert_close(lpir_run(path, inputs), ort_run(path, inputs))
