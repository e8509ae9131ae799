"""Einsum against OpenVINO: values on the CPU plugin (f32 hint), shapes against its inference.

Tolerance: 1e-5 of the output's range (the products are summed in different orders).
"""

from __future__ import annotations

import numpy as np
import pytest
from openvino import opset13 as ov_ops

from lpir.errors import ValidationError
from lpir.ir import make_node, make_parameter
from lpir.ir.shape import DYNAMIC
from lpir.ops import infer_node
from ops.oracle import lpir_op, openvino_op
from ovmodels import F32_HINT

# equation: input shapes
CASES = {
    "ij,jk->ik": [(2, 3), (3, 4)],
    "ij,jk": [(2, 3), (3, 4)],                             # implicit output
    "bij,bjk->bik": [(5, 2, 3), (5, 3, 4)],
    "bhid,bhjd->bhij": [(2, 4, 8, 16), (2, 4, 8, 16)],     # attention scores
    "...ij,...jk->...ik": [(7, 2, 3), (1, 3, 4)],          # ellipsis, broadcast
    "...ij,jk": [(2, 5, 2, 3), (3, 4)],                    # ellipsis of another rank, implicit
    "abc->cab": [(2, 3, 4)],
    "ii->i": [(4, 4)],                                     # diagonal
    "ii->": [(4, 4)],                                      # trace (OpenVINO 2026.4 fails on the implicit "ii")
    "ij->": [(3, 5)],
    "AbC": [(2, 3, 5)],                                    # implicit order is ASCII: A, C, b
    "ij,ij->ij": [(1, 3), (2, 3)],                         # a label of size 1 broadcasts
    "ij,jk,kl->il": [(2, 3), (3, 4), (4, 5)],
    "i,j->ij": [(3,), (4,)],                               # outer product
}


@pytest.mark.parametrize("equation", list(CASES))
def test_einsum_matches_openvino(equation):
    rng = np.random.default_rng(0)
    inputs = [rng.uniform(-1, 1, shape).astype(np.float32) for shape in CASES[equation]]
    ours = lpir_op("Einsum", inputs, {"equation": equation}, opset=7)[0]
    theirs = openvino_op(lambda *nodes: ov_ops.einsum(list(nodes), equation), inputs)[0]
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    assert np.abs(ours - theirs).max() <= 1e-5 * max(1.0, float(np.abs(theirs).max()))


def test_dynamic_dimensions_take_the_static_size_of_the_same_label():
    a = make_parameter("f32", (DYNAMIC, 3), name="a")
    b = make_parameter("f32", (3, -1), name="b")
    node = make_node("Einsum", [a.outputs[0], b.outputs[0]], {"equation": "ij,jk->kji"}, version="opset7")
    infer_node(node)
    assert node.outputs[0].shape == (DYNAMIC, 3, DYNAMIC)


@pytest.mark.parametrize("equation,shapes,message", [
    ("ij,jk->ik", [(2, 3)], "2 input terms for 1 inputs"),
    ("ij,jk->ii", [(2, 3), (3, 4)], "repeats a label"),
    ("ij,jk->iz", [(2, 3), (3, 4)], "appear in no input"),
    ("i1,jk", [(2, 3), (3, 4)], "'1' is not a label"),
    ("...i...,j", [(2, 3), (3,)], "more than one '...'"),
    ("ij,jk", [(2, 3), (4, 4)], "label 'j' has sizes 3 and 4"),
    ("ijk,jk", [(2, 3), (3, 4)], "does not fit the term 'ijk'"),
])
def test_bad_equations_are_refused_with_the_reason(equation, shapes, message):
    params = [make_parameter("f32", shape) for shape in shapes]
    node = make_node("Einsum", [p.outputs[0] for p in params], {"equation": equation}, version="opset7")
    with pytest.raises(ValidationError, match=message):
        infer_node(node)


def test_f16_sums_in_f32_and_integers_stay_exact():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(-1, 1, (4, 300)).astype(np.float16), rng.uniform(-1, 1, (300, 2)).astype(np.float16)
    ours = lpir_op("Einsum", [a, b], {"equation": "ij,jk->ik"}, opset=7)[0]
    assert ours.dtype == np.float16
    np.testing.assert_array_equal(ours, (a.astype(np.float32) @ b.astype(np.float32)).astype(np.float16))
    ints = [rng.integers(-100, 100, (3, 4)).astype(np.int32), rng.integers(-100, 100, (4, 2)).astype(np.int32)]
    np.testing.assert_array_equal(lpir_op("Einsum", ints, {"equation": "ij,jk->ik"}, opset=7)[0], ints[0] @ ints[1])


def test_an_openvino_ir_with_einsum_reads_runs_and_round_trips(tmp_path):
    import openvino as ov

    import lpir
    a, b = ov_ops.parameter([2, 4, 8, 16], np.float32, name="q"), ov_ops.parameter([2, 4, 8, 16], np.float32, name="k")
    xml = str(tmp_path / "einsum.xml")
    ov.save_model(ov.Model([ov_ops.einsum([a, b], "bhid,bhjd->bhij")], [a, b]), xml)
    rng = np.random.default_rng(2)
    inputs = [rng.uniform(-1, 1, (2, 4, 8, 16)).astype(np.float32) for _ in range(2)]
    expected = ov.Core().compile_model(xml, "CPU", F32_HINT)(inputs)[0]
    copy = str(tmp_path / "copy.xml")
    lpir.save_model(lpir.read_model(xml), copy)
    for path in (xml, copy):
        np.testing.assert_allclose(lpir.compile_model(lpir.read_model(path))(inputs)[0], expected, atol=1e-5)
