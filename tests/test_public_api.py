"""What ``import lpir`` offers: a change here is a change of the public API, made on purpose."""

from __future__ import annotations

import lpir

PUBLIC = {
    "CompiledModel", "Dataset", "EvaluationError", "IgnoredScope", "InferResult", "LpirError", "LpirWarning", "Model",
    "ModelParseError", "Node", "Output", "QuantizationError", "Tensor", "UnsupportedOpError", "ValidationError",
    "compare_models", "compile_model", "compress_weights", "inspect_model", "quantize", "read_model", "save_model",
    "sparsify",
    "__version__",
}


def test_lpir_exports_exactly_its_public_api():
    assert set(lpir.__all__) == PUBLIC
    for name in lpir.__all__:
        assert hasattr(lpir, name), name


def test_every_error_is_an_lpir_error():
    for name in ("EvaluationError", "ModelParseError", "QuantizationError", "UnsupportedOpError", "ValidationError"):
        assert issubclass(getattr(lpir, name), lpir.LpirError)
