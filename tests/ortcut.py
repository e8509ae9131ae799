"""ONNX Runtime's codes at each activation FakeQuantize of lpir's QDQ export, read from cut models.

lpir exports FakeQuantize ``F`` as ``QuantizeLinear "F/quantize" → DequantizeLinear "F"``. ONNX
Runtime's value there is read from the export cut after that DequantizeLinear (the graph's only
output; the nodes it does not depend on dropped): the QuantizeLinear keeps its DequantizeLinear,
so ONNX Runtime fuses what produces it as in the whole model (a Conv into a QLinearConv, ...).
Reading a QuantizeLinear's output instead, or several tensors from one session, changes the
fusions and so the values (measured on PP-OCR's classifier: 1898 of 196608 codes of a QLinearConv
output differ when a later tensor is read from the same session). Within a cut, ONNX Runtime's
float convolutions still pick their layout around the cut, so a value within f32 roundings of a
rounding boundary may round either way between cuts. Shared by the tests and
benchmarks/measure_onnxruntime_departures.py; lpir's side is :mod:`ovcut`'s teacher forcing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort


def cut(model: onnx.ModelProto, output: str) -> onnx.ModelProto:
    """``model`` with ``output`` its only graph output and the nodes it does not depend on dropped."""
    graph = model.graph
    producer = {name: node for node in graph.node for name in node.output}
    needed, stack = set(), [output]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        if name in producer:
            stack.extend(i for i in producer[name].input if i)
    result = onnx.ModelProto()
    result.CopyFrom(model)
    kept = [n for n in graph.node if any(o in needed for o in n.output)]
    del result.graph.node[:], result.graph.output[:], result.graph.initializer[:], result.graph.input[:]
    result.graph.node.extend(kept)
    result.graph.output.append(onnx.helper.make_empty_tensor_value_info(output))
    result.graph.initializer.extend(t for t in graph.initializer if t.name in needed)
    result.graph.input.extend(i for i in graph.input if i.name in needed)
    return result


def session(model: onnx.ModelProto | str | Path, optimized: Path | None = None) -> ort.InferenceSession:
    """ONNX Runtime's CPU session with every graph optimisation (its default), one thread."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if optimized is not None:
        options.optimized_model_filepath = str(optimized)
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run(sess: ort.InferenceSession, names: list[str], inputs: list[np.ndarray]) -> list[np.ndarray]:
    """``sess`` on the model inputs ``inputs`` (in the order of ``names``, the export's inputs)."""
    return sess.run(None, {i.name: inputs[names.index(i.name)] for i in sess.get_inputs()})


def cut_outputs(path: str | Path, inputs: list[np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    """FakeQuantize name → ONNX Runtime's dequantized output of its QDQ pair, from the export cut there."""
    model = onnx.load(str(path))
    order = [i.name for i in model.graph.input]
    dequantize = {n.name: n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    return {name: run(session(cut(model, dequantize[name])), order, inputs)[0] for name in names}
