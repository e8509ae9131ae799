"""Data-movement ops against OpenVINO's reference evaluation, plus shape inference and errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openvino import opset1, opset3, opset4, opset7, opset8, opset10, opset11, opset12, opset13, opset15
from ops.oracle import lpir_op, openvino_op

from lpir.errors import ValidationError
from lpir.ir import make_constant, make_node, make_parameter, types
from lpir.ir.shape import DYNAMIC, Dim
from lpir.ops import build, infer_node, lookup

RNG = np.random.default_rng(7)


def data(*shape: int, dtype=np.float32) -> np.ndarray:
    """Distinct values, so that any misplaced element shows."""
    return (np.arange(int(np.prod(shape))) * 3 % 1009 - 17).astype(dtype).reshape(shape)


def i64(*values) -> np.ndarray:
    return np.array(values, dtype=np.int64)


@dataclass
class Case:
    """One op call: lpir's op and opset, its inputs and attributes, and the OpenVINO factory."""

    op: str
    opset: int
    inputs: list
    attrs: dict
    openvino: Callable
    const: tuple = field(default=(1, 2, 3, 4))
    reference: bool = True  # False: OpenVINO CPU (f32 hint), where node.evaluate lacks a case

    def __str__(self) -> str:
        shapes = "x".join(str(list(np.shape(v))) for v in self.inputs[:1])
        return f"{self.op}{self.opset}-{shapes}-{self.attrs}"


def openvino_result(case: Case) -> list[np.ndarray]:
    """OpenVINO's reference evaluation, or its CPU plugin where the reference lacks the element types."""
    if case.reference:
        try:
            return openvino_op(case.openvino, case.inputs, reference=True)
        except AssertionError as exc:
            if "cannot evaluate" not in str(exc):
                raise
    return openvino_op(case.openvino, case.inputs, reference=False, constant_inputs=case.const)


def run_case(case: Case) -> None:
    got = lpir_op(case.op, case.inputs, case.attrs, opset=case.opset, constant_inputs=case.const)
    want = openvino_result(case)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype, f"{case}: dtype {g.dtype}, OpenVINO {w.dtype}"
        np.testing.assert_array_equal(g, w, err_msg=str(case))


def factory_node(op: str, opset: int, **attrs) -> Callable:
    """An OpenVINO node by type name, for ops the Python opset modules do not wrap."""
    from openvino.utils.node_factory import NodeFactory

    return lambda *nodes: NodeFactory(f"opset{opset}").create(op, [n.output(0) for n in nodes], attrs)


X = data(2, 3, 4)
X16 = data(2, 3, 4, dtype=np.float16)
XI8 = data(2, 3, 4, dtype=np.int8)

SHAPE_CASES = [
    Case("Reshape", 1, [X, i64(4, -1)], {"special_zero": False}, lambda d, s: opset1.reshape(d, s, False)),
    Case("Reshape", 1, [X16, i64(0, -1)], {"special_zero": True}, lambda d, s: opset1.reshape(d, s, True)),
    Case("Reshape", 1, [XI8, i64(0, 0, 2, 2)], {"special_zero": True}, lambda d, s: opset1.reshape(d, s, True)),
    Case("Reshape", 1, [X, np.array([24], np.int32)], {"special_zero": False}, lambda d, s: opset1.reshape(d, s, False)),
    Case("Reshape", 1, [data(2, 0, 3), i64(0, -1)], {"special_zero": True}, lambda d, s: opset1.reshape(d, s, True)),
    Case("Squeeze", 1, [data(1, 3, 1, 2), i64(0, -2)], {}, lambda d, a: opset1.squeeze(d, a)),
    Case("Squeeze", 1, [data(1, 3, 1), i64(2)], {}, lambda d, a: opset1.squeeze(d, a)),
    Case("Squeeze", 1, [data(2, 1, 3), i64(0, 1)], {}, lambda d, a: opset1.squeeze(d, a)),
    Case("Squeeze", 1, [data(1, 3, 1, 1)], {}, factory_node("Squeeze", 1)),
    Case("Unsqueeze", 1, [X, i64(0, -1)], {}, lambda d, a: opset1.unsqueeze(d, a)),
    Case("Unsqueeze", 1, [XI8, i64(1, 3)], {}, lambda d, a: opset1.unsqueeze(d, a)),
    Case("Unsqueeze", 1, [np.float32(5), i64(0)], {}, lambda d, a: opset1.unsqueeze(d, a)),
    Case("Transpose", 1, [X, i64(2, 0, 1)], {}, lambda d, o: opset1.transpose(d, o)),
    Case("Transpose", 1, [X16, i64(1, 0, 2)], {}, lambda d, o: opset1.transpose(d, o)),
    Case("Transpose", 1, [X, np.zeros(0, np.int64)], {}, lambda d, o: opset1.transpose(d, o)),
    Case("Tile", 1, [X, i64(2, 1, 3)], {}, lambda d, r: opset1.tile(d, r)),
    Case("Tile", 1, [X, i64(2, 2)], {}, lambda d, r: opset1.tile(d, r)),
    Case("Tile", 1, [data(3), i64(2, 1, 2)], {}, lambda d, r: opset1.tile(d, r)),
    Case("ShapeOf", 1, [X], {}, lambda d: opset1.shape_of(d)),
    Case("ShapeOf", 3, [XI8], {"output_type": types.i32}, lambda d: opset3.shape_of(d, "i32")),
    Case("ShapeOf", 3, [np.float32(1)], {}, lambda d: opset3.shape_of(d)),
]

CONCAT_SPLIT_CASES = [
    Case("Concat", 1, [X, data(2, 1, 4), data(2, 2, 4)], {"axis": 1}, lambda *n: opset1.concat(n, 1), ()),
    Case("Concat", 1, [XI8, XI8], {"axis": -1}, lambda *n: opset1.concat(n, -1), ()),
    Case("Concat", 1, [data(0, 3), data(2, 3)], {"axis": 0}, lambda *n: opset1.concat(n, 0), ()),
    Case("Split", 1, [X, np.int64(-1)], {"num_splits": 2}, lambda d, a: opset1.split(d, a, 2)),
    Case("Split", 1, [X16, np.int32(1)], {"num_splits": 3}, lambda d, a: opset1.split(d, a, 3)),
    Case("VariadicSplit", 1, [X, i64(2), i64(1, -1, 2)], {}, lambda d, a, s: opset1.variadic_split(d, a, s)),
    Case("VariadicSplit", 1, [XI8, i64(-2), i64(0, 3)], {}, lambda d, a, s: opset1.variadic_split(d, a, s)),
]

GATHER_CASES = [
    Case("Gather", 1, [X, i64(2, 0, 1), i64(1)], {}, lambda d, i, a: opset1.gather(d, i, a), (2,)),
    Case("Gather", 7, [X, i64([0, 2], [1, 1], [2, 0]).reshape(2, 3)[:, :2], i64(1)], {"batch_dims": 1},
         lambda d, i, a: opset7.gather(d, i, a, 1), (2,)),
    Case("Gather", 8, [X, i64(-1, 0, -3), i64(-1)], {}, lambda d, i, a: opset8.gather(d, i, a), (2,)),
    Case("Gather", 8, [XI8, np.array([[3, -4], [1, 0]], np.int32), i64(2)], {"batch_dims": -1},
         lambda d, i, a: opset8.gather(d, i, a, -1), (2,)),
    Case("Gather", 8, [X, np.int64(1), i64(0)], {}, lambda d, i, a: opset8.gather(d, i, a), (2,)),
    Case("Gather", 8, [X, i64(5, 1), i64(1)], {}, lambda d, i, a: opset8.gather(d, i, a), (2,)),
]

BROADCAST_CASES = [
    Case("Broadcast", 3, [data(3, 1), i64(2, 3, 4)], {}, lambda d, s: opset3.broadcast(d, s)),
    Case("Broadcast", 3, [data(3, 1), i64(2, 1, 4)], {"mode": "bidirectional"},
         lambda d, s: opset3.broadcast(d, s, broadcast_spec="BIDIRECTIONAL")),
    Case("Broadcast", 3, [data(3), i64(3, 2), i64(0)], {"mode": "explicit"},
         lambda d, s, a: opset3.broadcast(d, s, a, "EXPLICIT")),
    Case("Broadcast", 1, [data(3, 1), i64(2, 3, 5), i64(1, 2)], {"mode": "explicit"},
         lambda d, s, a: opset1.broadcast(d, s, a, "EXPLICIT")),
    Case("Broadcast", 1, [XI8, i64(2, 2, 3, 4)], {}, lambda d, s: opset1.broadcast(d, s)),
]

BIG = np.iinfo(np.int64).max
SLICE_CASES = [
    # node.evaluate of a Slice without axes crashes OpenVINO 2026.4: the CPU plugin checks it
    Case("Slice", 8, [X, i64(0, 1), i64(2, 3), i64(1, 2)], {}, lambda d, b, e, s: opset8.slice(d, b, e, s),
         reference=False),
    Case("Slice", 8, [X, i64(-1), i64(-BIG), i64(-2), i64(-1)], {}, lambda d, b, e, s, a: opset8.slice(d, b, e, s, a)),
    Case("Slice", 8, [X, i64(10, -10), i64(-10, 10), i64(-1, 3), i64(2, 1)], {},
         lambda d, b, e, s, a: opset8.slice(d, b, e, s, a)),
    Case("Slice", 8, [XI8, i64(1), i64(BIG), i64(1), i64(0)], {}, lambda d, b, e, s, a: opset8.slice(d, b, e, s, a)),
    Case("Slice", 8, [X, i64(2), i64(1), i64(1), i64(2)], {}, lambda d, b, e, s, a: opset8.slice(d, b, e, s, a)),
]


def strided(begin, end, stride, **masks):
    attrs = {key: masks.get(key, []) for key in ("begin_mask", "end_mask", "new_axis_mask", "shrink_axis_mask", "ellipsis_mask")}
    attrs = {key: value + [0] * (len(begin) - len(value)) for key, value in attrs.items()}
    return Case("StridedSlice", 1, [data(2, 3, 4, 5), i64(*begin), i64(*end), i64(*stride)], attrs,
                lambda d, b, e, s: opset1.strided_slice(d, b, e, s, **attrs))


STRIDED_CASES = [
    strided([0, 1], [2, 3], [1, 1]),
    strided([1, 0, 3], [0, 0, 0], [1, 1, -1], begin_mask=[0, 1, 0], end_mask=[1, 1, 1]),
    strided([-1, 0, 0], [0, 2, 4], [1, 1, 2], shrink_axis_mask=[1, 0, 0]),
    strided([0, 0, 1], [0, 0, 3], [1, 1, 1], new_axis_mask=[1, 0, 0], begin_mask=[0, 1], end_mask=[0, 1]),
    strided([0, 1], [0, 4], [1, 2], ellipsis_mask=[1, 0]),
    strided([0, 0, 1, 0], [1, 0, 3, 0], [1, 1, 1, 1], ellipsis_mask=[0, 1], new_axis_mask=[0, 0, 0, 1],
            shrink_axis_mask=[1]),
    strided([5, -100], [-100, 100], [-2, 3], begin_mask=[], end_mask=[]),
]

PAD_CASES = [
    Case("Pad", 1, [X, i64(1, 0, 2), i64(0, 2, 1), np.float32(-5)], {"pad_mode": "constant"},
         lambda d, b, e, v: opset1.pad(d, b, e, "constant", v)),
    Case("Pad", 1, [XI8, i64(1, 0, 2), i64(0, 2, 1)], {"pad_mode": "constant"},
         lambda d, b, e: opset1.pad(d, b, e, "constant")),
] + [
    Case("Pad", 1, [X16, i64(1, 2, 3), i64(1, 0, 2)], {"pad_mode": mode}, lambda d, b, e, m=mode: opset1.pad(d, b, e, m))
    for mode in ("edge", "reflect", "symmetric")
] + [
    Case("Pad", 12, [data(4, 5), i64(-1, 2), i64(3, -2)], {"pad_mode": mode}, lambda d, b, e, m=mode: opset12.pad(d, b, e, m))
    for mode in ("constant", "edge", "reflect", "symmetric")
]

RANGE_CASES = [
    Case("Range", 1, [np.float32(0.1), np.float32(2.7), np.float32(0.3)], {}, lambda *n: opset1.range(*n), (0, 1, 2)),
    Case("Range", 1, [np.int32(7), np.int32(1), np.int32(-2)], {}, lambda *n: opset1.range(*n), (0, 1, 2)),
    Case("Range", 1, [np.int64(3), np.int64(3), np.int64(1)], {}, lambda *n: opset1.range(*n), (0, 1, 2)),
    Case("Range", 4, [np.float32(-2.5), np.float32(2.5), np.float32(1.5)], {"output_type": types.i32},
         lambda *n: opset13.range(*n, "i32"), (0, 1, 2)),
    Case("Range", 4, [np.float32(-2.7), np.float32(2.7), np.float32(0.9)], {"output_type": types.f32},
         lambda *n: opset13.range(*n, "f32"), (0, 1, 2)),
    Case("Range", 4, [np.float32(0.1), np.float32(2.7), np.float32(0.3)], {"output_type": types.f16},
         lambda *n: opset13.range(*n, "f16"), (0, 1, 2)),
    Case("Range", 4, [np.int64(0), np.int64(10), np.int64(3)], {"output_type": types.i64},
         lambda *n: opset13.range(*n, "i64"), (0, 1, 2)),
]


@pytest.mark.parametrize("case", SHAPE_CASES + CONCAT_SPLIT_CASES + GATHER_CASES + BROADCAST_CASES + SLICE_CASES
                         + STRIDED_CASES + PAD_CASES + RANGE_CASES, ids=str)
def test_matches_openvino(case: Case) -> None:
    run_case(case)


IMG = data(1, 8, 2, 3)
UPDATES = data(2, 2, 4) + 1000
INDEX_CASES = [
    Case("GatherElements", 6, [X, np.array([[[0, 1, 2, 1]] * 2] * 2), ], {"axis": 1},
         lambda d, i: opset8.gather_elements(d, i, 1), ()),
    Case("GatherElements", 6, [XI8, np.array([[[-1, 0, 3, -4]] * 3] * 2, np.int32)], {"axis": -1},
         lambda d, i: opset8.gather_elements(d, i, -1), ()),
    Case("GatherND", 8, [X, i64([1, 2], [0, -1]).reshape(2, 2)], {}, lambda d, i: opset8.gather_nd(d, i), ()),
    Case("GatherND", 8, [X, np.array([[[2]], [[0]]], np.int32)], {"batch_dims": 1},
         lambda d, i: opset8.gather_nd(d, i, 1), ()),
    Case("GatherND", 8, [X16, i64([[0, 1], [2, 3]], [[1, 0], [0, 0]]).reshape(2, 2, 2)], {"batch_dims": 1},
         lambda d, i: opset8.gather_nd(d, i, 1), ()),
    Case("ScatterUpdate", 3, [X, i64(2, 0), UPDATES, i64(1)], {}, lambda *n: opset3.scatter_update(*n), (1, 3)),
    Case("ScatterUpdate", 3, [XI8, i64(1), data(1, 3, 4, dtype=np.int8), i64(-3)], {},
         lambda *n: opset3.scatter_update(*n), (1, 3)),
    Case("ScatterElementsUpdate", 3, [X, np.array([[[0, 2, 1, 0]] * 2] * 2), UPDATES, i64(1)], {},
         lambda *n: opset3.scatter_elements_update(*n), (1, 3)),
    Case("ScatterNDUpdate", 3, [X, i64([1, 2], [0, -1]).reshape(2, 2), data(2, 4) + 500], {},
         lambda *n: opset4.scatter_nd_update(*n), (1,)),
    Case("ScatterNDUpdate", 3, [XI8, i64(1, 0).reshape(2, 1), data(2, 3, 4, dtype=np.int8)], {},
         lambda *n: opset4.scatter_nd_update(*n), (1,)),
    Case("OneHot", 1, [np.array([[0, 2], [3, 1]], np.int64), np.int64(4), np.float32(2), np.float32(-1)], {"axis": -1},
         lambda *n: opset1.one_hot(*n, -1), (1, 2, 3)),
    Case("OneHot", 1, [np.array([1, 5, -1, 0], np.int32), np.int32(3), np.int8(1), np.int8(0)], {"axis": 0},
         lambda *n: opset1.one_hot(*n, 0), (1, 2, 3)),
] + [
    Case("ScatterElementsUpdate", 12, [d, np.array([[[0, 2, 2, 0]] * 2] * 2), u, i64(1)],
         {"reduction": reduction, "use_init_val": init},
         lambda *n, r=reduction, i=init: opset12.scatter_elements_update(*n, r, i), (1, 3))
    for reduction in ("none", "sum", "prod", "min", "max", "mean") for init in (True, False)
    # i32 because OpenVINO's reference does not take i8 here, and its CPU plugin rounds an
    # integer mean toward zero where the reference floors
    for d, u in ((X, UPDATES), (data(2, 3, 4, dtype=np.int32), data(2, 2, 4, dtype=np.int32) % 7))
] + [
    # repeated indices: the updates combine with each other, in order, as well as with the data
    Case("ScatterNDUpdate", 15, [d, i64([1, 2], [0, -1], [1, 2]).reshape(3, 2), u], {"reduction": reduction},
         lambda *n, r=reduction: opset15.scatter_nd_update(*n, r), (1,))
    for reduction in ("none", "sum", "sub", "prod", "min", "max")
    for d, u in ((X, data(3, 4) + 500), (data(2, 3, 4, dtype=np.int32), data(3, 4, dtype=np.int32) % 5))
]

REARRANGE_CASES = [
    Case("DepthToSpace", 1, [IMG], {"block_size": 2, "mode": "blocks_first"}, lambda d: opset1.depth_to_space(d, "blocks_first", 2)),
    Case("DepthToSpace", 1, [IMG], {"block_size": 2, "mode": "depth_first"}, lambda d: opset1.depth_to_space(d, "depth_first", 2)),
    Case("DepthToSpace", 1, [data(2, 8, 3)], {"block_size": 2, "mode": "depth_first"}, lambda d: opset1.depth_to_space(d, "depth_first", 2)),
    Case("DepthToSpace", 1, [data(1, 16, 2, 1, 2)], {"block_size": 2, "mode": "blocks_first"},
         lambda d: opset1.depth_to_space(d, "blocks_first", 2)),
    Case("SpaceToDepth", 1, [data(1, 2, 4, 6)], {"block_size": 2, "mode": "blocks_first"}, lambda d: opset1.space_to_depth(d, "blocks_first", 2)),
    Case("SpaceToDepth", 1, [data(1, 2, 4, 6)], {"block_size": 2, "mode": "depth_first"}, lambda d: opset1.space_to_depth(d, "depth_first", 2)),
    Case("SpaceToDepth", 1, [data(2, 3, 4, 2, 6, dtype=np.int8)], {"block_size": 2, "mode": "depth_first"},
         lambda d: opset1.space_to_depth(d, "depth_first", 2)),
    Case("ShuffleChannels", 1, [IMG], {"group": 4}, lambda d: opset3.shuffle_channels(d, 1, 4)),
    Case("ShuffleChannels", 1, [X], {"axis": -1, "group": 2}, lambda d: opset3.shuffle_channels(d, -1, 2)),
    Case("Reverse", 1, [X, i64(0, 2)], {"mode": "index"}, factory_node("Reverse", 1, mode="index")),
    Case("Reverse", 1, [X, np.array([False, True, True])], {"mode": "mask"}, factory_node("Reverse", 1, mode="mask")),
    Case("Roll", 7, [X, i64(1, -2), i64(0, -1)], {}, lambda *n: opset7.roll(*n)),
    Case("Roll", 7, [XI8, np.array([5, -7], np.int32), np.array([1, 2], np.int32)], {}, lambda *n: opset7.roll(*n)),
    Case("Roll", 7, [X16, np.int64(-4), i64(1)], {}, lambda *n: opset7.roll(*n)),
    Case("ReverseSequence", 1, [X, i64(2, 3)], {}, lambda d, s: opset1.reverse_sequence(d, s, 0, 1)),
    Case("ReverseSequence", 1, [data(3, 5, 2), np.array([5, 0], np.int32)], {"batch_axis": -1, "seq_axis": 1},
         lambda d, s: opset1.reverse_sequence(d, s, -1, 1)),
    Case("NonZero", 3, [np.array([[0, 1.5, 0], [2, 0, -1]], np.float32)], {}, lambda d: opset3.non_zero(d), ()),
    Case("NonZero", 3, [np.array([[[0], [3]], [[1], [0]]], np.int8)], {"output_type": types.i32},
         lambda d: opset3.non_zero(d, "i32"), ()),
    Case("NonZero", 3, [np.zeros((2, 3), np.float32)], {}, lambda d: opset3.non_zero(d), ()),
    Case("NonZero", 3, [np.float32(0)], {}, lambda d: opset3.non_zero(d), ()),
    Case("NonZero", 3, [np.int32(-2)], {}, lambda d: opset3.non_zero(d), ()),
]

TOPK_DATA = RNG.permutation(60).astype(np.float32).reshape(3, 4, 5)
TOPK_CASES = [
    Case("TopK", 1, [TOPK_DATA, np.int64(3)], {"axis": 1, "mode": "max", "sort": "value"},
         lambda d, k: opset1.topk(d, k, 1, "max", "value")),
    Case("TopK", 1, [TOPK_DATA, np.int64(2)], {"axis": -1, "mode": "min", "sort": "index"},
         lambda d, k: opset1.topk(d, k, -1, "min", "index")),
    Case("TopK", 3, [TOPK_DATA.astype(np.int8), np.int32(4)], {"axis": 2, "mode": "min", "sort": "value",
                                                               "index_element_type": types.i64},
         lambda d, k: opset3.topk(d, k, 2, "min", "value", "i64")),
    Case("TopK", 3, [TOPK_DATA.astype(np.float16), np.int32(3)], {"axis": 0, "mode": "max", "sort": "index"},
         lambda d, k: opset3.topk(d, k, 0, "max", "index")),
    Case("TopK", 11, [np.array([[3, 1, 3, 2, 1, 3]], np.float32), np.int64(4)],
         {"axis": 1, "mode": "max", "sort": "value", "stable": True},
         lambda d, k: opset11.topk(d, k, 1, "max", "value", stable=True)),
    Case("TopK", 11, [np.array([[3, 1, 3, 2, 1, 3]], np.float32), np.int64(3)],
         {"axis": 1, "mode": "min", "sort": "value", "stable": True},
         lambda d, k: opset11.topk(d, k, 1, "min", "value", stable=True)),
]


@pytest.mark.parametrize("case", INDEX_CASES + REARRANGE_CASES + TOPK_CASES, ids=str)
def test_more_ops_match_openvino(case: Case) -> None:
    run_case(case)


# --------------------------------------------------------------------------- dynamic shapes
#
# Each graph is built twice, in lpir and in OpenVINO, from a Parameter with dynamic dims; the
# inferred shapes must agree (a dynamic dim as None; OpenVINO may know more through symbols).

def lpir_dims(shape) -> tuple:
    return tuple(d if isinstance(d, int) else None for d in shape)


def openvino_dims(partial_shape) -> tuple:
    return tuple(d.get_length() if d.is_static else None for d in partial_shape)


class Both:
    """Builds the same graph in lpir and OpenVINO side by side."""

    def __init__(self, shape: tuple, dtype=np.float32) -> None:
        self.lp = make_parameter(types.from_dtype(dtype), tuple(DYNAMIC if d is None else d for d in shape)).outputs[0]
        self.ov = opset13.parameter([-1 if d is None else d for d in shape], dtype).output(0)

    @staticmethod
    def const(value: np.ndarray) -> Both:
        both = Both.__new__(Both)
        both.lp, both.ov = make_constant(np.asarray(value)).outputs[0], opset13.constant(np.asarray(value)).output(0)
        return both

    def apply(self, op: str, others: list, attrs: dict, factory: Callable, *, opset: int | None = None) -> Both:
        both = Both.__new__(Both)
        both.lp = build(op, [self.lp] + [o.lp for o in others], attrs, opset=opset).outputs[0]
        both.ov = factory(self.ov, *[o.ov for o in others]).output(0)
        return both

    def check(self, expected: tuple) -> None:
        assert lpir_dims(self.lp.shape) == expected
        assert openvino_dims(self.ov.get_partial_shape()) == expected


def c(*values) -> Both:
    return Both.const(i64(*values))


def test_reshape_special_zero_keeps_dynamic_dim() -> None:
    x = Both((None, 3, 4))
    x.apply("Reshape", [c(0, -1)], {"special_zero": True}, lambda a, b: opset1.reshape(a, b, True)).check((None, 12))
    x.apply("Reshape", [c(0, 2, -1, 1)], {"special_zero": True}, lambda a, b: opset1.reshape(a, b, True)).check((None, 2, 6, 1))
    x.apply("Reshape", [c(-1, 4)], {"special_zero": False}, lambda a, b: opset1.reshape(a, b, False)).check((None, 4))


def test_concat_merges_dynamic_dims() -> None:
    a, b = Both((None, 3)), Both((2, None))
    a.apply("Concat", [b], {"axis": 0}, lambda x, y: opset1.concat([x, y], 0)).check((None, 3))
    a.apply("Concat", [Both((None, 5))], {"axis": -1}, lambda x, y: opset1.concat([x, y], -1)).check((None, 8))


def test_shapeof_gather_concat_reshape_chain() -> None:
    """The attention-head split of transformer models: [B, S, 384] → [B, S, 12, 32]."""
    x = Both((None, None, 384))
    shape = x.apply("ShapeOf", [], {}, lambda n: opset3.shape_of(n))
    dims = shape.apply("Gather", [c(0, 1), Both.const(np.int64(0))], {}, lambda n, i, a: opset8.gather(n, i, a))
    target = dims.apply("Concat", [c(12, 32)], {"axis": 0}, lambda n, m: opset1.concat([n, m], 0))
    heads = x.apply("Reshape", [target], {"special_zero": False}, lambda n, t: opset1.reshape(n, t, False))
    heads.check((None, None, 12, 32))
    moved = heads.apply("Transpose", [c(0, 2, 1, 3)], {}, lambda n, o: opset1.transpose(n, o))
    moved.check((None, 12, None, 32))
    batch = shape.apply("StridedSlice", [c(0), c(1), c(1)], {"begin_mask": [0], "end_mask": [0]},
                        lambda n, b, e, s: opset1.strided_slice(n, b, e, s, [0], [0]))
    flat = batch.apply("Concat", [c(-1)], {"axis": 0}, lambda n, m: opset1.concat([n, m], 0))
    x.apply("Reshape", [flat], {"special_zero": False}, lambda n, t: opset1.reshape(n, t, False)).check((None, None))
    full = shape.apply("Slice", [c(1), c(3), c(1), c(0)], {}, lambda n, *b: opset8.slice(n, *b))
    grown = Both((1, None)).apply("Unsqueeze", [c(2)], {}, lambda n, a: opset1.unsqueeze(n, a))
    grown.apply("Broadcast", [Both.const(np.int64(1)).apply("Unsqueeze", [c(0)], {}, lambda n, a: opset1.unsqueeze(n, a))
                              .apply("Concat", [full], {"axis": 0}, lambda n, m: opset1.concat([n, m], 0))],
                {"mode": "bidirectional"}, lambda n, t: opset3.broadcast(n, t, broadcast_spec="BIDIRECTIONAL")
                ).check((1, None, 384))


def test_movement_ops_on_dynamic_dims() -> None:
    x = Both((None, 6, 4))
    x.apply("Transpose", [c(2, 0, 1)], {}, lambda n, o: opset1.transpose(n, o)).check((4, None, 6))
    x.apply("Unsqueeze", [c(-1, 0)], {}, lambda n, a: opset1.unsqueeze(n, a)).check((1, None, 6, 4, 1))
    Both((None, 1, 4)).apply("Squeeze", [c(1)], {}, lambda n, a: opset1.squeeze(n, a)).check((None, 4))
    Both((None, 1, 4)).apply("Squeeze", [c(0, 2)], {}, lambda n, a: opset1.squeeze(n, a)).check((1, 4))
    x.apply("Gather", [c(0, 2, 1, 1), Both.const(np.int64(1))], {}, lambda n, i, a: opset8.gather(n, i, a)).check((None, 4, 4))
    x.apply("Slice", [c(1, 0), c(5, 8), c(2, 3), c(1, -1)], {}, lambda n, *b: opset8.slice(n, *b)).check((None, 2, 2))
    x.apply("Split", [Both.const(np.int64(1))], {"num_splits": 3}, lambda n, a: opset1.split(n, a, 3)).check((None, 2, 4))
    x.apply("Tile", [c(2, 1)], {}, lambda n, r: opset1.tile(n, r)).check((None, 12, 4))
    x.apply("Pad", [c(0, 1, 0), c(1, 1, 2)], {"pad_mode": "constant"},
            lambda n, b, e: opset12.pad(n, b, e, "constant"), opset=12).check((None, 8, 6))
    x.apply("StridedSlice", [c(0, 1), c(0, 3), c(1, 1)], {"begin_mask": [1, 0], "end_mask": [1, 0],
                                                        "new_axis_mask": [], "shrink_axis_mask": [0, 0]},
            lambda n, b, e, s: opset1.strided_slice(n, b, e, s, [1, 0], [1, 0])).check((None, 2, 4))


def test_unknown_values_keep_rank() -> None:
    """Inputs known only by shape (Parameters) still give the output rank."""
    data = make_parameter(types.f32, (2, 3, 4)).outputs[0]
    target = make_parameter(types.i64, (3,)).outputs[0]
    assert build("Reshape", [data, target], {"special_zero": False}).outputs[0].shape == (DYNAMIC,) * 3
    assert build("Transpose", [data, target]).outputs[0].shape == (DYNAMIC,) * 3
    assert build("Broadcast", [data, make_parameter(types.i64, (4,)).outputs[0]]).outputs[0].shape == (DYNAMIC,) * 4
    nz = build("NonZero", [data]).outputs[0]
    assert nz.shape == (3, Dim(0, 24)) and nz.etype is types.i64


# --------------------------------------------------------------------------- invalid input

INVALID = [
    ("Reshape", 1, [X, i64(5, -1)], {"special_zero": False}, "cannot infer -1"),
    ("Reshape", 1, [X, i64(-1, -1)], {"special_zero": False}, "more than one -1"),
    ("Reshape", 1, [X, i64(7, 2)], {"special_zero": False}, "has 14 elements"),
    ("Reshape", 1, [X, i64(0, 0, 0, 0)], {"special_zero": True}, "copies dimension 3"),
    ("Squeeze", 1, [X, i64(1, -2)], {}, "repeat an axis"),
    ("Unsqueeze", 1, [X, i64(1, 1)], {}, "repeat an axis"),
    ("Transpose", 1, [X, i64(0, 0, 1)], {}, "not a permutation"),
    ("Transpose", 1, [X, i64(-1, 0, 1)], {}, "not a permutation"),
    ("Concat", 1, [X, data(2, 4, 4)], {"axis": 2}, "dimensions 3 and 4 differ"),
    ("Concat", 1, [X, X], {"axis": 3}, "axis 3 is out of range"),
    ("Split", 1, [X, np.int64(1)], {"num_splits": 2}, "equal parts"),
    ("VariadicSplit", 1, [X, np.int64(2), i64(1, 2)], {}, "do not add up"),
    ("Gather", 8, [X, i64(0), np.int64(3)], {}, "axis 3 is out of range"),
    ("Gather", 8, [X, i64(0), np.int64(0)], {"batch_dims": 1}, "batch_dims 1"),
    ("Broadcast", 3, [data(3, 2), i64(2, 3, 4)], {}, "does not broadcast"),
    ("Broadcast", 3, [data(3, 2), i64(2, 3, 4)], {"mode": "pdpd2"}, "is not one of"),
    ("Broadcast", 1, [data(3, 1), i64(2, 3, 4)], {"mode": "bidirectional"}, "is not one of"),
    ("Slice", 8, [X, i64(0), i64(1), i64(0), i64(0)], {}, "step must not be 0"),
    ("Slice", 8, [X, i64(0, 0), i64(1, 1), i64(1, 1), i64(1, -2)], {}, "repeat an axis"),
    ("StridedSlice", 1, [X, i64(0, 5), i64(1, 6), i64(1, 1)], {"begin_mask": [0, 0], "end_mask": [0, 0],
                                                            "shrink_axis_mask": [0, 1]}, "out of range"),
    ("StridedSlice", 1, [X, i64(0), i64(1), i64(1)], {"begin_mask": [0, 0], "end_mask": [0]}, "one length"),
    ("Pad", 1, [X, i64(-1, 0, 0), i64(0, 0, 0)], {"pad_mode": "constant"}, "need Pad-12"),
    ("Pad", 1, [X, i64(0, 3, 0), i64(0, 0, 0)], {"pad_mode": "reflect"}, "exceed"),
    ("Pad", 1, [X, i64(0, 0, 0), i64(0, 0, 0)], {"pad_mode": "wrap"}, "not one of"),
    ("Tile", 1, [X, i64(-1)], {}, "must not be negative"),
    ("DepthToSpace", 1, [data(1, 6, 2, 2)], {"block_size": 2, "mode": "blocks_first"}, "not divisible"),
    ("SpaceToDepth", 1, [data(1, 6, 2, 2)], {"block_size": 2, "mode": "spread"}, "blocks_first"),
    ("ShuffleChannels", 1, [X], {"group": 2}, "not divisible by group"),
    ("ScatterUpdate", 3, [X, i64(-1), data(2, 1, 4), np.int64(1)], {}, "out of range"),
    ("ScatterNDUpdate", 3, [X, i64(0, 1).reshape(1, 2), data(2, 4)], {}, "updates shape"),
    ("TopK", 1, [X, np.int64(2)], {"axis": 1, "mode": "largest", "sort": "value"}, "not max or min"),
    ("TopK", 3, [X, np.int64(2)], {"axis": 1, "mode": "max", "sort": "value", "index_element_type": types.f32}, "i32 or i64"),
    ("ReverseSequence", 1, [X, i64(1, 2)], {"batch_axis": 1, "seq_axis": 1}, "same axis"),
    ("OneHot", 1, [i64(1, 2), np.int64(3), np.float32(1), np.float32(0)], {"axis": 2}, "out of range"),
    ("Range", 4, [np.float32(0), i64(1, 2), np.float32(1)], {"output_type": types.f32}, "must be a scalar"),
]


@pytest.mark.parametrize("op,opset,inputs,attrs,message", INVALID, ids=lambda v: v if isinstance(v, str) else "")
def test_invalid_input_is_a_validation_error(op, opset, inputs, attrs, message) -> None:
    with pytest.raises(ValidationError, match=message):
        lpir_op(op, inputs, attrs, opset=opset, constant_inputs=range(1, len(inputs)))


def test_inference_errors_name_the_node() -> None:
    data_in = make_parameter(types.f32, (2, 3)).outputs[0]
    node = make_node("Reshape", [data_in, make_constant(i64(4, 4)).outputs[0]], {"special_zero": False},
                     name="attn/reshape", version="opset1")
    with pytest.raises(ValidationError, match=r"'attn/reshape' \(Reshape-opset1\).*\[4, 4\]"):
        infer_node(node)


def test_agnostic_traits() -> None:
    """Movement ops pass quantized values through (tests/ops/test_traits.py pins them to NNCF's
    groups; Slice is not agnostic there)."""
    agnostic = ["Reshape", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "VariadicSplit", "Gather",
                "GatherElements", "GatherND", "StridedSlice", "Tile", "Pad", "DepthToSpace", "ShuffleChannels"]
    for op in agnostic:
        assert lookup(op, 20).traits.quantization_agnostic, op
    for op in ("ShapeOf", "Range", "TopK", "NonZero", "OneHot"):
        assert not lookup(op, 20).traits.quantization_agnostic, op


# --------------------------------------------------------------------------- properties

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def tensors(draw, min_rank: int = 1, max_rank: int = 4) -> np.ndarray:
    shape = draw(st.lists(st.integers(1, 4), min_size=min_rank, max_size=max_rank))
    return data(*shape) if draw(st.booleans()) else data(*shape, dtype=np.int32)


@SETTINGS
@given(x=tensors(), seed=st.integers(0, 2**16))
def test_slice_random(x: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    axes = rng.permutation(x.ndim)[: rng.integers(1, x.ndim + 1)] - rng.integers(0, 2) * x.ndim
    start, stop = rng.integers(-6, 7, size=(2, len(axes)))
    step = rng.choice([-3, -2, -1, 1, 2, 3], size=len(axes))
    run_case(Case("Slice", 8, [x, start, stop, step, axes.astype(np.int64)], {},
                  lambda *n: opset8.slice(*n)))


@SETTINGS
@given(x=tensors(2, 4), seed=st.integers(0, 2**16))
def test_strided_slice_random(x: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    count = int(rng.integers(1, x.ndim + 1))
    kinds = rng.choice(["slice", "slice", "new_axis", "shrink_axis"], size=count).tolist()
    if rng.integers(0, 3) == 0:
        kinds[int(rng.integers(0, count))] = "ellipsis"
    masks = {f"{kind}_mask": [int(k == kind) for k in kinds] for kind in ("new_axis", "shrink_axis", "ellipsis")}
    masks.update({name: rng.integers(0, 2, size=count).tolist() for name in ("begin_mask", "end_mask")})
    begin, end = rng.integers(-5, 6, size=(2, count))
    for i, kind in enumerate(kinds):
        if kind == "shrink_axis":  # a shrunk axis needs an index inside its dimension
            begin[i], masks["begin_mask"][i] = int(rng.integers(-1, 1)), 0
    stride = rng.choice([-2, -1, 1, 2], size=count)
    run_case(Case("StridedSlice", 1, [x, begin, end, stride], masks,
                  lambda d, b, e, s: opset1.strided_slice(d, b, e, s, **masks)))


@SETTINGS
@given(x=tensors(0, 5), seed=st.integers(0, 2**16))
def test_transpose_random(x: np.ndarray, seed: int) -> None:
    order = np.random.default_rng(seed).permutation(x.ndim).astype(np.int64)
    run_case(Case("Transpose", 1, [x, order], {}, lambda d, o: opset1.transpose(d, o)))


@SETTINGS
@given(x=tensors(1, 4), seed=st.integers(0, 2**16))
def test_gather_random(x: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    axis = int(rng.integers(0, x.ndim))
    batch = int(rng.integers(0, axis + 1))
    shape = x.shape[:batch] + tuple(rng.integers(1, 4, size=rng.integers(0, 3)))
    indices = rng.integers(-x.shape[axis], x.shape[axis], size=shape).astype(np.int64)
    signed_axis = axis - x.ndim * int(rng.integers(0, 2))
    run_case(Case("Gather", 8, [x, indices, np.int64(signed_axis)], {"batch_dims": batch},
                  lambda d, i, a: opset8.gather(d, i, a, batch), (2,)))


@settings(max_examples=30, deadline=None)  # each example compiles a model on the CPU plugin
@given(seed=st.integers(0, 2**32 - 1), shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
       axis=st.sampled_from([None, 0, -1]), sort=st.booleans(), dtype=st.sampled_from([np.float32, np.int32]))
def test_unique_matches_openvino(seed, shape, axis, sort, dtype):
    """Small values, so that elements and slices repeat; all four outputs compared exactly."""
    x = np.random.default_rng(seed).integers(0, 3, shape).astype(dtype)
    inputs = [x] if axis is None else [x, np.int64(axis)]
    attrs = {"sorted": sort}

    def factory(*nodes):
        return opset10.unique(*nodes, sorted=sort, index_element_type="i64", count_element_type="i64")

    expected = openvino_op(factory, inputs, constant_inputs=(1,))
    if axis is not None and _repeats_a_slice(expected[0], axis):
        expected = numpy_unique(x, axis, sort)  # OpenVINO's CPU plugin departs here (see below)
    result = lpir_op("Unique", inputs, attrs, opset=10, constant_inputs=(1,))
    for got, want in zip(result, expected):
        np.testing.assert_array_equal(got, want)


def _repeats_a_slice(values: np.ndarray, axis: int) -> bool:
    slices = np.moveaxis(values, axis, 0).reshape(values.shape[axis], -1)
    return len({row.tobytes() for row in slices}) < len(slices)


def numpy_unique(x: np.ndarray, axis: int, sort: bool) -> list[np.ndarray]:
    """Unique-10's four outputs from numpy's unique (slices in sorted order, or in order of
    first appearance)."""
    values, first, inverse, counts = np.unique(x, axis=axis, return_index=True, return_inverse=True,
                                               return_counts=True)
    order = np.arange(len(first)) if sort else np.argsort(first, kind="stable")
    rank = np.argsort(order)
    return [np.take(values, order, axis=axis), first[order], rank[inverse.ravel()], counts[order]]


def test_unique_along_an_axis_where_openvino_cpu_repeats_a_slice():
    """OpenVINO 2026.4's CPU plugin reports the columns of this input as four unique ones,
    though two are equal; lpir gives three, as numpy (and ONNX Runtime's Unique) do."""
    x = np.array([[2, 2, 2, 2], [2, 0, 0, 1]], np.float32)

    def factory(*nodes):
        return opset10.unique(*nodes, sorted=False, index_element_type="i64", count_element_type="i64")

    openvino = openvino_op(factory, [x, np.int64(1)], constant_inputs=(1,))
    result = lpir_op("Unique", [x, np.int64(1)], {"sorted": False}, opset=10, constant_inputs=(1,))
    assert openvino[0].shape[1] == 4 and _repeats_a_slice(openvino[0], 1)
    for got, want in zip(result, numpy_unique(x, 1, False)):
        np.testing.assert_array_equal(got, want)
    assert result[0].tolist() == [[2, 2, 2], [2, 0, 1]]
