"""Looking inside models: what is quantized, at which precision, how big and how sparse."""

from lpir.analysis.compare import CompareReport, compare_models
from lpir.analysis.inspect import ModelReport, inspect_model
from lpir.analysis.precision import PrecisionDetails, precision_details

__all__ = ["CompareReport", "ModelReport", "compare_models", "PrecisionDetails", "inspect_model", "precision_details"]
