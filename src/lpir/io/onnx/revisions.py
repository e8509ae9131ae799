"""ONNX opsets newer than the converters were written against.

The converters follow the ONNX spec up to :data:`KNOWN_OPSET`. A model of a newer opset is read
with the same converters as long as none of its ops was revised after that opset in a way that
changes what the converters build. Which ops were revised, and in which version, comes from the
installed onnx package (``onnx.defs``); :data:`COMPATIBLE_REVISIONS` holds the revisions checked
against the spec's changelog: ones that only admit new element types, or that add an attribute
whose default keeps the earlier meaning (the node must then leave it at that default).
"""

from __future__ import annotations

import onnx
from onnx import defs

KNOWN_OPSET = 22

# (op type, version) → attributes whose value must be the default for the earlier meaning.
COMPATIBLE_REVISIONS: dict[tuple[str, int], dict[str, object]] = {
    # 23: float4e2m1 admitted
    **{(op, 23): {} for op in ("Cast", "CastLike", "Constant", "ConstantOfShape", "Flatten", "Identity", "Pad",
                               "Reshape", "Shape", "Size", "Squeeze", "Transpose", "Unsqueeze")},
    ("DequantizeLinear", 23): {"output_dtype": 0},
    ("QuantizeLinear", 23): {"precision": 0},
    # 24: float8e8m0 admitted (Cast's round_mode applies to casts to float8e8m0 only); TopK: bfloat16
    **{(op, 24): {} for op in ("Cast", "CastLike", "Constant", "ConstantOfShape", "DequantizeLinear", "Flatten",
                               "Identity", "Pad", "QuantizeLinear", "Reshape", "Shape", "Size", "Squeeze",
                               "TopK", "Transpose", "Unsqueeze")},
    # 25: int2/uint2 admitted
    **{(op, 25): {} for op in ("Cast", "CastLike", "Constant", "ConstantOfShape", "DequantizeLinear", "Flatten",
                               "Identity", "Pad", "QuantizeLinear", "Reshape", "Shape", "Size", "Squeeze",
                               "Transpose", "Unsqueeze")},
    # 24: SplitToSequence admits bfloat16
    ("SplitToSequence", 24): {},
    # 23, 24, 25: the same element types admitted in the values the control-flow ops pass through
    **{(op, version): {} for op in ("If", "Loop", "Scan") for version in (23, 24, 25)},
    # 27: stash_type only changes how float16/bfloat16 ranges accumulate
    ("Range", 27): {},
    # 28: new element types (float6, bfloat16, more integers); Mod with fmod=0 admits floats
    # (SpaceToDepth's converter follows opset 28, which adds mode)
    **{(op, 28): {} for op in ("BitShift", "Cast", "Celu", "Compress", "DepthToSpace", "DequantizeLinear",
                               "Einsum", "Mod", "OneHot", "QuantizeLinear", "ReduceLogSum", "ReduceLogSumExp",
                               "ReverseSequence", "Unique")},
}


def unreviewed_revision(node: onnx.NodeProto, opset: int, spec_opset: int = KNOWN_OPSET) -> str | None:
    """Why ``node`` cannot be read by a converter that follows the op's spec at ``spec_opset``,
    or None if it can.

    Every revision of the op after ``spec_opset`` up to ``opset`` must be a compatible one, with
    the node keeping the attributes it added at their defaults.
    """
    if opset <= spec_opset:
        return None
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    version = opset
    while True:
        try:
            since = defs.get_schema(node.op_type, version, "").since_version
        except defs.SchemaError:
            return None  # not an ONNX op: the converter table answers for it
        if since <= spec_opset:
            return None
        fixed = COMPATIBLE_REVISIONS.get((node.op_type, since))
        if fixed is None:
            return f"revised in opset {since}"
        for key, default in fixed.items():
            value = attrs.get(key, default)
            value = value.decode() if isinstance(value, bytes) else value
            if value != default:
                return f"{key}={value!r} (added in opset {since})"
        version = since - 1
