"""Op definitions. Importing this package registers every op module below."""

from lpir.ops import infrastructure  # noqa: F401  (registers Parameter, Const, Result)
from lpir.ops.infer import build, infer_model, infer_node, static_value
from lpir.ops.registry import Attr, InferContext, Op, Traits, lookup, register, registered_types

__all__ = ["Attr", "InferContext", "Op", "Traits", "build", "infer_model", "infer_node",
           "lookup", "register", "registered_types", "static_value"]
