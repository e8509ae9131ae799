"""Execution: the reference interpreter."""

from lpir.runtime.interpreter import CompiledModel, InferResult, compile_model

__all__ = ["CompiledModel", "InferResult", "compile_model"]
