"""Run one op in lpir and in OpenVINO on the same inputs, for op tests.

``lpir_op`` evaluates an lpir op definition *and* checks that its shape/type inference agrees
with what the evaluation produced. ``openvino_op`` runs the same op in OpenVINO, either through
the core reference (``node.evaluate``) or the CPU plugin with the f32 hint.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import openvino as ov
from openvino import opset13

from lpir.ir import make_constant, make_node, make_parameter, types
from lpir.ops import infer_node, lookup
from ovmodels import F32_HINT

_core = ov.Core()


def lpir_op(op_type: str, inputs: Sequence[np.ndarray], attrs: dict | None = None, *, opset: int = 1,
            constant_inputs: Sequence[int] = ()) -> list[np.ndarray]:
    """Evaluate lpir's ``op_type`` and assert its inferred output types/shapes match the result.

    Inputs listed in ``constant_inputs`` are given to inference as Const nodes (their values
    known, as a Reshape target shape is); the others as Parameters (only shape and type known).
    """
    op = lookup(op_type, opset)
    assert op is not None, f"{op_type}-opset{opset} is not registered"
    sources = []
    for i, value in enumerate(inputs):
        value = np.asarray(value)
        node = make_constant(value) if i in constant_inputs else make_parameter(types.from_dtype(value.dtype), value.shape)
        sources.append(node.outputs[0])
    node = make_node(op_type, sources, attrs or {}, version=f"opset{opset}")
    infer_node(node)
    resolved = op.resolved_attrs(node.attrs, op_type)
    outputs = [np.asarray(o) for o in op.evaluate(*[np.asarray(v) for v in inputs], **resolved)]
    assert len(outputs) == len(node.outputs), f"{op_type}: {len(outputs)} outputs, inference says {len(node.outputs)}"
    for out, value in zip(node.outputs, outputs):
        assert out.etype.dtype == value.dtype or out.etype.is_packed, f"{op_type}: inferred {out.etype}, got {value.dtype}"
        inferred = tuple(out.shape)
        assert len(inferred) == value.ndim and all(
            not isinstance(d, int) or d == v for d, v in zip(inferred, value.shape)
        ), f"{op_type}: inferred shape {inferred}, evaluated {value.shape}"
    return outputs


def openvino_op(factory: Callable[..., ov.Node], inputs: Sequence[np.ndarray], *, reference: bool = False,
                constant_inputs: Sequence[int] = ()) -> list[np.ndarray]:
    """Run ``factory(*input_nodes)`` in OpenVINO.

    ``reference=True`` uses the core reference evaluation (``node.evaluate``), the normative
    semantics; otherwise the CPU plugin with ``INFERENCE_PRECISION_HINT=f32``.
    """
    inputs = [np.asarray(v) for v in inputs]
    if reference:
        node = factory(*[opset13.constant(v) for v in inputs])
        outs = [ov.Tensor(node.get_output_element_type(i), node.get_output_shape(i)) for i in range(node.get_output_size())]
        ok = node.evaluate(outs, [ov.Tensor(v) for v in inputs])
        assert ok, f"OpenVINO cannot evaluate {node.get_type_name()}"
        return [np.array(t.data) for t in outs]
    params, args = [], []
    for i, v in enumerate(inputs):
        if i in constant_inputs:
            args.append(opset13.constant(v))
        else:
            p = opset13.parameter(list(v.shape), v.dtype)
            params.append(p)
            args.append(p)
    node = factory(*args)
    model = ov.Model([opset13.result(node.output(i)) for i in range(node.get_output_size())], params)
    compiled = _core.compile_model(model, "CPU", F32_HINT)
    result = compiled([v for i, v in enumerate(inputs) if i not in constant_inputs])
    return [np.array(result[o]) for o in compiled.outputs]
