"""Models built with OpenVINO itself (its converter and its Python opset API), used as oracles.

Each builder returns an ``openvino.Model``; :func:`save` writes it as IR. The quantized ones
reproduce the patterns OpenVINO and NNCF write: FakeQuantize on activations and weights,
``Const(i8|u8) → Convert → [Subtract] → Multiply`` weights, and group-wise ``u4``/``i4`` weights
with a Reshape.
"""

from __future__ import annotations

import collections
import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import openvino as ov
from openvino import opset13 as ops

# Every OpenVINO oracle compiles with this: f32 inference (no bf16 on AMX/AVX512-BF16 CPUs) and no
# dynamic quantization of activations (on VNNI/AMX CPUs the plugin otherwise quantizes the inputs
# of weight-compressed MatMuls on the fly, a deliberate approximation).
F32_HINT = {"INFERENCE_PRECISION_HINT": "f32", "DYNAMIC_QUANTIZATION_GROUP_SIZE": "0"}
_core = ov.Core()

# Models whose integer arithmetic is compared with OpenVINO's CPU have 7-bit weights (NNCF's
# overflow fix on every layer, lpir.quantize's ``overflow_fix="enable"``). On CPUs without VNNI
# the plugin's int8 kernels sum pairs of u8·s8 products in int16 with saturation (vpmaddubsw), so
# with full 8-bit weights OpenVINO's outputs of one IR depend on the CPU (measured on PP-OCR's
# classifier: 0.17 of the output range between AVX2 and AVX-512 VNNI kernels); with 7-bit weights
# no pair sum saturates and every CPU computes the same int32 sums
# (benchmarks/measure_openvino_isas.py).
PORTABLE_OVERFLOW_FIX = "enable"
WEIGHT_CODES_PORTABLE = 63  # the largest weight code whose pair sums with u8 activations fit in int16


def core() -> ov.Core:
    return _core


SATURATING_CPU = "OpenVINO's int8 kernels saturate pair sums in int16 on this CPU (no VNNI): its attention codes are not the model's"


@functools.cache
def int8_sums_exact() -> bool:
    """Whether OpenVINO's CPU sums u8·s8 products of two 8-bit activations exactly (VNNI, AMX).

    Probed on a MatMul of two quantized activations whose pairs of products exceed int16: without
    VNNI the plugin's int8 kernels saturate each pair sum (measured 262136 for 518160), which 7-bit
    weights avoid but activation × activation products (attention) cannot.
    """
    a = ops.parameter([1, 8, 16], np.float32, name="a")
    b = ops.parameter([1, 16, 8], np.float32, name="b")
    qa = _fq_node(a, 0.0, 255.0)
    qb = _fq_node(b, -128.0, 127.0)
    model = ov.Model([ops.result(ops.matmul(qa, qb, False, False))], [a, b], "int8_sum_probe")
    x, y = np.full((1, 8, 16), 255, np.float32), np.full((1, 16, 8), 127, np.float32)
    return bool(np.all(run(model, [x, y])[0] == 255 * 127 * 16))


SIGNED_CONVOLUTIONS = ("OpenVINO's convolutions take i8 data on this CPU (AMX, AVX2-VNNI-2), which changes which "
                       "FakeQuantizes write i8 codes; lpir's openvino-cpu arithmetic follows the CPUs whose convolutions take u8")


@functools.cache
def convolutions_take_i8() -> bool:
    """Whether OpenVINO's low-precision transformations give a convolution i8 data on this CPU.

    They do where oneDNN has AMX or AVX2-VNNI-2 (``Transformations::Lpt``: a convolution's input
    precisions are u8 and i8 there, u8 elsewhere), and then decompose a signed FakeQuantize before
    a convolution onto i8 codes where other CPUs take u8 codes with a zero point: probed on one
    such convolution, by the precision of its data in the compiled model."""
    x = ops.parameter([1, 8, 4, 4], np.float32, name="x")
    weights = ops.multiply(ops.convert(ops.constant(np.ones((8, 8, 1, 1), np.int8)), ov.Type.f32), _f32(0.5))
    conv = ops.convolution(_fq_node(x, -128.0, 127.0), weights, [1, 1], [0, 0], [0, 0], [1, 1])
    compiled = _core.compile_model(ov.Model([ops.result(conv)], [x], "signed_convolution_probe"), "CPU", F32_HINT)
    return any(op.get_rt_info()["layerType"].astype(str) == "Convolution" and op.input(0).get_element_type() == ov.Type.i8
               for op in compiled.get_runtime_model().get_ordered_ops())


def save(model: ov.Model, path, *, compress_to_fp16: bool = False) -> str:
    ov.save_model(model, str(path), compress_to_fp16=compress_to_fp16)
    return str(path)


def run(xml_or_model, inputs, config=F32_HINT) -> list[np.ndarray]:
    """Outputs of OpenVINO's CPU plugin, as numpy arrays in model output order."""
    model = _core.read_model(str(xml_or_model)) if not isinstance(xml_or_model, ov.Model) else xml_or_model
    compiled = _core.compile_model(model, "CPU", config)
    result = compiled(inputs)
    return [np.array(result[out]) for out in compiled.outputs]


_CAPPED_RUN = """
import sys, numpy as np, openvino as ov
xml, inputs, outputs, config = sys.argv[1:5]
data = np.load(inputs)
compiled = ov.Core().compile_model(xml, "CPU", eval(config))
kernels = [op.get_rt_info()["primitiveType"].astype(str) for op in compiled.get_runtime_model().get_ordered_ops()
           if op.get_rt_info()["layerType"].astype(str) == "Convolution"]
result = compiled([data[f"arr_{i}"] for i in range(len(data.files))])
np.savez(outputs, *[np.array(result[o]) for o in compiled.outputs], kernels=np.array(kernels))
"""


def run_capped(xml: str, inputs: list, isa: str, config=F32_HINT) -> tuple[list[np.ndarray], list[str]]:
    """Outputs of OpenVINO's CPU plugin with oneDNN's kernels capped at instruction set ``isa``
    (``ONEDNN_MAX_CPU_ISA``, e.g. "AVX2": emulates a CPU without AVX-512), and the primitive type
    of each Convolution. oneDNN reads the cap once, when it is loaded, so OpenVINO runs in a
    fresh process."""
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    env["ONEDNN_MAX_CPU_ISA"] = isa
    with tempfile.TemporaryDirectory() as folder:
        given, taken = Path(folder) / "inputs.npz", Path(folder) / "outputs.npz"
        np.savez(given, *inputs)
        done = subprocess.run([sys.executable, "-c", _CAPPED_RUN, str(xml), str(given), str(taken), repr(config)],
                              env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"OpenVINO capped at {isa} failed ({done.returncode}): {done.stderr[-2000:]}")
        saved = np.load(taken)
        outputs = [saved[f"arr_{i}"] for i in range(len(saved.files) - 1)]
        return outputs, [str(k) for k in saved["kernels"]]


INT8_LAYER_TYPES = ("Convolution", "GroupConvolution", "Deconvolution", "MatMul", "FullyConnected")


def int8_layers(xml) -> collections.Counter:
    """(layer type, runtime precision) of the weighted layers OpenVINO's CPU plugin runs."""
    compiled = _core.compile_model(str(xml), "CPU", F32_HINT)
    counts = collections.Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer_type = info["layerType"].astype(str) if "layerType" in info else ""
        if layer_type in INT8_LAYER_TYPES:
            counts[(layer_type, info["runtimePrecision"].astype(str))] += 1
    return counts


def _f32(value) -> ov.Node:
    return ops.constant(np.asarray(value, np.float32))


def _rng(seed=0):
    return np.random.default_rng(seed)


def fake_quantize_conv() -> ov.Model:
    """Conv → ReLU → Conv with FakeQuantize on every activation and weight input (NNCF style)."""
    rng = _rng(1)
    x = ops.parameter([1, 3, 16, 16], np.float32, name="input")
    def fq(node, lo, hi, levels=256):
        return ops.fake_quantize(node, _f32(lo), _f32(hi), _f32(lo), _f32(hi), levels)
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


def _fq_node(node, lo, hi, levels=256):
    return ops.fake_quantize(node, _f32(lo), _f32(hi), _f32(lo), _f32(hi), levels)


def _conv3x3(x, channels_in, channels_out, rng, *, bias=True):
    w = rng.normal(size=(channels_out, channels_in, 3, 3)).astype(np.float32) * 0.3
    # weight codes within ±WEIGHT_CODES_PORTABLE of the 255-level grid: the same int32 sums on every CPU
    lim = np.abs(w).reshape(channels_out, -1).max(1).reshape(-1, 1, 1, 1) * (127 / WEIGHT_CODES_PORTABLE)
    y = ops.convolution(x, _fq_node(ops.constant(w), -lim, lim, 255), [1, 1], [1, 1], [1, 1], [1, 1])
    if bias:
        y = ops.add(y, _f32(rng.normal(size=(1, channels_out, 1, 1)) * 0.1))
    return y


def residual_block(kind: str = "fused", seed: int = 0) -> ov.Model:
    """x → FQ → conv → FQ (skip, read twice) → [conv → ReLU → FQ →] conv [→ ReLU] → FQ → Add(skip, ·)
    → FQ → conv. ``kind``: "fused" (the bracketed middle layer, no ReLU: the plugin fuses the Add
    into the last convolution), "direct" (no middle layer: the convolution reads the skip tensor
    itself, and the plugin does not fuse the Add into it), "activation" (with the ReLU)."""
    rng = np.random.default_rng(seed)
    x = ops.parameter([1, 8, 12, 12], np.float32, name="x")
    # ranges of no common measure: with round ones (3, 8, 10) sums of codes fall on rounding ties
    skip = _fq_node(ops.relu(_conv3x3(_fq_node(x, 0.0, 1.0), 8, 8, rng)), 0.0, 2.9137)
    branch = skip if kind == "direct" else _fq_node(ops.relu(_conv3x3(skip, 8, 8, rng)), 0.0, 3.7713)
    branch = _conv3x3(branch, 8, 8, rng)
    if kind == "activation":
        branch = ops.relu(branch)
    branch = _fq_node(branch, -3.871, 4.213)
    add = ops.add(skip, branch)
    add.set_friendly_name("residual")
    out = _conv3x3(_fq_node(add, -4.3319, 4.3319 * (255 / 106 - 1)), 8, 4, rng, bias=False)  # zero point 106
    return ov.Model([ops.result(out)], [x], "residual_block")


def signed_pool_block(seed: int = 0, step: float = 0.0371, channels: int = 16, *, u8_reader: bool = False) -> ov.Model:
    """x → FQ (u8) → 1x1 conv → FQ "signed" (i8 limits ``[-128, 127] · step``) → ReduceMean over
    the last axis → FQ "pooled" (the same limits) → Result: the classifier's squeeze-and-excitation
    pooling. Nothing takes u8 only after "signed", so the plugin writes it as i8; ``u8_reader``
    adds a 1x1 convolution of "signed" as a second output (whose data input takes u8 only). The convolution
    maps input code ``q`` onto about ``± q · step / 2`` (one weight code ±1 per output channel, its
    scale a few f32 ULPs from ``step / (2 · input step)``): half the inputs fall within ULPs of
    "signed"'s rounding boundaries, and means of pairs of its codes on "pooled"'s."""
    rng = np.random.default_rng(seed)
    x = ops.parameter([1, channels, 8, 8], np.float32, name="x")
    s_in = np.float32(0.0113)
    codes = np.zeros((channels, channels, 1, 1), np.int8)
    codes[np.arange(channels), rng.permutation(channels), 0, 0] = rng.choice([-1, 1], channels)
    scale = (np.float32(step) / (2 * s_in) * (1 + rng.normal(size=(channels, 1, 1, 1)) * 1e-6)).astype(np.float32)
    w = ops.multiply(ops.convert(ops.constant(codes), "f32"), ops.constant(scale))
    y = ops.convolution(_fq_node(x, 0.0, 255 * s_in), w, [1, 1], [0, 0], [0, 0], [1, 1])
    signed = _fq_node(y, -128 * step, 127 * step)
    signed.set_friendly_name("signed")
    pooled = _fq_node(ops.reduce_mean(signed, ops.constant(np.array([3], np.int64)), True), -128 * step, 127 * step)
    pooled.set_friendly_name("pooled")
    outputs = [ops.result(pooled)]
    if u8_reader:
        outputs.append(ops.result(ops.convolution(signed, w, [1, 1], [0, 0], [0, 0], [1, 1])))
    return ov.Model(outputs, [x], "signed_pool_block")


def signed_product_block(seed: int = 0, step: float = 0.0371, tokens: int = 16, channels: int = 32) -> ov.Model:
    """x (tokens × channels) → FQ (u8) → MatMul by constant weights → FQ "signed" (i8 limits
    ``[-128, 127] · step``, rank 3) → MatMul of "signed" by its own transpose → Result: an
    attention's key projection, which the plugin writes as i8 because a product of two
    activations reads it. The weights map input code ``q`` onto about ``± q · step / 2`` (as in
    :func:`signed_pool_block`): half the values fall within ULPs of "signed"'s rounding boundaries."""
    rng = np.random.default_rng(seed)
    x = ops.parameter([1, tokens, channels], np.float32, name="x")
    s_in = np.float32(0.0113)
    codes = np.zeros((channels, channels), np.int8)
    codes[rng.permutation(channels), np.arange(channels)] = rng.choice([-1, 1], channels)
    scale = (np.float32(step) / (2 * s_in) * (1 + rng.normal(size=(1, channels)) * 1e-6)).astype(np.float32)
    w = ops.multiply(ops.convert(ops.constant(codes), "f32"), ops.constant(scale))
    signed = _fq_node(ops.matmul(_fq_node(x, 0.0, 255 * s_in), w, False, False), -128 * step, 127 * step)
    signed.set_friendly_name("signed")
    return ov.Model([ops.result(ops.matmul(signed, signed, False, True))], [x], "signed_product_block")


def post_op_block(seed: int = 0, channels: int = 32) -> ov.Model:
    """x → FQ (u8, zero point 128) → conv (bias) → HSwish → FQ per channel → Result: the
    classifier's expansion layers. The last FakeQuantize's ranges put the same real zero point
    (128.5 of 255 steps) in every channel, so its f32 input shifts differ by an ULP or so and the
    plugin's post-op formula takes the first channel's for all. Weight codes within
    ±WEIGHT_CODES_PORTABLE: every CPU computes the same int32 sums."""
    rng = np.random.default_rng(seed)
    x = ops.parameter([2, 16, 32, 32], np.float32, name="x")
    codes = rng.integers(-WEIGHT_CODES_PORTABLE, WEIGHT_CODES_PORTABLE + 1,  # weights as lpir.quantize writes them
                         size=(channels, 16, 3, 3)).astype(np.int8)
    scale = (rng.random((channels, 1, 1, 1)) * 0.01 + 0.002).astype(np.float32)
    w = ops.multiply(ops.convert(ops.constant(codes), "f32"), ops.constant(scale))
    y = ops.convolution(_fq_node(x, -5.054349, 5.014862), w, [1, 1], [1, 1], [1, 1], [1, 1])
    y = ops.hswish(ops.add(y, _f32(rng.normal(size=(1, channels, 1, 1)) * 0.3)))
    spread = (rng.random((1, channels, 1, 1)) * 4 + 2).astype(np.float32)
    low, high = -spread * np.float32(128.5 / 255), spread * np.float32(126.5 / 255)
    return ov.Model([ops.result(_fq_node(y, low, high))], [x], "post_op_block")


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


# -- transformations of real models, written with OpenVINO's own Python API --------------------

FQ_EMULATED = {**F32_HINT, "LP_TRANSFORMS_MODE": "NO"}
_WEIGHTED = ("Convolution", "GroupConvolution", "MatMul")


def _constant_weight(node) -> np.ndarray | None:
    """The float weight of a Convolution/MatMul if it is a Constant (possibly behind a Convert)."""
    source = node.input_value(1).get_node()
    if source.get_type_name() == "Convert":
        source = source.input_value(0).get_node()
    if source.get_type_name() != "Constant":
        return None
    data = source.get_data()
    return data.astype(np.float32) if data.dtype.kind == "f" else None


def compress_weights(model: ov.Model, mode: str = "int8_asym", group_size: int = 32) -> ov.Model:
    """Replace constant weights of Conv/MatMul by low-precision storage + dequantization.

    ``int8_asym``: u8 per output channel with zero point (``Convert → Subtract → Multiply``);
    ``int4_sym`` / ``int4_asym``: 2-D MatMul weights group-wise (i4 without / u4 with zero
    point, f16 scales, ``Reshape`` back, ``Convert`` to f32), as NNCF writes them; other weights
    fall back to int8_asym. The arithmetic follows NNCF's weight_lowering (half-to-even).
    """
    for node in model.get_ordered_ops():
        if node.get_type_name() not in _WEIGHTED:
            continue
        w = _constant_weight(node)
        if w is None or w.ndim < 2:
            continue
        if mode.startswith("int4") and node.get_type_name() == "MatMul" and w.ndim == 2:
            transpose_b = node.get_attributes()["transpose_b"]
            k_axis = 1 if transpose_b else 0
            if w.shape[k_axis] % group_size == 0:
                node.input(1).replace_source_output(_int4_group_subgraph(w, k_axis, group_size, mode == "int4_sym"))
                continue
        out_axis = 0 if node.get_type_name() != "MatMul" else (0 if node.get_attributes()["transpose_b"] else w.ndim - 1)
        axes = tuple(a for a in range(w.ndim) if a != out_axis)
        node.input(1).replace_source_output(_int8_asym_subgraph(w, axes))
    model.validate_nodes_and_infer_types()
    return model


def _asym_params(w: np.ndarray, axes, levels: int):
    lo, hi = w.min(axis=axes, keepdims=True), w.max(axis=axes, keepdims=True)
    scale = (hi - lo) / (levels - 1)
    scale = np.where(np.abs(scale) < np.finfo(np.float32).eps, np.finfo(np.float32).eps, scale).astype(np.float32)
    zp = np.clip(-np.round(lo / scale), 0, levels - 1)
    q = np.clip(np.round(w / scale + zp), 0, levels - 1)
    return q, zp, scale


def _int8_asym_subgraph(w: np.ndarray, axes) -> ov.Output:
    q, zp, scale = _asym_params(w, axes, 256)
    weight = ops.convert(ops.constant(q.astype(np.uint8)), "f32")
    weight = ops.subtract(weight, ops.convert(ops.constant(zp.astype(np.uint8)), "f32"))
    return ops.multiply(weight, ops.constant(scale)).output(0)


def _int4_group_subgraph(w: np.ndarray, k_axis: int, group_size: int, symmetric: bool) -> ov.Output:
    shape = list(w.shape)
    grouped_shape = shape[:k_axis] + [shape[k_axis] // group_size, group_size] + shape[k_axis + 1:]
    g = w.reshape(grouped_shape)
    reduce_axis = k_axis + 1
    if symmetric:
        lo, hi = g.min(axis=reduce_axis, keepdims=True), g.max(axis=reduce_axis, keepdims=True)
        scale = np.where(np.abs(lo) >= hi, np.abs(lo), -hi) / 8.0
        scale = np.where(np.abs(scale) < np.finfo(np.float32).eps, np.finfo(np.float32).eps, scale)
        scale = scale.astype(np.float16)
        q = np.clip(np.round(g / scale.astype(np.float32)), -8, 7)
        weight = ops.convert(_packed(q.astype(np.int8), "i4"), "f16")
    else:
        q, zp, scale = _asym_params(g, reduce_axis, 16)
        scale = scale.astype(np.float16)
        q = np.clip(np.round(g / scale.astype(np.float32) + zp), 0, 15)
        weight = ops.convert(_packed(q.astype(np.uint8), "u4"), "f16")
        weight = ops.subtract(weight, ops.convert(_packed(zp.astype(np.uint8), "u4"), "f16"))
    weight = ops.multiply(weight, ops.constant(scale))
    weight = ops.reshape(weight, ops.constant(np.array(shape, np.int64)), False)
    return ops.convert(weight, "f32").output(0)


def insert_fake_quantize(model: ov.Model, calibration: list) -> ov.Model:
    """Put FakeQuantize on the activation and weight inputs of every Conv/MatMul, NNCF style.

    Activations: per-tensor, 256 levels, range = min/max over ``calibration`` (unsigned when
    the minimum is ≥ 0). Constant weights: symmetric per output channel, 255 levels.
    """
    targets = [n for n in model.get_ordered_ops() if n.get_type_name() in _WEIGHTED]
    sources = [n.input_value(0) for n in targets]
    probe = ov.Model([ops.result(s) for s in sources], model.get_parameters(), "probe")
    compiled = _core.compile_model(probe, "CPU", F32_HINT)
    lows = np.full(len(sources), np.inf)
    highs = np.full(len(sources), -np.inf)
    for sample in calibration:
        values = compiled(sample)
        for i, out in enumerate(compiled.outputs):
            lows[i] = min(lows[i], float(values[out].min()))
            highs[i] = max(highs[i], float(values[out].max()))
    for node, source, lo, hi in zip(targets, sources, lows, highs):
        lo, hi = (0.0, hi) if lo >= 0 else (min(lo, -hi), max(hi, -lo))
        node.input(0).replace_source_output(ops.fake_quantize(source, _f32(lo), _f32(hi), _f32(lo), _f32(hi), 256).output(0))
        w = _constant_weight(node)
        if w is not None and w.ndim >= 2:
            out_axis = 0 if node.get_type_name() != "MatMul" else (0 if node.get_attributes()["transpose_b"] else w.ndim - 1)
            axes = tuple(a for a in range(w.ndim) if a != out_axis)
            lim = np.maximum(np.abs(w).max(axis=axes, keepdims=True), 1e-6).astype(np.float32)
            node.input(1).replace_source_output(
                ops.fake_quantize(node.input_value(1), _f32(-lim), _f32(lim), _f32(-lim), _f32(lim), 255).output(0))
    model.validate_nodes_and_infer_types()
    return model
