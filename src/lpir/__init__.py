"""lpir: low-precision neural-network models in OpenVINO IR, in Python.

>>> import lpir
>>> model = lpir.read_model("model.xml")            # doctest: +SKIP
>>> lpir.save_model(model, "copy.xml")               # doctest: +SKIP
>>> outputs = lpir.compile_model(model)({"input": x})  # doctest: +SKIP
>>> print(lpir.inspect_model(model).to_dict()["fake_quantize"])  # doctest: +SKIP
"""

from lpir import ops  # noqa: F401  (registers the op definitions)
from lpir.api import (compare_models, compile_model, compress_weights, inspect_model, read_model, save_model,
                      sparsify)
from lpir.errors import (EvaluationError, LpirError, LpirWarning, ModelParseError, QuantizationError,
                         UnsupportedOpError, ValidationError)
from lpir.ir import Model, Node, Output, Tensor
from lpir.quantization.dataset import Dataset
from lpir.quantization.ptq import quantize
from lpir.runtime import CompiledModel, InferResult
from lpir.scope import IgnoredScope

__version__ = "0.1.0"

__all__ = ["CompiledModel", "Dataset", "EvaluationError", "IgnoredScope", "InferResult", "LpirError", "LpirWarning", "Model",
           "ModelParseError", "Node", "Output", "QuantizationError", "Tensor", "UnsupportedOpError",
           "ValidationError", "compare_models", "compile_model", "compress_weights", "inspect_model", "quantize",
           "read_model", "save_model", "sparsify", "__version__"]
