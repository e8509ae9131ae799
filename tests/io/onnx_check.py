"""Helpers for ONNX import tests: build small ONNX graphs, run them in ONNX Runtime and in lpir."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

import lpir

TOLERANCE = 1e-4
# The conformance-suite tests lpir does not pass yet (test_onnx_backend.py), with the reason.
EXPECTED_FAILURES = Path(__file__).with_name("onnx_backend_expected_failures.txt")


def expected_failures(path: Path = EXPECTED_FAILURES) -> dict[str, str]:
    """Test name → reason, from lines ``name<TAB>reason`` ('#' starts a comment)."""
    listed = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.partition("\t")
            listed[name.strip()] = reason.strip()
    return listed


def ort_run(path: str | Path, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Outputs of ONNX Runtime's CPU provider, single-threaded (the machine is shared)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feeds = {i.name: v for i, v in zip(session.get_inputs(), inputs)}
    return session.run(None, feeds)


def lpir_run(path: str | Path, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Outputs of lpir's interpreter on the imported ONNX model."""
    return list(lpir.compile_model(lpir.read_model(path))(list(inputs)))


def assert_close(actual: Sequence[np.ndarray], expected: Sequence[np.ndarray], tolerance: float = TOLERANCE) -> float:
    """Floats within ``tolerance`` × the expected output's range, integers and booleans equal.

    Returns the largest error relative to the range, for tests that report what they measured.
    """
    assert len(actual) == len(expected)
    worst = 0.0
    for i, (a, e) in enumerate(zip(actual, expected)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, f"output {i}: shape {a.shape} != {e.shape}"
        if e.dtype.kind in "iub":
            assert a.dtype.kind == e.dtype.kind, f"output {i}: dtype {a.dtype} != {e.dtype}"
            np.testing.assert_array_equal(a, e, err_msg=f"output {i}")
            continue
        assert a.dtype == e.dtype, f"output {i}: dtype {a.dtype} != {e.dtype}"
        if e.size == 0:
            continue
        span = float(e.max() - e.min()) or max(float(np.abs(e).max()), 1.0)
        error = float(np.abs(a.astype(np.float64) - e).max()) / span
        assert error <= tolerance, f"output {i}: max error {error:.3g} of the range {span:.3g} > {tolerance}"
        worst = max(worst, error)
    return worst


def single_node_model(op_type: str, inputs: Sequence[tuple[str, np.ndarray, bool]], *, opset: int,
                      outputs: int = 1, **attrs) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    """A one-node ONNX model and its run-time inputs.

    ``inputs``: (name, value, is_initializer) triples; an empty name is an omitted optional input.
    """
    graph_inputs, initializers, feeds = [], [], []
    for name, value, constant in inputs:
        value = np.asarray(value)
        if not name:
            continue
        if constant:
            initializers.append(numpy_helper.from_array(value, name))
        else:
            elem = helper.np_dtype_to_tensor_dtype(value.dtype)
            graph_inputs.append(helper.make_tensor_value_info(name, elem, list(value.shape)))
            feeds.append(value)
    out_names = [f"y{i}" for i in range(outputs)]
    node = helper.make_node(op_type, [name for name, _, _ in inputs], out_names, name=f"{op_type.lower()}_node", **attrs)
    graph = helper.make_graph([node], f"{op_type}_graph", graph_inputs,
                              [helper.make_empty_tensor_value_info(n) for n in out_names],
                              initializers)
    return make_model(graph, opset), feeds


def make_model(graph: onnx.GraphProto, opset: int) -> onnx.ModelProto:
    """A model of ``graph`` at ``opset`` with an IR version ONNX Runtime accepts."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 9 if opset <= 20 else 10)
    return onnx.shape_inference.infer_shapes(model)  # gives the graph outputs their types


def check_against_ort(model: onnx.ModelProto, feeds: Sequence[np.ndarray], folder: Path,
                      tolerance: float = TOLERANCE) -> float:
    """Save ``model``, run it in ONNX Runtime and in lpir on ``feeds``, compare the outputs."""
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    return assert_close(lpir_run(path, feeds), ort_run(path, feeds), tolerance)
