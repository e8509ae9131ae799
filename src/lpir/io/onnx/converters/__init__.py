"""One module per family of ONNX ops; importing them fills the converter table."""

from lpir.io.onnx.converters import (  # noqa: F401  (imported for their registrations)
    attention,
    col2im,
    control_flow,
    elementwise,
    integer,
    loss,
    nn,
    quantization,
    random,
    recurrent,
    reduce,
    resize,
    sampling,
    shape,
    sequence,
    signal,
)
