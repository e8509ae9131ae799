"""Whole-graph rewrites that keep a model's meaning: copying, and f16 weight compression.

:func:`compress_weights_to_f16` does what ``openvino.save_model(..., compress_to_fp16=True)``
does: every f32/f64 Const becomes an f16 Const followed by a ``Convert`` back to the original
type, marked with the ``decompression`` runtime attribute so that runtimes keep the pair
together instead of folding it. Conversion is lazy: the f16 data is computed when the writer
asks for it, one tensor at a time, so compressing a multi-GB model needs no more memory than
its largest tensor.
"""

from __future__ import annotations

import copy

import numpy as np

from lpir.ir import types
from lpir.ir.graph import Model, Node, Output, RtEntry
from lpir.ir.tensor import Tensor

# OpenVINO keeps a constant in full precision when at least this share of its values does not
# fit in f16 (beyond ±65504, or non-zero below the smallest f16 subnormal).
KEEP_FP32_THRESHOLD = 0.75
F16_MAX = float(np.finfo(np.float16).max)
F16_SMALLEST = float(np.finfo(np.float16).smallest_subnormal)
# Inputs OpenVINO marks precision-sensitive (MarkPrecisionSensitiveConstants): their constants
# stay in full precision. Keyed by op type and the first opset of that input layout.
PRECISION_SENSITIVE_INPUTS = {("Interpolate", 4): 2, ("Interpolate", 11): 1}
DECOMPRESSION = RtEntry("attribute", {"name": "decompression", "version": "0"})
_COMPRESSIBLE = (types.f32, types.f64)
# Storage types of compressed weights; a model holding them (or FakeQuantize) is left alone.


def clone_model(model: Model) -> Model:
    """A copy of ``model`` whose nodes can be rewired freely; constant data is shared, not copied."""
    mapping: dict[int, Node] = {}
    for node in model.nodes() + list(model.sinks):
        if node.uid not in mapping:
            mapping[node.uid] = _clone_node(node, mapping)
    clone = Model([mapping[n.uid] for n in model.parameters], [mapping[n.uid] for n in model.results],
                  name=model.name, sinks=[mapping[n.uid] for n in model.sinks],
                  rt_info=copy.deepcopy(model.rt_info))
    clone.source_path = model.source_path
    return clone


def _clone_node(node: Node, mapping: dict[int, Node]) -> Node:
    twin = Node(node.type, node.version, node.name, copy.deepcopy(node.attrs))
    twin.rt_info = copy.deepcopy(node.rt_info)
    twin.tensor = node.tensor
    twin.layer_id = node.layer_id
    for port in node.inputs:
        source = port.source
        twin.add_input(mapping[source.node.uid].outputs[source.index]).rt_info = copy.deepcopy(port.rt_info)
    for out in node.outputs:
        twin_out = twin.add_output(out.etype, out.shape)
        twin_out.names = list(out.names)
        twin_out.rt_info = copy.deepcopy(out.rt_info)
    return twin


class _F16Tensor(Tensor):
    """An f16 view of a float tensor, computed (clamped to the f16 range) only when read."""

    __slots__ = ("_source",)

    def __init__(self, source: Tensor):
        super().__init__(types.f16, source.shape, raw=b"")
        self._source = source

    @property
    def is_loaded(self) -> bool:
        return False

    def numpy(self) -> np.ndarray:
        values = self._source.numpy()
        return np.clip(values, -F16_MAX, F16_MAX).astype(np.float16)

    def raw_bytes(self):
        return memoryview(self.numpy().tobytes())


def share_out_of_f16_range(values: np.ndarray) -> float:
    """Share of values that f16 cannot hold: too large, or non-zero and too small even as subnormal."""
    if values.size == 0:
        return 0.0
    magnitude = np.abs(values)
    outside = (magnitude > F16_MAX) | ((magnitude < F16_SMALLEST) & (values != 0))
    return float(np.count_nonzero(outside)) / values.size


def is_fp16_compression_disabled(node: Node) -> bool:
    """True when the node carries OpenVINO's ``precise`` attribute (DisableFP16Compression)."""
    return any(entry.attrs.get("name") == "precise" for entry in node.rt_info)


def is_model_optimized(model: Model) -> bool:
    """True for quantized or weight-compressed models, which OpenVINO never converts to f16.

    Quantized means a FakeQuantize/FakeConvert; compressed means the pattern
    ``Const(i4|u4|i8|u8|nf4|f8) → Convert → [Subtract] → Multiply``.
    """
    for node in model.nodes():
        if node.type in ("FakeQuantize", "FakeConvert"):
            return True
        if (node.type == "Convert" and _is_low_precision_const(node.inputs[0].source.node)
                and any(_leads_to_multiply(port.node) for port in node.outputs[0].consumers)):
            return True
    return False


def _is_low_precision_const(node: Node) -> bool:
    return node.type == "Const" and node.tensor is not None and node.tensor.etype in types.LOW_PRECISION_WEIGHT_TYPES


def _leads_to_multiply(node: Node) -> bool:
    if node.type == "Subtract":
        return any(port.node.type == "Multiply" for port in node.outputs[0].consumers)
    return node.type == "Multiply"


def feeds_precision_sensitive_input(node: Node) -> bool:
    """True when an output of ``node`` is read by an input OpenVINO keeps in full precision (scales)."""
    for port in node.outputs[0].consumers:
        consumer = port.node
        versions = [v for (op_type, v) in PRECISION_SENSITIVE_INPUTS if op_type == consumer.type and v <= consumer.opset]
        if versions and PRECISION_SENSITIVE_INPUTS[(consumer.type, max(versions))] == port.index:
            return True
    return False


def _should_compress(node: Node) -> bool:
    tensor = node.tensor
    if node.type != "Const" or tensor is None or tensor.etype not in _COMPRESSIBLE or tensor.size == 0:
        return False
    if is_fp16_compression_disabled(node) or feeds_precision_sensitive_input(node):
        return False
    return share_out_of_f16_range(tensor.numpy()) < KEEP_FP32_THRESHOLD


def _decompress(const: Node) -> Output:
    """Turn ``const`` into f16 and return the output of the Convert that restores its type."""
    original: Output = const.outputs[0]
    etype = const.tensor.etype
    convert = Node("Convert", "opset1", const.name, {"destination_type": etype})
    convert.rt_info = [copy.deepcopy(DECOMPRESSION)]
    out = convert.add_output(etype, original.shape)
    original.replace_uses(out, keep_names=True)
    convert.add_input(original)
    const.name = f"{const.name}_compressed"
    const.tensor = _F16Tensor(const.tensor)
    const.attrs["element_type"] = types.f16
    original.etype = types.f16
    return out


def compress_weights_to_f16(model: Model) -> Model:
    """A copy of ``model`` with f32/f64 constants stored as f16 and decompressed by a Convert.

    Follows OpenVINO's CompressFloatConstants: values beyond the f16 range are clamped;
    constants with 75 % or more of their values out of f16 range, constants marked ``precise``
    and Interpolate scales stay as they are; quantized and weight-compressed models
    (:func:`is_model_optimized`) are returned unchanged. The input model is not modified.
    """
    result = clone_model(model)
    if is_model_optimized(result):
        return result
    for node in result.nodes():
        if _should_compress(node):
            _decompress(node)
    return result
