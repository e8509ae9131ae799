"""ONNX If, Loop and Scan imported as OpenVINO If, Loop and TensorIterator, checked against ONNX
Runtime: bodies reading outer-scope tensors, a Loop whose trip count and condition are given at
run time and whose body ends it early, no iteration at all, Scan in both directions on a
non-leading axis, and the imported model saved as IR and run by OpenVINO's CPU plugin."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import lpir
import ovmodels
from onnx_check import assert_close, lpir_run, ort_run

F, B, I64 = TensorProto.FLOAT, TensorProto.BOOL, TensorProto.INT64


def info(name, etype, shape):
    return helper.make_tensor_value_info(name, etype, shape)


def save(graph, tmp_path, opset=16) -> str:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return str(path)


def if_graph():
    """Branches reading the outer x and y; the else branch holds a nested If on the sum's sign."""
    inner_then = helper.make_graph([helper.make_node("Neg", ["x"], ["n"])], "inner_then", [], [info("n", F, [2, 3])])
    inner_else = helper.make_graph([helper.make_node("Abs", ["y"], ["a"])], "inner_else", [], [info("a", F, [2, 3])])
    then = helper.make_graph([helper.make_node("Add", ["x", "y"], ["s"])], "then", [], [info("s", F, [2, 3])])
    els = helper.make_graph([helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
                             helper.make_node("Constant", [], ["zero"], value=helper.make_tensor("z", F, [], [0.0])),
                             helper.make_node("Greater", ["total", "zero"], ["positive"]),
                             helper.make_node("If", ["positive"], ["r"], then_branch=inner_then, else_branch=inner_else)],
                            "else", [], [info("r", F, [2, 3])])
    return helper.make_graph([helper.make_node("If", ["c"], ["out"], then_branch=then, else_branch=els)], "g",
                             [info("c", B, []), info("x", F, [2, 3]), info("y", F, [2, 3])], [info("out", F, [2, 3])])


def loop_graph(trip: str = "trip"):
    """acc += x * i while max(acc) < limit (an outer tensor), stacking acc every iteration; no
    trip count when ``trip`` is empty."""
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=F), helper.make_node("Mul", ["x", "fi"], ["step"]),
         helper.make_node("Add", ["acc", "step"], ["acc_out"]), helper.make_node("ReduceMax", ["acc_out"], ["m"], keepdims=0),
         helper.make_node("Less", ["m", "limit"], ["go_on"]), helper.make_node("Identity", ["acc_out"], ["stacked"])],
        "body", [info("i", I64, []), info("cond", B, []), info("acc", F, [2, 3])],
        [info("go_on", B, []), info("acc_out", F, [2, 3]), info("stacked", F, [2, 3])])
    return helper.make_graph([helper.make_node("Loop", [trip, "cond", "init"], ["final", "every"], body=body)], "g",
                             [info("trip", I64, []), info("cond", B, []), info("init", F, [2, 3]), info("x", F, [2, 3]),
                              info("limit", F, [])],
                             [info("final", F, [2, 3]), info("every", F, ["n", 2, 3])])


def scan_graph(reverse: int):
    """A running sum over axis 1 of xs, read (and written) forwards or backwards, plus a product
    with an outer-scope weight."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "xi"], ["s2"]), helper.make_node("Mul", ["s2", "w"], ["yi"])], "body",
        [info("s", F, [2, 2]), info("xi", F, [2, 2])], [info("s2", F, [2, 2]), info("yi", F, [2, 2])])
    node = helper.make_node("Scan", ["s0", "xs"], ["sf", "ys"], body=body, num_scan_inputs=1, scan_input_axes=[1],
                            scan_input_directions=[reverse], scan_output_axes=[1], scan_output_directions=[reverse])
    return helper.make_graph([node], "g", [info("s0", F, [2, 2]), info("xs", F, [2, 5, 2]), info("w", F, [2])],
                             [info("sf", F, [2, 2]), info("ys", F, [2, 5, 2])])


def random(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("condition", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_if_with_outer_scope_and_a_nested_if(condition, seed, tmp_path):
    path = save(if_graph(), tmp_path)
    inputs = [np.array(condition), random(2, 3, seed=seed), random(2, 3, seed=seed + 10)]
    assert_close(lpir_run(path, inputs), ort_run(path, inputs))


@pytest.mark.parametrize("trip, condition, limit", [(4, True, 1e9), (20, True, 3.0), (-1, True, 5.0), (5, False, 1e9),
                                                    (0, True, 1e9), (None, True, 5.0)])
def test_loop_with_run_time_trip_count_and_condition(trip, condition, limit, tmp_path):
    """A negative trip count runs no iteration (as ONNX Runtime does); none at all is no limit."""
    path = save(loop_graph("" if trip is None else "trip"), tmp_path)
    trip = 0 if trip is None else trip  # the graph input stays, unread
    x = np.abs(random(2, 3)) + 0.1
    inputs = [np.array(trip, np.int64), np.array(condition), random(2, 3, seed=3), x, np.array(limit, np.float32)]
    expected = ort_run(path, inputs)
    got = lpir_run(path, inputs)
    assert got[1].shape == expected[1].shape  # as many iterations as ONNX Runtime ran
    assert_close(got, expected)


@pytest.mark.parametrize("reverse", [0, 1])
def test_scan_forwards_and_backwards_on_axis_1(reverse, tmp_path):
    path = save(scan_graph(reverse), tmp_path)
    inputs = [random(2, 2), random(2, 5, 2, seed=1), random(2, seed=2)]
    assert_close(lpir_run(path, inputs), ort_run(path, inputs))


def test_imported_loop_saved_as_ir_runs_in_openvino(tmp_path):
    """lpir's IR of the imported ONNX Loop (a duplicated condition input, outer tensors as extra
    inputs) is read by OpenVINO and gives ONNX Runtime's outputs."""
    path = save(loop_graph(), tmp_path)
    inputs = [np.array(10, np.int64), np.array(True), random(2, 3, seed=3), np.abs(random(2, 3)) + 0.1,
              np.array(4.0, np.float32)]
    xml = tmp_path / "loop.xml"
    lpir.save_model(lpir.read_model(path), xml)
    assert_close(ovmodels.run(xml, inputs), ort_run(path, inputs))


def test_imported_scan_and_if_saved_as_ir_run_in_openvino(tmp_path):
    for name, graph, inputs in [("scan", scan_graph(1), [random(2, 2), random(2, 5, 2, seed=1), random(2, seed=2)]),
                                ("if", if_graph(), [np.array(False), random(2, 3), random(2, 3, seed=4)])]:
        folder = tmp_path / name
        folder.mkdir()
        path = save(graph, folder)
        xml = folder / "model.xml"
        lpir.save_model(lpir.read_model(path), xml)
        assert_close(ovmodels.run(xml, inputs), ort_run(path, inputs))


def test_an_unsupported_op_inside_a_body_is_listed_with_the_others(tmp_path):
    then = helper.make_graph([helper.make_node("StringNormalizer", ["x"], ["b"])], "then", [], [info("b", F, [2])])
    els = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [], [info("e", F, [2])])
    graph = helper.make_graph([helper.make_node("If", ["c"], ["out"], then_branch=then, else_branch=els)], "g",
                              [info("c", B, []), info("x", F, [2])], [info("out", F, [2])])
    with pytest.raises(lpir.LpirError, match="StringNormalizer: 1 node"):
        lpir.read_model(save(graph, tmp_path))


@pytest.mark.parametrize("reverse", [0, 1])
def test_batched_scan_8_runs_each_batch_element(reverse, tmp_path):
    """Scan-8 over a batch of 3: a running sum per batch element plus an outer-scope weight."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "xi"], ["s2"]), helper.make_node("Mul", ["s2", "w"], ["yi"])], "body",
        [info("s", F, [2]), info("xi", F, [2])], [info("s2", F, [2]), info("yi", F, [2])])
    node = helper.make_node("Scan", ["", "s0", "xs"], ["sf", "ys"], body=body, num_scan_inputs=1,
                            directions=[reverse])
    graph = helper.make_graph([node], "g", [info("s0", F, [3, 2]), info("xs", F, [3, 4, 2]), info("w", F, [2])],
                              [info("sf", F, [3, 2]), info("ys", F, [3, 4, 2])])
    path = save(graph, tmp_path, opset=8)
    inputs = [random(3, 2), random(3, 4, 2, seed=1), random(2, seed=2)]
    got, expected = lpir_run(path, inputs), ort_run(path, inputs)
    assert got[1].shape == (3, 4, 2)
    assert_close(got, expected)


def test_nested_loops_read_a_tensor_two_scopes_out(tmp_path):
    """An inner Loop, inside an outer Loop's body, reads the model input x: the outer body
    captures it and passes it on to the inner one. acc += x * (i + j) for j < i + 1, i < 3."""
    inner = helper.make_graph(
        [helper.make_node("Add", ["i", "j"], ["ij"]), helper.make_node("Cast", ["ij"], ["fij"], to=F),
         helper.make_node("Mul", ["x", "fij"], ["step"]), helper.make_node("Add", ["acc_j", "step"], ["acc_j_out"]),
         helper.make_node("Identity", ["cond_j"], ["cond_j_out"])], "inner",
        [info("j", I64, []), info("cond_j", B, []), info("acc_j", F, [2])],
        [info("cond_j_out", B, []), info("acc_j_out", F, [2])])
    outer = helper.make_graph(
        [helper.make_node("Constant", [], ["one"], value=helper.make_tensor("o", I64, [], [1])),
         helper.make_node("Add", ["i", "one"], ["count"]),
         helper.make_node("Loop", ["count", "cond_i", "acc_i"], ["acc_i_out"], body=inner),
         helper.make_node("Identity", ["cond_i"], ["cond_i_out"])], "outer",
        [info("i", I64, []), info("cond_i", B, []), info("acc_i", F, [2])],
        [info("cond_i_out", B, []), info("acc_i_out", F, [2])])
    graph = helper.make_graph([helper.make_node("Loop", ["trip", "cond", "init"], ["final"], body=outer)], "g",
                              [info("trip", I64, []), info("cond", B, []), info("init", F, [2]), info("x", F, [2])],
                              [info("final", F, [2])])
    path = save(graph, tmp_path)
    inputs = [np.array(3, np.int64), np.array(True), random(2), random(2, seed=1)]
    assert_close(lpir_run(path, inputs), ort_run(path, inputs))


def outer_constants_graph():
    """A Loop body reading outer initializers: a target shape and a flattening shape for two
    Reshapes, a scale, and a 64x64 weight the outer graph multiplies by too."""
    rng = np.random.default_rng(11)
    weight = rng.standard_normal((64, 64)).astype(np.float32)
    initializers = [helper.make_tensor("shape", I64, [2], [3, 4]), helper.make_tensor("flat", I64, [1], [-1]),
                    numpy_helper.from_array(np.linspace(0.5, 1.0, 4, dtype=np.float32), "scale"),
                    numpy_helper.from_array(weight, "w")]
    body = helper.make_graph(
        [helper.make_node("Reshape", ["acc", "shape"], ["grid"]), helper.make_node("Mul", ["grid", "scale"], ["scaled"]),
         helper.make_node("Reshape", ["scaled", "flat"], ["row"]), helper.make_node("MatMul", ["x", "w"], ["z"]),
         helper.make_node("ReduceMean", ["z"], ["mean"], keepdims=0), helper.make_node("Add", ["row", "mean"], ["acc_out"]),
         helper.make_node("Identity", ["cond"], ["cond_out"])], "body",
        [info("i", I64, []), info("cond", B, []), info("acc", F, [12])],
        [info("cond_out", B, []), info("acc_out", F, [12]), info("grid", F, [3, 4])])
    nodes = [helper.make_node("Loop", ["trip", "", "init"], ["final", "grids"], body=body),
             helper.make_node("MatMul", ["x", "w"], ["y"])]
    return helper.make_graph(nodes, "g", [info("trip", I64, []), info("init", F, [12]), info("x", F, [2, 64])],
                             [info("final", F, [12]), info("grids", F, ["n", 3, 4]), info("y", F, [2, 64])], initializers)


def test_outer_constants_read_by_a_body_stay_constants_inside_it(tmp_path):
    """The body's Reshapes by outer shape initializers have static shapes, the outer weight is a
    Const of the body holding the very tensor of the outer one, and only the run-time tensor x
    is a Loop input; lpir computes ONNX Runtime's outputs, and so does OpenVINO from lpir's IR,
    whose .bin holds the weight once."""
    path = save(outer_constants_graph(), tmp_path)
    model = lpir.read_model(path)
    loop = next(n for n in model.nodes() if n.type == "Loop")
    body = loop.bodies[0].model
    reshapes = [n for n in body.nodes() if n.type == "Reshape"]
    assert sorted(n.outputs[0].shape for n in reshapes) == [(3, 4), (12,)]
    assert loop.outputs[1].shape[1:] == (3, 4)
    assert len(loop.inputs) == 5  # trip count, condition, body condition, init, x
    assert [p.outputs[0].shape for p in body.parameters] == [(), None, (12,), (2, 64)]
    outer_weight = next(n for n in model.nodes() if n.type == "Const" and n.outputs[0].shape == (64, 64))
    body_weight = next(n for n in body.nodes() if n.type == "Const" and n.outputs[0].shape == (64, 64))
    assert body_weight is not outer_weight and body_weight.tensor is outer_weight.tensor

    inputs = [np.array(3, np.int64), random(12, seed=5), random(2, 64, seed=6)]
    expected = ort_run(path, inputs)
    assert_close(lpir_run(path, inputs), expected)
    xml = tmp_path / "model.xml"
    lpir.save_model(model, xml)
    assert_close(ovmodels.run(xml, inputs), expected)
    assert xml.with_suffix(".bin").stat().st_size < 2 * 64 * 64 * 4
    exported = tmp_path / "exported.onnx"
    lpir.save_model(model, exported)
    assert_close(ort_run(exported, inputs), expected)
