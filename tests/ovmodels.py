"""Models built with OpenVINO itself (its converter and its Python opset API), used as oracles.

Each builder returns an ``openvino.Model``; :func:`save` writes it as IR. The quantized ones
reproduce the patterns OpenVINO and NNCF write: FakeQuantize on activations and weights,
``Const(i8|u8) → Convert → [Subtract] → Multiply`` weights, and group-wise ``u4``/``i4`` weights
with a Reshape.
"""

from __future__ import annotations

import numpy as np
import openvino as ov
from openvino import opset13 as ops

F32_HINT = {"INFERENCE_PRECISION_HINT": "f32"}
_core = ov.Core()


def core() -> ov.Core:
    return _core


def save(model: ov.Model, path, *, compress_to_fp16: bool = False) -> str:
    ov.save_model(model, str(path), compress_to_fp16=compress_to_fp16)
    return str(path)


def run(xml_or_model, inputs, config=F32_HINT) -> list[np.ndarray]:
    """Outputs of OpenVINO's CPU plugin, as numpy arrays in model output order."""
    model = _core.read_model(str(xml_or_model)) if not isinstance(xml_or_model, ov.Model) else xml_or_model
    compiled = _core.compile_model(model, "CPU", config)
    result = compiled(inputs)
    return [np.array(result[out]) for out in compiled.outputs]


def _rng(seed=0):
    return np.random.default_rng(seed)


def fake_quantize_conv() -> ov.Model:
    """Conv → ReLU → Conv with FakeQuantize on every activation and weight input (NNCF style)."""
    rng = _rng(1)
    x = ops.parameter([1, 3, 16, 16], np.float32, name="input")
    def fq(node, lo, hi, levels=256):
        c = lambda v: ops.constant(np.asarray(v, np.float32))
        return ops.fake_quantize(node, c(lo), c(hi), c(lo), c(hi), levels)
    a0 = fq(x, 0.0, 1.0)
    w0 = rng.normal(size=(8, 3, 3, 3)).astype(np.float32)
    lim = np.abs(w0).reshape(8, -1).max(1).reshape(8, 1, 1, 1)
    conv0 = ops.convolution(a0, fq(ops.constant(w0), -lim, lim, 255), [1, 1], [1, 1], [1, 1], [1, 1])
    relu = ops.relu(conv0)
    a1 = fq(relu, 0.0, 6.0)
    w1 = rng.normal(size=(4, 8, 1, 1)).astype(np.float32)
    conv1 = ops.convolution(a1, fq(ops.constant(w1), -2.5, 2.5, 255), [1, 1], [0, 0], [0, 0], [1, 1])
    out = ops.result(conv1)
    out.output(0).get_tensor().set_names({"output"})
    return ov.Model([out], [x], "fq_conv")


def int8_compressed_conv() -> ov.Model:
    """Conv with i8 weights (Convert → Multiply) and MatMul with u8 weights (Convert → Subtract(Convert zp) → Multiply)."""
    rng = _rng(2)
    x = ops.parameter([2, 4, 8, 8], np.float32, name="input")
    w = rng.integers(-127, 128, size=(6, 4, 3, 3), dtype=np.int8)
    scale = (rng.random((6, 1, 1, 1)) * 0.02).astype(np.float32)
    dq = ops.multiply(ops.convert(ops.constant(w), "f32"), ops.constant(scale))
    conv = ops.convolution(x, dq, [1, 1], [0, 0], [0, 0], [1, 1])
    flat = ops.reshape(conv, ops.constant(np.array([2, -1], np.int64)), False)
    wq = rng.integers(0, 256, size=(10, 216), dtype=np.uint8)
    zp = rng.integers(100, 150, size=(10, 1), dtype=np.uint8)
    s2 = (rng.random((10, 1)) * 0.01).astype(np.float32)
    w2 = ops.multiply(ops.subtract(ops.convert(ops.constant(wq), "f32"), ops.convert(ops.constant(zp), "f32")),
                      ops.constant(s2))
    mm = ops.matmul(flat, w2, False, True)
    return ov.Model([ops.result(mm)], [x], "int8_weights")


def int4_groupwise_matmul(etype: str = "u4", group_size: int = 16) -> ov.Model:
    """MatMul with group-wise 4-bit weights as NNCF writes them (f16 scales, Reshape, Convert f32)."""
    rng = _rng(3)
    oc, ic = 12, 64
    groups = ic // group_size
    x = ops.parameter([3, ic], np.float32, name="input")
    if etype == "u4":
        q = rng.integers(0, 16, size=(oc, groups, group_size)).astype(np.uint8)
        zp = rng.integers(6, 10, size=(oc, groups, 1)).astype(np.uint8)
    else:
        q = rng.integers(-8, 8, size=(oc, groups, group_size)).astype(np.int8)
        zp = None
    weight = ops.convert(_packed(q, etype), "f16")
    if zp is not None:
        weight = ops.subtract(weight, ops.convert(_packed(zp, "u4"), "f16"))
    scale = (rng.random((oc, groups, 1)) * 0.1).astype(np.float16)
    weight = ops.multiply(weight, ops.constant(scale))
    weight = ops.reshape(weight, ops.constant(np.array([oc, ic], np.int64)), False)
    weight = ops.convert(weight, "f32")
    mm = ops.matmul(x, weight, False, True)
    return ov.Model([ops.result(mm)], [x], f"{etype}_g{group_size}")


def _packed(values: np.ndarray, etype: str):
    """An OpenVINO Constant of a 4-bit type holding ``values`` (one per numpy item)."""
    return ov.op.Constant(getattr(ov.Type, etype), ov.Shape(list(values.shape)), values.reshape(-1).tolist())


def quantized_models() -> dict:
    return {
        "fq_conv": fake_quantize_conv(),
        "int8_weights": int8_compressed_conv(),
        "u4_group": int4_groupwise_matmul("u4"),
        "i4_group": int4_groupwise_matmul("i4"),
    }
