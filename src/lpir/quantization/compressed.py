"""The compressed form of a quantized model: weight FakeQuantize folded into integers.

``FakeQuantize(Const w)`` becomes ``Const(i8|u8) → Convert → [Subtract zero point] → Multiply
scale``, the structure OpenVINO's CompressQuantizeWeights pass and NNCF write (four times
smaller weights; OpenVINO's CPU plugin reads it as quantized weights). Activation FakeQuantize
nodes stay. The integers are the FakeQuantize's levels: for limits ``ol``/``oh`` and ``L``
levels, signed when any limit is negative (lowest level ``-(L // 2)``), else unsigned (0);
``scale = (oh - ol) / (L - 1)``; ``zero point = lowest level - ol / scale``, folded into the
integers when they stay integers (a symmetric range's zero point is 0 up to rounding).
"""

from __future__ import annotations

import numpy as np

from lpir.ir import types
from lpir.ir.dequantization import make_dequantization
from lpir.ir.graph import Model, Node, make_constant
from lpir.ir.tensor import Tensor
from lpir.ir.passes import clone_model
from lpir.ops import lookup
from lpir.runtime.constants import fold_constant

ZERO_POINT_EPSILON = np.finfo(np.float32).eps
ZERO_POINT_FUSION_TOLERANCE = 1e-4


def compress_quantized_weights(model: Model) -> Model:
    """A copy of ``model`` with every FakeQuantize on constant weights folded (see module doc)."""
    from lpir.quantization.placement import constant_outputs
    work = clone_model(model)
    nodes = work.nodes()
    constant = constant_outputs(nodes)
    for node in nodes:
        if node.type == "FakeQuantize" and all(id(p.source) in constant for p in node.inputs):
            _fold(node, [fold_constant(p.source) for p in node.inputs])
    return work


def _fold(fq: Node, values: list[np.ndarray]) -> None:
    levels = fq.attrs["levels"]
    if not 2 < levels <= 256:
        return
    weights, in_low, in_high, out_low, out_high = (np.asarray(v, np.float32) for v in values)
    signed = bool(np.any(out_low < 0) or np.any(out_high < 0))
    lowest = -(levels // 2) if signed else 0
    scale = ((out_high - out_low) / np.float32(levels - 1)).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        zero_point = np.where(scale != 0, lowest - out_low / scale, 0).astype(np.float32)
    fake_quantize = lookup("FakeQuantize", 1)
    levels_grid = fake_quantize.evaluate(weights, in_low, in_high, np.float32(lowest), np.float32(lowest + levels - 1),
                                         levels=levels, auto_broadcast=fq.attrs.get("auto_broadcast", "numpy"))[0]
    etype = types.i8 if signed else types.u8
    levels_grid = np.rint(levels_grid)
    shifted = levels_grid - zero_point
    if np.all(np.abs(np.rint(shifted) - shifted) < ZERO_POINT_FUSION_TOLERANCE):
        levels_grid, zero_point = np.rint(shifted), np.zeros_like(zero_point)  # the zero point folds into the integers
    out = fq.outputs[0]
    layer, _, port = fq.name.rpartition("/fq_weights_")
    if not layer or not port.isdigit():
        layer, port = fq.name, str(out.consumers[0].index if out.consumers else 1)
    integers = make_constant(levels_grid.astype(etype.dtype), name=f"{layer}/fq_weights_{port}/weights")
    scale_tensor = Tensor.from_array(scale.astype(out.etype.dtype))
    if np.all(np.abs(zero_point) < ZERO_POINT_EPSILON):
        zp_tensor = None
    elif np.all(np.abs(np.rint(zero_point) - zero_point) < ZERO_POINT_FUSION_TOLERANCE):
        zp_tensor = Tensor.from_array(np.rint(zero_point).astype(etype.dtype))
    else:
        return  # a zero point off the integer grid has no compressed form: the FakeQuantize stays
    folded = make_dequantization(integers.outputs[0], scale_tensor, zp_tensor, name=layer, port=int(port))
    out.replace_uses(folded.output)


def is_quantized_by_lpir(model: Model) -> bool:
    """Whether ``model`` came out of :func:`lpir.quantize` (its rt_info records the call)."""
    return model.rt_get("lpir", "quantization", "preset") is not None
