"""Graph rewrites and subgraph extraction, each checked by running the rewritten model."""

from __future__ import annotations

import numpy as np
import pytest

import lpir
from lpir.ir import make_constant, make_parameter, make_result
from lpir.ir.rewrite import NameScope, bypass, insert_after, insert_on_input, replace_constant
from lpir.ir.subgraph import extract_subgraph
from lpir.ops import build


def two_consumers():
    """x → Relu → {Add(+1), Multiply(*3)} → two results named 'plus' and 'times'."""
    x = make_parameter("f32", (2,), name="x")
    relu = build("Relu", [x.output], name="relu")
    plus = build("Add", [relu.output, make_constant(np.float32(1)).output], name="plus")
    times = build("Multiply", [relu.output, make_constant(np.float32(3)).output], name="times")
    plus.output.names, times.output.names = ["plus"], ["times"]
    model = lpir.Model([x], [make_result(plus.output), make_result(times.output)])
    return model, relu, plus, times


def run(model, value=(-1.0, 2.0)):
    return [r.tolist() for r in lpir.compile_model(model)([np.array(value, np.float32)])]


def test_insert_after_moves_every_consumer_but_the_new_node():
    """The trap: the new node reads the output it is inserted after; it must not read itself."""
    model, relu, plus, times = two_consumers()
    doubled = build("Multiply", [relu.output, make_constant(np.float32(2)).output], name="relu/double")
    insert_after(relu.output, doubled)
    assert doubled.inputs[0].source is relu.output and relu.output.consumers == [doubled.inputs[0]]
    assert run(model) == [[1, 5], [0, 12]]


def test_insert_after_selected_consumers_and_on_one_input():
    model, relu, plus, times = two_consumers()
    negate = build("Negative", [relu.output], name="relu/negate")
    insert_after(relu.output, negate, consumers=[plus.inputs[0]])
    assert run(model) == [[1, -1], [0, 6]]
    square = build("Multiply", [times.inputs[0].source, times.inputs[0].source], name="times/square")
    insert_on_input(times.inputs[0], square)
    assert run(model) == [[1, -1], [0, 12]]


def test_insert_before_a_result_keeps_the_output_name():
    model, relu, plus, times = two_consumers()
    clamp = build("Clamp", [plus.output], {"min": 0.0, "max": 2.0}, name="plus/clamp")
    insert_after(plus.output, clamp)
    result = lpir.compile_model(model)([np.array([-1, 2], np.float32)])
    assert result["plus"].tolist() == [1, 2]
    with pytest.raises(lpir.ValidationError, match="does not read"):
        insert_after(times.output, build("Relu", [plus.output]))


def test_bypass_and_replace_constant():
    model, relu, plus, times = two_consumers()
    bypass(relu)
    assert run(model) == [[0, 3], [-3, 6]]
    assert relu not in model.nodes()
    replace_constant(plus.inputs[1].source.node, np.array([10, 20], np.float32))
    assert plus.inputs[1].source.shape == (2,)
    assert run(model) == [[9, 22], [-3, 6]]


def test_name_scope_makes_unique_layer_based_names():
    model, relu, plus, times = two_consumers()
    names = NameScope(model)
    assert names.make("relu/fq_input_0") == "relu/fq_input_0"
    assert names.make("relu/fq_input_0") == "relu/fq_input_0_1"
    assert names.make("relu") == "relu_1"


def test_extracted_subgraph_runs_alone_and_leaves_the_model_intact():
    model, relu, plus, times = two_consumers()
    before = len(model.nodes())
    sub = extract_subgraph(model, [relu.output], [times.output, plus.output])
    assert [p.outputs[0].shape for p in sub.parameters] == [(2,)]
    assert run(sub, (4.0, -5.0)) == [[12, -15], [5, -4]]  # Relu is cut off: its output is the input
    assert len(model.nodes()) == before and run(model) == [[1, 3], [0, 6]]
    whole = extract_subgraph(model, [], [plus.output])  # reaching a model input takes it along
    assert [p.name for p in whole.parameters] == ["x"] and run(whole) == [[1, 3]]
