"""Op definitions. Importing this package registers every op family below."""

from lpir.ops import (  # noqa: F401  (imported for their registrations)
    activations,
    bitwise,
    control_flow,
    convolution,
    deformable,
    detection,
    einsum,
    fourier,
    elementwise,
    infrastructure,
    matmul,
    movement,
    normalization,
    pooling,
    quantization,
    random,
    recurrent,
    reduce,
    resize,
    sampling,
)
from lpir.ops.infer import build, infer_model, infer_node, static_value
from lpir.ops.registry import Attr, InferContext, Op, Traits, lookup, register, registered_types

__all__ = ["Attr", "InferContext", "Op", "Traits", "build", "infer_model", "infer_node",
           "lookup", "register", "registered_types", "static_value"]
