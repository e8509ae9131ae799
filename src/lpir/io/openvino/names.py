"""Op type names that IR files spell differently from the opset specification.

In memory lpir uses the specification's names (``Relu``, ``Softmax``, ``PRelu``); OpenVINO's
serializer writes these few under legacy names. Const keeps its IR name everywhere.
"""

SPEC_TO_IR = {"Relu": "ReLU", "Softmax": "SoftMax", "PRelu": "PReLU"}
IR_TO_SPEC = {ir: spec for spec, ir in SPEC_TO_IR.items()}


def from_ir(op_type: str) -> str:
    return IR_TO_SPEC.get(op_type, op_type)


def to_ir(op_type: str) -> str:
    return SPEC_TO_IR.get(op_type, op_type)
