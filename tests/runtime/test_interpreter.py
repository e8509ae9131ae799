"""The interpreter's contract: how inputs bind, how outputs come back, errors, memory release."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import lpir
from lpir.ir import make_constant, make_node, make_parameter, make_result, types
from lpir.ops import build


def chain_model(length: int, shape=(1024, 1024)) -> lpir.Model:
    """x → Add(x, 1) → Add(·, 1) → … : every intermediate is dead after the next step."""
    x = make_parameter("f32", shape, name="x")
    out = x.output
    for _ in range(length):
        out = build("Add", [out, make_constant(np.float32(1)).output]).output
    result = make_result(out, name="y")
    out.names = ["y"]
    return lpir.Model([x], [result], name="chain")


def two_io_model() -> lpir.Model:
    a = make_parameter("f32", (2, 3), name="a")
    b = make_parameter("f32", (2, 3), name="b")
    s = build("Add", [a.output, b.output])
    s.output.names = ["sum"]
    d = build("Subtract", [a.output, b.output])
    d.output.names = ["difference"]
    return lpir.Model([a, b], [make_result(s.output), make_result(d.output)], name="two")


def test_inputs_by_name_and_position_outputs_by_order_and_name():
    compiled = lpir.compile_model(two_io_model())
    a, b = np.ones((2, 3), np.float32), np.full((2, 3), 2, np.float32)
    by_position = compiled([a, b])
    by_name = compiled({"b": b, "a": a})
    np.testing.assert_array_equal(by_position[0], a + b)
    np.testing.assert_array_equal(by_name["difference"], a - b)
    assert by_name.to_dict().keys() == {"sum", "difference"}


@pytest.mark.parametrize("inputs, message", [
    ([np.ones((2, 4), np.float32), np.ones((2, 3), np.float32)], "input 'a' must have shape [2,3], got [2, 4]"),
    ([np.ones((2, 3), np.float64), np.ones((2, 3), np.float32)], "input 'a' must be f32"),
    ([np.ones((2, 3), np.float32)], "takes 2 inputs, got 1"),
    ({"a": np.ones((2, 3), np.float32), "c": np.ones((2, 3), np.float32)}, "has no input 'c'"),
])
def test_bad_inputs_get_a_clear_error(inputs, message):
    with pytest.raises(lpir.ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        lpir.compile_model(two_io_model())(inputs)


def test_unsupported_ops_are_reported_together_before_running():
    x = make_parameter("f32", (2,), name="x")
    a = make_node("Frobnicate", [x.output], version="opset99", name="f1", outputs=[(types.f32, (2,))])
    b = make_node("Frobnicate", [a.output], version="opset99", name="f2", outputs=[(types.f32, (2,))])
    c = make_node("Quux", [b.output], name="q", outputs=[(types.f32, (2,))])
    model = lpir.Model([x], [make_result(c.output)])
    with pytest.raises(lpir.UnsupportedOpError) as info:
        lpir.compile_model(model)
    assert "Frobnicate-opset99 ×2 (f1, f2)" in str(info.value) and "Quux-opset1 ×1 (q)" in str(info.value)


def test_intermediates_are_freed_after_their_last_use():
    """A 30-step chain on a 4 MiB tensor must peak near two live tensors, not thirty."""
    compiled = lpir.compile_model(chain_model(30))
    x = np.zeros((1024, 1024), np.float32)
    tracemalloc.start()
    result = compiled([x])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert float(result[0][0, 0]) == 30.0
    assert peak < 4 * x.nbytes, f"peak {peak / 2**20:.1f} MiB for 4 MiB tensors"


def test_taps_see_every_tapped_tensor_once_per_call_in_order():
    model = chain_model(5, (2,))
    compiled = lpir.compile_model(model)
    adds = [n.outputs[0] for n in model.nodes() if n.type == "Add"]
    seen = []
    taps = compiled.tap(adds, lambda output, value: seen.append((output.node.name, float(value[0]))))
    for _ in range(2):  # one resolution, reused
        compiled([np.zeros(2, np.float32)], taps=taps)
    assert seen == [(out.node.name, float(i)) for i, out in enumerate(adds, 1)] * 2


def test_taps_see_inputs_and_values_computed_at_compile_time():
    """Weight decompression folds at compile time; a tap on it still sees its value each call."""
    x = make_parameter("f32", (1, 4), name="x")
    codes = make_constant(np.array([[1, -2, 3, -4]], np.int8), name="codes")
    weight = build("Multiply", [build("Convert", [codes.output], {"destination_type": "f32"}).output,
                                make_constant(np.float32(0.5)).output], name="weight")
    total = build("Add", [x.output, weight.output], name="total")
    compiled = lpir.compile_model(lpir.Model([x], [make_result(total.output)]))
    seen = {}
    taps = compiled.tap(["x", "weight", weight.inputs[0].source, "total"],
                        lambda output, value: seen.setdefault(output.node.name, value.copy()))
    compiled([np.ones((1, 4), np.float32)], taps=taps)
    np.testing.assert_array_equal(seen["weight"], [[0.5, -1, 1.5, -2]])
    np.testing.assert_array_equal(seen[weight.inputs[0].source.node.name], [[1, -2, 3, -4]])
    np.testing.assert_array_equal(seen["x"], np.ones((1, 4)))
    np.testing.assert_array_equal(seen["total"], [[1.5, 0, 2.5, -1]])
    with pytest.raises(lpir.ValidationError, match="'nothing'"):
        compiled.tap(["nothing"], print)


def test_a_tapped_tensor_is_never_overwritten_in_place():
    """Conv → Add may run in place into the conv's output, unless the conv output is tapped: a tap
    may keep what it is shown."""
    x = make_parameter("f32", (1, 2, 4, 4), name="x")
    conv = build("Convolution", [x.output, make_constant(np.ones((2, 2, 1, 1), np.float32)).output],
                 {"strides": [1, 1], "pads_begin": [0, 0], "pads_end": [0, 0], "dilations": [1, 1]})
    add = build("Add", [conv.output, make_constant(np.float32(100)).output])
    compiled = lpir.compile_model(lpir.Model([x], [make_result(add.output)]))
    kept = []
    value = np.ones((1, 2, 4, 4), np.float32)
    result = compiled([value], taps=compiled.tap([conv.output], lambda output, v: kept.append(v)))
    np.testing.assert_array_equal(kept[0], 2)
    np.testing.assert_array_equal(result[0], 102)


@pytest.mark.parametrize("op_type, attrs, second", [
    ("Add", {}, (1, 8, 1, 1)), ("Subtract", {}, (8, 5, 5)), ("Multiply", {}, ()),
    ("Clamp", {"min": -0.5, "max": 0.25}, None), ("Relu", {}, None), ("HSwish", {}, None),
])
def test_in_place_kernels_equal_the_references(op_type, attrs, second):
    """Conv → op: the interpreter may compute op into the conv's output; results must not change."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 8, 5, 5)).astype(np.float32) * 4
    a[0, 0, 0, :4] = [np.nan, -0.0, -3.0, 3.0]
    args = [a] + ([rng.standard_normal(second).astype(np.float32)] if second is not None else [])
    op = lpir.ops.lookup(op_type, 4 if op_type == "HSwish" else 1)
    resolved = op.resolved_attrs(attrs, op_type)
    expected = op.evaluate(*[x.copy() for x in args], **resolved)[0]
    actual = run_inplace(op_type, args, resolved)[0]
    assert actual is a
    np.testing.assert_array_equal(actual, expected)


def test_in_place_is_used_only_on_private_fresh_tensors():
    """x → Conv → Add → {Relu, Result}: Add's output has two readers, so Relu must not overwrite it."""
    x = make_parameter("f32", (1, 2, 4, 4), name="x")
    w = make_constant(np.ones((2, 2, 1, 1), np.float32))
    conv = build("Convolution", [x.output, w.output], {"strides": [1, 1], "pads_begin": [0, 0],
                                                      "pads_end": [0, 0], "dilations": [1, 1]})
    add = build("Add", [conv.output, make_constant(np.float32(-1)).output])
    relu = build("Relu", [add.output])
    model = lpir.Model([x], [make_result(relu.output), make_result(add.output)])
    compiled = lpir.compile_model(model)
    steps = {s.node.type: s.may_inplace for s in compiled._program.steps}
    assert steps["Add"] and not steps["Relu"]
    value = np.linspace(-1, 1, 32, dtype=np.float32).reshape(1, 2, 4, 4)
    relu_out, add_out = compiled([value])
    expected_add = value.sum(axis=1, keepdims=True).repeat(2, axis=1) - 1
    np.testing.assert_allclose(add_out, expected_add, rtol=1e-6)
    np.testing.assert_allclose(relu_out, np.maximum(expected_add, 0), rtol=1e-6)


def test_deep_graphs_build_and_run_without_recursion():
    """Inference walks back for static values iteratively and stops at model inputs: a
    3,000-op chain builds in linear time and runs."""
    x = make_parameter("f32", (1, 4), name="x")
    out = x.output
    for _ in range(3000):
        out = build("Add", [out, make_constant(np.float32(1)).output]).output
    result = lpir.compile_model(lpir.Model([x], [make_result(out)]))([np.zeros((1, 4), np.float32)])
    assert float(result[0][0, 0]) == 3000.0


def test_outputs_nobody_reads_are_freed_and_results_answer_to_their_own_names():
    x = make_parameter("f32", (1, 1, 4, 4), name="x")
    pool = build("MaxPool", [x.output], {"strides": [2, 2], "pads_begin": [0, 0], "pads_end": [0, 0],
                                         "kernel": [2, 2], "dilations": [1, 1]}, opset=8)
    result = make_result(pool.outputs[0], name="pooled")
    result.attrs["output_names"] = ["pooled_alias"]
    compiled = lpir.compile_model(lpir.Model([x], [result]))
    indices_slot = compiled._program.steps[0].outputs[1]
    assert indices_slot in compiled._program.steps[0].release
    assert compiled._program.steps[0].used == (True, False)  # MaxPool skips computing its indices
    data = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    out = compiled({0: data})
    np.testing.assert_array_equal(out["pooled_alias"], [[[[5, 7], [13, 15]]]])
    seen = {}
    compiled(data, taps=compiled.tap([pool.outputs[1]], lambda output, value: seen.update({output.index: value})))
    np.testing.assert_array_equal(seen[1], [[[[5, 7], [13, 15]]]])  # a tapped unread output is computed
    both = lpir.compile_model(lpir.Model([x], [result, make_result(pool.outputs[1])]))(data)
    np.testing.assert_array_equal(both[1], [[[[5, 7], [13, 15]]]])
    with pytest.raises(lpir.ValidationError, match="has no input 3"):
        compiled({3: np.zeros((1, 1, 4, 4), np.float32)})


def test_an_in_place_op_on_shapes_that_do_not_broadcast_fails_naming_the_layer():
    """MatMul's fresh output feeds Add, which runs in place; dynamic shapes that turn out not to
    broadcast give the layer's error, not numpy's."""
    a = make_parameter("f32", (-1, 4), name="a")
    b = make_parameter("f32", (-1, -1), name="b")
    product = build("MatMul", [a.output, make_constant(np.ones((4, 3), np.float32)).output])
    total = build("Add", [product.output, b.output], name="total")
    compiled = lpir.compile_model(lpir.Model([a, b], [make_result(total.output)]))
    assert [s.may_inplace for s in compiled._program.steps if s.node.type == "Add"] == [True]
    np.testing.assert_array_equal(compiled([np.ones((2, 4), np.float32), np.ones((1, 3), np.float32)])[0], 5)
    with pytest.raises(lpir.LpirError, match="'total'"):
        compiled([np.ones((2, 4), np.float32), np.ones((2, 2), np.float32)])


def test_blocked_in_place_hswish_equals_the_reference_across_blocks():
    from lpir.runtime.kernels import inplace
    a = np.random.default_rng(3).uniform(-8, 8, 2 * inplace._BLOCK + 77).astype(np.float32).reshape(1, -1, 1)
    expected = lpir.ops.lookup("HSwish", 4).evaluate(a.copy())[0]
    np.testing.assert_array_equal(run_inplace("HSwish", [a], {})[0], expected)


def run_inplace(op_type: str, args: list, attrs: dict):
    """The in-place kernel of the table for ``op_type``."""
    from lpir.runtime.kernels import kernels_for
    (kernel,) = [k for k in kernels_for(op_type) if k.inplace]
    return kernel.run(*args, **attrs)


def test_the_depthwise_kernel_of_the_table_gives_the_references_bits():
    from lpir.ops import depthwise
    from lpir.runtime.kernels import kernels_for
    if depthwise._native is None:
        pytest.skip("the C extension is not built (test_the_compiled_kernel_is_built fails for that)")
    (kernel,) = kernels_for("GroupConvolution")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 9, 11)).astype(np.float32)
    w = rng.standard_normal((6, 1, 1, 3, 3)).astype(np.float32)
    attrs = {"strides": [2, 1], "pads_begin": [1, 0], "pads_end": [1, 2], "dilations": [1, 2], "auto_pad": "explicit"}
    expected = lpir.ops.lookup("GroupConvolution", 1).evaluate(x, w, **attrs)[0]
    actual = kernel.run(x, w, **attrs)[0]
    assert actual.tobytes() == expected.tobytes()
    assert kernel.run(x, rng.standard_normal((3, 1, 2, 3, 3)).astype(np.float32), **attrs) is None  # not depthwise


def test_a_missing_op_version_says_which_versions_exist():
    x = make_parameter("f32", (2,), name="x")
    gelu = lpir.ir.make_node("Gelu", [x.output], {"approximation_mode": "erf"}, version="opset1",
                             outputs=[(lpir.ir.types.f32, (2,))])
    with pytest.raises(lpir.UnsupportedOpError, match=r"Gelu-opset1 .*lpir has Gelu from opset2, opset7"):
        lpir.compile_model(lpir.Model([x], [make_result(gelu.outputs[0])]))


def test_errors_with_added_context_keep_their_cause():
    """A layer that fails at run time names the layer and keeps numpy's error as its cause."""
    a = make_parameter("f32", (-1, 4), name="a")
    product = build("MatMul", [a.output, make_parameter("f32", (-1, -1), name="b").output], name="product")
    compiled = lpir.compile_model(lpir.Model([a, product.inputs[1].source.node], [make_result(product.output)]))
    with pytest.raises(lpir.EvaluationError, match="'product'") as info:
        compiled([np.ones((2, 4), np.float32), np.ones((3, 3), np.float32)])
    assert isinstance(info.value.__cause__, ValueError)


def test_an_output_beyond_the_memory_budget_is_refused_at_compile():
    """A Tile to 86 GiB is refused naming the layer and the size, before anything is allocated."""
    x = make_parameter("f32", (1024, 1024), name="x")
    tile = build("Tile", [x.output, make_constant(np.array([150, 150], np.int64)).output], name="huge")
    with pytest.raises(lpir.ValidationError, match=r"'huge'.*output 0 would take 87[0-9.]* GiB"):
        lpir.compile_model(lpir.Model([x], [make_result(tile.output)]))
