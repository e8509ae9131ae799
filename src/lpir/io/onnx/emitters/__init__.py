"""One module per family of OpenVINO ops; importing them fills the emitter table."""

from lpir.io.onnx.emitters import (  # noqa: F401  (imported for their registrations)
    control_flow,
    elementwise,
    nn,
    quantization,
    shape,
    weights,
)
