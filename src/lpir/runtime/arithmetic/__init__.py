"""Where a runtime departs from the reference arithmetic of a FakeQuantize model, as rules.

Integer mode computes a FakeQuantize model as its ops say (``arithmetic="reference"``);
``arithmetic="openvino-cpu"`` (:mod:`.openvino_cpu`; ``"openvino-cpu-avx2"`` on CPUs without
AVX-512) and ``"onnxruntime"`` (:mod:`.onnxruntime`) apply a runtime's departures on top of integer (or exact) mode, and the plan lists each
rewritten node with its rule (:class:`.rules.Departure`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from lpir.ir.graph import Model, Node
from lpir.runtime.arithmetic import onnxruntime, openvino_cpu
from lpir.runtime.arithmetic.rules import Departure

if TYPE_CHECKING:
    from lpir.runtime.lowering import LayerPlan

ARITHMETICS = ("reference", "openvino-cpu", "openvino-cpu-avx2", "onnxruntime")
RUNTIMES = {"openvino-cpu": "OpenVINO's CPU plugin",
            "openvino-cpu-avx2": "OpenVINO's CPU plugin with AVX2 int8 kernels", "onnxruntime": "ONNX Runtime (CPU) on the QDQ export"}
F32_DEQUANTIZATION = ("openvino-cpu", "openvino-cpu-avx2")  # accumulators dequantized in oneDNN's f32 steps
DEPARTURES: dict[str, tuple[Departure, ...]] = {
    "reference": (),
    "openvino-cpu": openvino_cpu.DEPARTURES,
    "openvino-cpu-avx2": openvino_cpu.AVX2_DEPARTURES,
    "onnxruntime": onnxruntime.DEPARTURES,
}


def find_departures(model: Model, arithmetic: str, lowered: Mapping[str, LayerPlan]) -> list[tuple[Node, Departure]]:
    """The nodes of ``model`` that ``arithmetic`` computes differently, with their rule."""
    if arithmetic not in DEPARTURES:
        raise ValueError(f"arithmetic must be one of {ARITHMETICS}, got {arithmetic!r}")
    return [(node, rule) for rule in DEPARTURES[arithmetic] for node in rule.find(model, lowered)]
