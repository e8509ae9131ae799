"""lpir as an ONNX backend (``onnx.backend.base.Backend``), so ONNX's conformance suite can run it.

``prepare`` converts the ModelProto as ``read_model`` converts a file and compiles it for the
reference interpreter; ``run`` feeds inputs by position and returns the outputs in graph order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import onnx
from lpir.io.onnx.importer import convert_model
from lpir.ir import types
from onnx.backend.base import Backend, BackendRep


class LpirBackendRep(BackendRep):
    """A compiled model; ``run`` takes the graph inputs in order (or a dict by name)."""

    def __init__(self, compiled):
        self.compiled = compiled

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Outputs of 2- and 4-bit types come back in their ml_dtypes type, as onnx gives them."""
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        etypes = [result.inputs[0].source.etype for result in self.compiled.model.results]
        return tuple(types.to_ml_dtypes(value, etype) for value, etype in zip(self.compiled(inputs), etypes))


class LpirBackend(Backend):
    """Runs ONNX models with lpir's import and reference interpreter, on the CPU."""

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> LpirBackendRep:
        from lpir.runtime import compile_model
        return LpirBackendRep(compile_model(convert_model(model)))

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device == "CPU"
