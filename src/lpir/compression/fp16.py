"""f16 weight compression, as ``openvino.save_model(..., compress_to_fp16=True)`` does it.

Every f32/f64 Const becomes an f16 Const followed by a ``Convert`` back to the original type,
marked with the ``decompression`` runtime attribute so that runtimes keep the pair together
instead of folding it. Conversion is lazy: the f16 data is computed when the writer asks for it,
one tensor at a time, so compressing a multi-GB model needs no more memory than its largest
tensor.
"""

from __future__ import annotations

import copy

import numpy as np

from lpir.ir.dequantization import DECOMPRESSION, match_dequantization
from lpir.ir import types
from lpir.ir.graph import Model, Node, Output, make_node
from lpir.ir.passes import clone_model
from lpir.ir.rewrite import insert_after, replace_constant
from lpir.ir.tensor import Tensor
from lpir.ops.registry import lookup

# OpenVINO keeps a constant in full precision when at least this share of its values does not
# fit in f16 (beyond ±65504, or non-zero below the smallest f16 subnormal).
KEEP_FP32_THRESHOLD = 0.75
# A single-element constant (a scale, an epsilon, a bias of one) stays in full precision when f16
# would move it by more than this share of its value (OpenVINO 2026.4, measured: 0.1, 1.0001 and
# 100.03 stay f32; 0.5 and 1.001 become f16; tensors of two or more values ignore this rule).
SCALAR_MAX_RELATIVE_ERROR = 1e-4
F16_MAX = float(np.finfo(np.float16).max)
F16_SMALLEST = float(np.finfo(np.float16).smallest_subnormal)
_COMPRESSIBLE = (types.f32, types.f64)


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
    return any(node.type in ("FakeQuantize", "FakeConvert")
               or (node.type == "Const" and match_dequantization(node.outputs[0]) is not None)
               for node in model.nodes())


def feeds_precision_sensitive_input(node: Node) -> bool:
    """True when an output of ``node`` is read by an input OpenVINO keeps in full precision
    (``Traits.precision_sensitive_inputs``: Interpolate's scales)."""
    for port in node.outputs[0].consumers:
        op = lookup(port.node.type, port.node.opset)
        if op is not None and port.index in op.traits.precision_sensitive_inputs:
            return True
    return False


def _should_compress(node: Node) -> bool:
    tensor = node.tensor
    if node.type != "Const" or tensor is None or tensor.etype not in _COMPRESSIBLE or tensor.size == 0:
        return False
    if is_fp16_compression_disabled(node) or feeds_precision_sensitive_input(node):
        return False
    values = tensor.numpy()
    if tensor.size == 1 and _f16_relative_error(values) > SCALAR_MAX_RELATIVE_ERROR:
        return False
    return share_out_of_f16_range(values) < KEEP_FP32_THRESHOLD


def _f16_relative_error(values: np.ndarray) -> float:
    """The largest |v - f16(v)| / |v| (0 for zeros; values beyond the f16 range count as infinite error)."""
    wide = values.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        error = np.abs(wide - wide.astype(np.float16).astype(np.float64)) / np.abs(wide)
    return float(np.nan_to_num(error, nan=0.0, posinf=np.inf).max())


def _decompress(const: Node) -> Output:
    """Turn ``const`` into f16 and return the output of the Convert that restores its type.

    The Convert takes the constant's name (and tensor names) so that the graph reads as before;
    the f16 constant becomes ``{name}_compressed``, as OpenVINO names it."""
    etype = const.tensor.etype
    original = const.outputs[0]
    replace_constant(const, _F16Tensor(const.tensor))
    convert = make_node("Convert", [original], {"destination_type": etype}, name=const.name,
                        outputs=[(etype, original.shape)])
    convert.rt_info = [copy.deepcopy(DECOMPRESSION)]
    out = insert_after(original, convert)
    out.names, original.names = original.names, []
    const.name = f"{const.name}_compressed"
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
