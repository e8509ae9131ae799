"""Which layers OpenVINO's CPU plugin runs in integers, and with which precisions: its rules as data.

OpenVINO's low-precision transformations (LPT) decompose a FakeQuantize into quantize (to u8/i8)
and dequantize (Convert → Subtract → Multiply) and move the dequantization past a layer when the
plugin's restrictions allow it (facts §4.2, §4.5-4.7). The CPU plugin's restrictions, written
once here and read by the lowering (:mod:`lpir.runtime.lowering`):

* input precisions per layer (``Transformations::Lpt`` of the CPU plugin): Convolution
  ``{u8} × {i8}``, GroupConvolution ``{u8} × {i8}``, ConvolutionBackpropData ``{u8, i8} × {i8}``,
  MatMul ``{u8, i8} × {i8}``. A FakeQuantize whose range fixes another precision takes the first
  allowed one with a zero point (``getDataPrecision``);
* activation granularity: per-tensor on Convolution and ConvolutionBackpropData
  (``QuantizationGranularityRestriction``); GroupConvolution takes per-channel scales that are
  constant inside each group; MatMul scales must not vary along K;
* a zero point on MatMul's input 1 keeps it in float (``mat_mul.cpp``: symmetric weights only);
  MatMul moves input 0's zero point after the product (``Subtract(zp · Σ_K B)``), so it may be
  fractional there; the convolutions subtract it before the layer, in integers;
* 8-bit FakeQuantize only (255 or 256 levels; ``DataPrecision::check`` rejects 16 levels with
  i8/u8).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerRule:
    """How one layer type may run in integers on OpenVINO's CPU."""

    precisions: tuple[tuple[str, ...], tuple[str, ...]]  # allowed for input 0 and input 1, in preference order
    activation_granularity: str  # "per-tensor" | "per-group" | "not-along-k"
    zero_point_on_input_1: bool
    zero_point_after: bool = False  # input 0's zero point is applied after the layer (may be fractional)


CPU_RULES: dict[str, LayerRule] = {
    "Convolution": LayerRule((("u8",), ("i8",)), "per-tensor", True),
    "GroupConvolution": LayerRule((("u8",), ("i8",)), "per-group", True),
    "ConvolutionBackpropData": LayerRule((("u8", "i8"), ("i8",)), "per-tensor", True),
    "MatMul": LayerRule((("u8", "i8"), ("i8",)), "not-along-k", False, zero_point_after=True),
}

INTEGER_LEVELS = (255, 256)

# The integer interval of each precision for the 8-bit level counts (DataPrecision min/max,
# with max - min = levels - 1 so that every quantized value is an integer).
INTERVALS: dict[tuple[str, int], tuple[int, int]] = {
    ("u8", 256): (0, 255), ("u8", 255): (0, 254),
    ("i8", 256): (-128, 127), ("i8", 255): (-127, 127),
}


class Reasons:
    """Why a layer stays in float: the messages of the plan."""

    @staticmethod
    def not_quantized(port: int) -> str:
        return f"input {port} not quantized"

    @staticmethod
    def levels(port: int, levels: int) -> str:
        return f"input {port}: {levels}-level FakeQuantize (8-bit integers need 255 or 256)"

    @staticmethod
    def precision(port: int, precision: str, allowed: tuple[str, ...]) -> str:
        return f"input {port}: unsupported precision {precision} (the CPU takes {'/'.join(allowed)})"

    @staticmethod
    def zero_point(port: int, op_type: str) -> str:
        return f"input {port}: zero point on {op_type} input 1 (symmetric only)"

    @staticmethod
    def granularity(port: int, op_type: str, rule: str) -> str:
        what = {"per-tensor": f"per-channel activations on {op_type}",
                "per-group": "activation scales vary inside a group",
                "not-along-k": "activation scales vary along K"}[rule]
        return f"input {port}: {what}"

    @staticmethod
    def weight_granularity(port: int) -> str:
        return f"input {port}: weight scales vary along other axes than the output channels"

    @staticmethod
    def fractional_zero_point(port: int, value: float) -> str:
        return f"input {port}: zero point {value:.4g} is not an integer"

    @staticmethod
    def not_constant(port: int) -> str:
        return f"input {port}: FakeQuantize ranges are not constants"

    @staticmethod
    def dequantized_activation(port: int) -> str:
        return f"input {port}: activation dequantization subgraph (only FakeQuantize activations are lowered)"

    @staticmethod
    def per_channel_through(port: int, op_type: str) -> str:
        return f"input {port}: per-channel FakeQuantize reached through {op_type}"
