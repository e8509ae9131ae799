"""ONNX Runtime's codes at each activation FakeQuantize of lpir's QDQ export, read from cut models.

lpir exports FakeQuantize ``F`` as ``QuantizeLinear "F/quantize" → DequantizeLinear "F"``. ONNX
Runtime's value there is read from the export cut after that DequantizeLinear (the graph's first
output; the nodes it does not depend on dropped): the QuantizeLinear keeps its DequantizeLinear,
so ONNX Runtime fuses what produces it as in the whole model (a Conv into a QLinearConv, ...).
Where several nodes read that DequantizeLinear in the whole model, as many read it in the cut
(Identity nodes, their outputs the graph's others): a QuantizeLinear read by several
DequantizeLinear stops ONNX Runtime fusing the layer before it. Reading a QuantizeLinear's
output instead, or several tensors from one session, changes the fusions and so the values
(measured on PP-OCR's classifier: 1898 of 196608 codes of a QLinearConv output differ when a
later tensor is read from the same session). Within a cut, ONNX Runtime's float convolutions
still pick their layout around the cut, so a value within f32 roundings of a rounding boundary
may round either way between cuts. Shared by the tests and
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


def with_readers(model: onnx.ModelProto, cut_model: onnx.ModelProto, output: str) -> onnx.ModelProto:
    """``cut_model`` (``model`` cut at ``output``) with Identity nodes reading ``output``, as many
    as ``model`` has nodes reading it but one, their outputs extra graph outputs: a QuantizeLinear
    whose DequantizeLinear several nodes read keeps the layer before it in float, which a cut
    with one reader would fuse (measured on PP-OCRv4 det's ``p2o.Conv.43``: a QLinearConv in the
    plain cut, one of whose codes differed from the whole model's float Conv)."""
    readers = sum(output in node.input for node in model.graph.node)
    for k in range(readers - 1):
        cut_model.graph.node.append(onnx.helper.make_node("Identity", [output], [f"{output}/reader{k}"]))
        cut_model.graph.output.append(onnx.helper.make_empty_tensor_value_info(f"{output}/reader{k}"))
    return cut_model


def cut_outputs(path: str | Path, inputs: list[np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    """FakeQuantize name → ONNX Runtime's dequantized output of its QDQ pair, from the export cut
    there (with as many readers as in the whole model)."""
    model = onnx.load(str(path))
    order = [i.name for i in model.graph.input]
    dequantize = {n.name: n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    return {name: run(session(with_readers(model, cut(model, dequantize[name]), dequantize[name])), order, inputs)[0]
            for name in names}
