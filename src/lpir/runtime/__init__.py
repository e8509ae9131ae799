"""Execution: the reference interpreter, its compile stages, taps and kernel table."""

from lpir.runtime.interpreter import CompiledModel, InferResult, compile_model
from lpir.runtime.taps import Taps

__all__ = ["CompiledModel", "InferResult", "Taps", "compile_model"]
