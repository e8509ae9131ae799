"""ONNX frontend: read an ONNX model as an lpir graph of OpenVINO opset operations.

The mapping follows OpenVINO's own ONNX frontend, so an imported model saved as IR is the
graph OpenVINO would build (before its own fusions), and runs in lpir's interpreter and in
OpenVINO alike.
"""

from lpir.io.onnx import converters  # noqa: F401  (registers the converters)
from lpir.io.onnx.importer import convert_model, import_onnx

__all__ = ["convert_model", "import_onnx"]
