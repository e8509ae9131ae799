"""ONNX sequence ops resolved at import (static sequences), against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_check import check_against_ort, make_model

import lpir
from lpir.errors import UnsupportedOpError

OPSET = 17
RNG = np.random.default_rng(15)


def _model(nodes, inputs: dict[str, np.ndarray], outputs: list[str], constants: dict[str, np.ndarray] | None = None):
    """A graph of ``nodes`` with float/int graph inputs fed from ``inputs`` and int64 constants."""
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
                    for n, v in inputs.items()]
    initializers = [numpy_helper.from_array(np.asarray(v), n) for n, v in (constants or {}).items()]
    graph = helper.make_graph(nodes, "sequences", graph_inputs,
                              [helper.make_empty_tensor_value_info(n) for n in outputs], initializers)
    return make_model(graph, OPSET), list(inputs.values())


def _x(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def test_insert_at_positions_and_at_negative(tmp_path):
    """Empty, append, insert at 0 and at -1, then read positions 0, 2 and -1."""
    nodes = [
        helper.make_node("SequenceEmpty", [], ["s0"], dtype=TensorProto.FLOAT),
        helper.make_node("SequenceInsert", ["s0", "a"], ["s1"]),
        helper.make_node("SequenceInsert", ["s1", "b", "zero"], ["s2"]),
        helper.make_node("SequenceInsert", ["s2", "c", "minus1"], ["s3"]),  # b, c, a
        helper.make_node("SequenceAt", ["s3", "zero"], ["y0"]),
        helper.make_node("SequenceAt", ["s3", "two"], ["y1"]),
        helper.make_node("SequenceAt", ["s3", "minus2"], ["y2"]),
        helper.make_node("SequenceLength", ["s3"], ["n"]),
    ]
    model, feeds = _model(nodes, {"a": _x(2, 3), "b": _x(2, 3), "c": _x(2, 3)}, ["y0", "y1", "y2", "n"],
                          {"zero": np.int64(0), "two": np.int64(2), "minus1": np.int64(-1), "minus2": np.int64(-2)})
    check_against_ort(model, feeds, tmp_path, tolerance=0)


@pytest.mark.parametrize("position", [None, 0, 1, -1, -3])
def test_erase_then_length_and_concat(position, tmp_path):
    erase_inputs = ["s"] + ([] if position is None else ["p"])
    nodes = [
        helper.make_node("SequenceConstruct", ["a", "b", "c"], ["s"]),
        helper.make_node("SequenceErase", erase_inputs, ["t"]),
        helper.make_node("SequenceLength", ["t"], ["n"]),
        helper.make_node("ConcatFromSequence", ["t"], ["y"], axis=0),
    ]
    constants = {} if position is None else {"p": np.int64(position)}
    model, feeds = _model(nodes, {"a": _x(1, 4), "b": _x(2, 4), "c": _x(3, 4)}, ["n", "y"], constants)
    check_against_ort(model, feeds, tmp_path, tolerance=0)


@pytest.mark.parametrize("axis,new_axis", [(0, 0), (-1, 0), (1, 0), (0, 1), (1, 1), (2, 1), (-1, 1), (-3, 1)])
def test_concat_from_sequence(axis, new_axis, tmp_path):
    nodes = [helper.make_node("SequenceConstruct", ["a", "b"], ["s"]),
             helper.make_node("ConcatFromSequence", ["s"], ["y"], axis=axis, new_axis=new_axis)]
    model, feeds = _model(nodes, {"a": _x(2, 3), "b": _x(2, 3)}, ["y"])
    check_against_ort(model, feeds, tmp_path, tolerance=0)


@pytest.mark.parametrize("split,axis,keepdims", [
    (None, 0, 1), (None, 1, 0), (None, -1, 0), (np.int64(2), 1, 1), (np.int64(4), 1, 1), (np.int64(3), -1, 1),
    (np.asarray([1, 3, 1], dtype=np.int64), 1, 1), (np.asarray([2, 1], dtype=np.int64), -2, 0)])
def test_split_to_sequence(split, axis, keepdims, tmp_path):
    """Parts read back by SequenceAt (first, last) and joined again, with the count."""
    inputs = ["x"] + ([] if split is None else ["split"])
    nodes = [helper.make_node("SplitToSequence", inputs, ["s"], axis=axis, keepdims=keepdims),
             helper.make_node("SequenceAt", ["s", "zero"], ["first"]),
             helper.make_node("SequenceAt", ["s", "minus1"], ["last"]),
             helper.make_node("SequenceLength", ["s"], ["n"]),
             helper.make_node("ConcatFromSequence", ["s"], ["y"], axis=axis, new_axis=int(split is None and not keepdims))]
    constants = {"zero": np.int64(0), "minus1": np.int64(-1)} | ({} if split is None else {"split": split})
    model, feeds = _model(nodes, {"x": _x(3, 5)}, ["first", "last", "n", "y"], constants)
    check_against_ort(model, feeds, tmp_path, tolerance=0)


def test_split_sizes_given_at_run_time(tmp_path):
    """Sizes fed at run time: their count (static) is the sequence length."""
    nodes = [helper.make_node("SplitToSequence", ["x", "sizes"], ["s"], axis=1),
             helper.make_node("SequenceAt", ["s", "one"], ["y"]),
             helper.make_node("SequenceLength", ["s"], ["n"])]
    model, feeds = _model(nodes, {"x": _x(2, 6), "sizes": np.asarray([1, 2, 3], dtype=np.int64)}, ["y", "n"],
                          {"one": np.int64(1)})
    check_against_ort(model, feeds, tmp_path, tolerance=0)


def _refused(model: onnx.ModelProto, tmp_path) -> str:
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    with pytest.raises(UnsupportedOpError) as info:
        lpir.read_model(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_sequence_graph_output_is_refused(tmp_path):
    graph = helper.make_graph([helper.make_node("SequenceConstruct", ["a"], ["s"])], "g",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, [2])])
    assert "graph output 's' is a sequence" in _refused(make_model(graph, OPSET), tmp_path)


def test_run_time_position_is_refused(tmp_path):
    nodes = [helper.make_node("SequenceConstruct", ["a", "a"], ["s"]),
             helper.make_node("SequenceAt", ["s", "p"], ["y"], name="pick")]
    model, _ = _model(nodes, {"a": _x(2), "p": np.int64(0)}, ["y"])
    message = _refused(model, tmp_path)
    assert "'pick' (SequenceAt)" in message and "run time" in message


def test_sequence_read_by_another_op_is_refused(tmp_path):
    nodes = [helper.make_node("SequenceConstruct", ["a"], ["s"]),
             helper.make_node("Identity", ["s"], ["t"], name="copy"),
             helper.make_node("SequenceAt", ["t", "zero"], ["y"])]
    model, _ = _model(nodes, {"a": _x(2)}, ["y"], {"zero": np.int64(0)})
    message = _refused(model, tmp_path)
    assert "'copy' (Identity) reads the sequence 's'" in message


def test_out_of_range_position_names_the_node(tmp_path):
    nodes = [helper.make_node("SequenceConstruct", ["a", "a"], ["s"]),
             helper.make_node("SequenceAt", ["s", "three"], ["y"], name="pick")]
    model, _ = _model(nodes, {"a": _x(2)}, ["y"], {"three": np.int64(3)})
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    with pytest.raises(lpir.errors.LpirError, match=r"'pick' \(SequenceAt.*position 3 is outside"):
        lpir.read_model(path)
