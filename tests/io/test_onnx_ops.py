"""Each ONNX op converter on small one-node graphs, lpir's interpreter against ONNX Runtime.

The table covers the forms that change with the opset (Softmax's coerced-2-D axis before 13,
Squeeze/Unsqueeze/ReduceSum/Split taking attributes or inputs, Clip's attributes or inputs) and
the attribute variants of every converter (auto_pad, group, ceil_mode, allowzero ...).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx_check import assert_close, check_against_ort, lpir_run, make_model, ort_run, single_node_model

import lpir
from lpir.errors import ValidationError

RNG = np.random.default_rng(0)


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def pos(*shape: int) -> np.ndarray:
    return RNG.uniform(0.5, 2.0, shape).astype(np.float32)


def unit(*shape: int) -> np.ndarray:
    """Inside (-1, 1), where asin, acos and atanh are defined."""
    return RNG.uniform(-0.95, 0.95, shape).astype(np.float32)


def x(value, name: str = "x"):
    return name, np.asarray(value), False


def c(name: str, value, dtype=None):
    return name, np.asarray(value, dtype=dtype), True


def i64(value) -> np.ndarray:
    return np.asarray(value, dtype=np.int64)


NONE = ("", np.zeros(0), True)
IMG = f32(2, 4, 7, 9)

# id: (op type, inputs, opset, attributes[, number of outputs])
CASES = {
    # opset-dependent forms
    "Softmax-11-axis1-coerced": ("Softmax", [x(f32(2, 3, 4))], 11, {"axis": 1}),
    "Softmax-11-default-axis": ("Softmax", [x(f32(2, 3, 4))], 11, {}),
    "Softmax-11-last-axis": ("Softmax", [x(f32(2, 3, 4))], 11, {"axis": -1}),
    "Softmax-13-axis1": ("Softmax", [x(f32(2, 3, 4))], 13, {"axis": 1}),
    "LogSoftmax-12-axis0": ("LogSoftmax", [x(f32(2, 3, 4))], 12, {"axis": 0}),
    "LogSoftmax-13": ("LogSoftmax", [x(f32(2, 3, 4))], 13, {}),
    "Squeeze-11-attr": ("Squeeze", [x(f32(1, 3, 1, 2))], 11, {"axes": [0, -2]}),
    "Squeeze-13-input": ("Squeeze", [x(f32(1, 3, 1, 2)), c("axes", i64([2]))], 13, {}),
    "Squeeze-13-all": ("Squeeze", [x(f32(1, 3, 1, 2))], 13, {}),
    "Unsqueeze-11-attr": ("Unsqueeze", [x(f32(3, 2))], 11, {"axes": [0, 3]}),
    "Unsqueeze-13-input": ("Unsqueeze", [x(f32(3, 2)), c("axes", i64([-1, 1]))], 13, {}),
    "ReduceSum-11-attr": ("ReduceSum", [x(f32(2, 3, 4))], 11, {"axes": [1], "keepdims": 0}),
    "ReduceSum-13-input": ("ReduceSum", [x(f32(2, 3, 4)), c("axes", i64([0, 2]))], 13, {}),
    "ReduceSum-13-all": ("ReduceSum", [x(f32(2, 3, 4))], 13, {"keepdims": 0}),
    "ReduceSum-13-noop": ("ReduceSum", [x(f32(2, 3, 4))], 13, {"noop_with_empty_axes": 1}),
    "ReduceMean-13-attr": ("ReduceMean", [x(f32(2, 3, 4))], 13, {"axes": [-1]}),
    "ReduceMean-18-input": ("ReduceMean", [x(f32(2, 3, 4)), c("axes", i64([1]))], 18, {"keepdims": 0}),
    "ReduceMax-18-input": ("ReduceMax", [x(f32(2, 3, 4)), c("axes", i64([0]))], 18, {}),
    "ReduceMin-11": ("ReduceMin", [x(f32(2, 3, 4))], 11, {"axes": [2]}),
    "ReduceProd-11": ("ReduceProd", [x(pos(2, 3))], 11, {"axes": [1]}),
    "ReduceL2-11": ("ReduceL2", [x(f32(2, 3))], 11, {"axes": [1]}),
    "Clip-6-attrs": ("Clip", [x(f32(3, 4))], 6, {"min": -0.5, "max": 0.7}),
    "Clip-11-inputs": ("Clip", [x(f32(3, 4)), c("lo", np.float32(-0.5)), c("hi", np.float32(0.7))], 11, {}),
    "Clip-13-max-only": ("Clip", [x(f32(3, 4)), NONE, c("hi", np.float32(0.2))], 13, {}),
    "Clip-13-int": ("Clip", [x(i64([[-5, 0, 9]])), c("lo", np.int64(-2)), c("hi", np.int64(4))], 13, {}),
    "Split-11-attr": ("Split", [x(f32(6, 2))], 11, {"axis": 0, "split": [1, 5]}, 2),
    "Split-13-input": ("Split", [x(f32(2, 6)), c("split", i64([2, 4]))], 13, {"axis": 1}, 2),
    "Split-13-equal": ("Split", [x(f32(2, 6))], 13, {"axis": 1}, 3),
    "Split-18-num_outputs-uneven": ("Split", [x(f32(7, 2))], 18, {"num_outputs": 3}, 3),
    "Slice-9-attrs": ("Slice", [x(f32(5, 6))], 9, {"starts": [1, 0], "ends": [4, 10], "axes": [0, 1]}),
    "Slice-13-steps": ("Slice", [x(f32(5, 6)), c("s", i64([4, 1])), c("e", i64([0, 6])), c("a", i64([0, 1])),
                                  c("t", i64([-2, 2]))], 13, {}),
    "Slice-13-no-axes": ("Slice", [x(f32(5, 6)), c("s", i64([1])), c("e", i64([-1]))], 13, {}),
    "Pad-11-constant": ("Pad", [x(f32(2, 3)), c("pads", i64([0, 1, 1, 2])), c("v", np.float32(1.5))], 11, {}),
    "Pad-13-reflect": ("Pad", [x(f32(1, 2, 4, 4)), c("pads", i64([0, 0, 1, 2, 0, 0, 2, 1]))], 13, {"mode": "reflect"}),
    "Pad-18-edge-axes": ("Pad", [x(f32(2, 3, 4)), c("pads", i64([1, 2, 0, 1])), NONE, c("axes", i64([1, -1]))],
                         18, {"mode": "edge"}),
    "Pad-2-attrs": ("Pad", [x(f32(2, 3))], 2, {"pads": [1, 0, 0, 2], "value": -1.0}),
    # quantization (integer outputs compared exactly)
    "QuantizeLinear-u8-tensor": ("QuantizeLinear", [x(f32(3, 4) * 3), c("s", np.float32(0.02)),
                                                    c("zp", np.uint8(128))], 13, {}),
    "QuantizeLinear-default-zp": ("QuantizeLinear", [x(f32(3, 4)), c("s", np.float32(0.01))], 11, {}),
    "QuantizeLinear-i8-axis1": ("QuantizeLinear", [x(f32(2, 3, 4) * 2), c("s", pos(3) / 50),
                                                   c("zp", np.int8([-3, 0, 7]))], 13, {"axis": 1}),
    "QuantizeLinear-u8-axis-neg": ("QuantizeLinear", [x(f32(2, 3, 4)), c("s", pos(4) / 50),
                                                      c("zp", np.uint8([0, 10, 128, 250]))], 19, {"axis": -1}),
    "DequantizeLinear-u8-tensor": ("DequantizeLinear", [x(np.arange(12, dtype=np.uint8).reshape(3, 4) * 20),
                                                        c("s", np.float32(0.05)), c("zp", np.uint8(100))], 13, {}),
    "DequantizeLinear-i8-axis0": ("DequantizeLinear", [c("w", RNG.integers(-128, 128, (3, 4), dtype=np.int8)),
                                                       c("s", pos(3) / 10), c("zp", np.int8([0, -5, 3]))],
                                  13, {"axis": 0}),
    "DequantizeLinear-i32-bias": ("DequantizeLinear", [x(np.int32([-1000, 5, 70000])), c("s", np.float32(1e-3))],
                                  13, {}),
    # convolution and pooling
    "Conv-pads-bias": ("Conv", [x(IMG), c("w", f32(6, 4, 3, 3)), c("b", f32(6))], 13,
                       {"pads": [1, 0, 1, 2], "strides": [2, 1]}),
    "Conv-group-same_upper": ("Conv", [x(IMG), c("w", f32(8, 2, 3, 2))], 13,
                              {"group": 2, "auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    "Conv-depthwise-dilated": ("Conv", [x(IMG), c("w", f32(4, 1, 3, 3)), c("b", f32(4))], 11,
                               {"group": 4, "dilations": [2, 1], "auto_pad": "VALID"}),
    "Conv-1d": ("Conv", [x(f32(1, 3, 10)), c("w", f32(2, 3, 4))], 13, {"strides": [3]}),
    "ConvTranspose-stride": ("ConvTranspose", [x(IMG), c("w", f32(4, 3, 3, 3)), c("b", f32(3))], 13,
                             {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 0]}),
    "ConvTranspose-group": ("ConvTranspose", [x(IMG), c("w", f32(4, 2, 2, 2))], 11, {"group": 2, "strides": [2, 2]}),
    "MaxPool-ceil": ("MaxPool", [x(IMG)], 13, {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    "MaxPool-pads-dilations": ("MaxPool", [x(IMG)], 12, {"kernel_shape": [2, 2], "pads": [1, 1, 0, 1],
                                                         "dilations": [2, 1]}),
    "MaxPool-same_upper": ("MaxPool", [x(IMG)], 11, {"kernel_shape": [3, 2], "auto_pad": "SAME_UPPER"}),
    "AveragePool-exclude-pad": ("AveragePool", [x(IMG)], 13, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    "AveragePool-include-pad": ("AveragePool", [x(IMG)], 11, {"kernel_shape": [2, 3], "pads": [1, 1, 1, 1],
                                                              "count_include_pad": 1, "strides": [2, 2]}),
    "GlobalAveragePool": ("GlobalAveragePool", [x(IMG)], 13, {}),
    "GlobalMaxPool": ("GlobalMaxPool", [x(IMG)], 13, {}),
    # normalisation, matrix products
    "BatchNormalization": ("BatchNormalization", [x(IMG), c("s", f32(4)), c("b", f32(4)), c("m", f32(4)),
                                                  c("v", pos(4))], 15, {"epsilon": 1e-3}),
    "LayerNormalization": ("LayerNormalization", [x(f32(2, 3, 8)), c("s", f32(8)), c("b", f32(8))], 17, {}),
    "LayerNormalization-axis1": ("LayerNormalization", [x(f32(2, 3, 4)), c("s", f32(3, 4))], 17,
                                 {"axis": 1, "epsilon": 1e-3}),
    "InstanceNormalization": ("InstanceNormalization", [x(IMG), c("s", f32(4)), c("b", f32(4))], 13, {}),
    "Gemm-transB-alpha-beta": ("Gemm", [x(f32(3, 5)), c("w", f32(4, 5)), c("b", f32(4))], 13,
                               {"transB": 1, "alpha": 0.5, "beta": 2.0}),
    "Gemm-transA-no-C": ("Gemm", [x(f32(5, 3)), c("w", f32(5, 4))], 11, {"transA": 1}),
    "MatMul-batched": ("MatMul", [x(f32(2, 3, 4)), c("w", f32(4, 5))], 13, {}),
    "MatMul-vector": ("MatMul", [x(f32(4)), x(f32(2, 4, 3), "y")], 13, {}),
    # resize
    "Resize-11-nearest-scales": ("Resize", [x(IMG), c("roi", np.zeros(0, np.float32)),
                                            c("sc", np.float32([1, 1, 2, 1.5]))], 11,
                                 {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                                  "nearest_mode": "floor"}),
    "Resize-13-linear-sizes": ("Resize", [x(IMG), NONE, NONE, c("sz", i64([2, 4, 5, 12]))], 13,
                               {"mode": "linear"}),
    "Resize-13-linear-align": ("Resize", [x(IMG), NONE, c("sc", np.float32([1, 1, 2, 2]))], 13,
                               {"mode": "linear", "coordinate_transformation_mode": "align_corners"}),
    "Resize-13-cubic": ("Resize", [x(IMG), NONE, c("sc", np.float32([1, 1, 1.5, 0.5]))], 13,
                        {"mode": "cubic", "cubic_coeff_a": -0.5}),
    # IMG is 7 x 9: not_larger 14 x 27 → scale 2 (14 x 18); not_smaller 4 x 3 → scale 4/7 (4 x 5)
    "Resize-18-not-larger-nearest": ("Resize", [x(IMG), NONE, NONE, c("sz", i64([14, 27]))], 18,
                                     {"axes": [2, 3], "keep_aspect_ratio_policy": "not_larger"}),
    "Resize-18-not-smaller-linear": ("Resize", [x(IMG), NONE, NONE, c("sz", i64([4, 3]))], 18,
                                     {"axes": [2, 3], "keep_aspect_ratio_policy": "not_smaller", "mode": "linear"}),
    "Resize-18-not-larger-all-axes-cubic": ("Resize", [x(IMG), NONE, NONE, c("sz", i64([2, 4, 21, 30]))], 18,
                                            {"keep_aspect_ratio_policy": "not_larger", "mode": "cubic"}),
    **{f"Resize-crop-{name}": ("Resize", inputs, 19, {"coordinate_transformation_mode": "tf_crop_and_resize", **attrs})
       for name, inputs, attrs in [
           ("linear-sizes", [x(IMG), c("roi", np.float32([0, 0, 0.2, 0.1, 1, 1, 0.9, 0.7])), NONE,
                             c("sz", i64([2, 4, 5, 6]))], {"mode": "linear"}),
           ("cubic-scales-beyond", [x(IMG), x(np.float32([0, 0, -0.2, 0.3, 1, 1, 1.3, 1.1]), "roi"),
                                    c("sc", np.float32([1, 1, 1.5, 0.8]))],
            {"mode": "cubic", "extrapolation_value": -2.0}),
           ("linear-axes-3-2-single-row", [x(IMG), c("roi", np.float32([0.1, 0.3, 0.8, 0.6])), NONE,
                                           c("sz", i64([4, 1]))], {"mode": "linear", "axes": [3, 2]}),
       ]},
    "Resize-18-axes": ("Resize", [x(IMG), NONE, NONE, c("sz", i64([14, 4]))], 18,
                       {"mode": "nearest", "axes": [2, 3]}),
    # shape and data movement
    "Reshape-allowzero0": ("Reshape", [x(f32(2, 3, 4)), c("s", i64([0, -1]))], 13, {}),
    "Reshape-allowzero1": ("Reshape", [x(f32(0, 3, 4)), c("s", i64([4, 0, 3]))], 14, {"allowzero": 1}),
    "Reshape-allowzero1-no-zeros": ("Reshape", [x(f32(2, 3, 4)), c("s", i64([4, -1]))], 14, {"allowzero": 1}),
    "Transpose-perm": ("Transpose", [x(f32(2, 3, 4))], 13, {"perm": [1, 2, 0]}),
    "Transpose-default": ("Transpose", [x(f32(2, 3, 4))], 13, {}),
    "Gather-axis1": ("Gather", [x(f32(3, 5)), c("i", i64([[0, 4], [-1, 2]]))], 13, {"axis": 1}),
    "Gather-scalar": ("Gather", [x(f32(3, 5)), c("i", np.int64(1))], 13, {}),
    "Shape": ("Shape", [x(f32(2, 3, 4))], 13, {}),
    "Shape-15-start-end": ("Shape", [x(f32(2, 3, 4))], 15, {"start": 1, "end": -1}),
    "Concat": ("Concat", [x(f32(2, 3)), c("b", f32(2, 1))], 13, {"axis": -1}),
    "Expand": ("Expand", [x(f32(3, 1)), c("s", i64([2, 1, 4]))], 13, {}),
    "ConstantOfShape": ("ConstantOfShape", [x(i64([2, 3]))], 13, {}),
    "Flatten-axis2": ("Flatten", [x(f32(2, 3, 4, 5))], 13, {"axis": 2}),
    "Flatten-axis0": ("Flatten", [x(f32(2, 3, 4))], 11, {"axis": 0}),
    "Range-int": ("Range", [c("a", np.int64(2)), x(np.int64(11), "b"), c("d", np.int64(3))], 13, {}),
    "Range-float": ("Range", [x(np.float32(1.0)), c("b", np.float32(-2)), c("d", np.float32(-0.5))], 13, {}),
    "Tile": ("Tile", [x(f32(2, 3)), c("r", i64([2, 1]))], 13, {}),
    "Cast-f32-i32": ("Cast", [x(f32(3, 4) * 10)], 13, {"to": 6}),
    "Cast-i64-f16": ("Cast", [x(i64([1, -3, 60001]))], 13, {"to": 10}),
    "Where": ("Where", [x(f32(2, 3) > 0, "cond"), x(f32(2, 3)), c("b", f32(3))], 13, {}),
    "Identity": ("Identity", [x(f32(2, 3))], 13, {}),
    "TopK": ("TopK", [x(f32(3, 6)), c("k", i64([2]))], 11, {"axis": 1}, 2),
    "TopK-smallest": ("TopK", [x(f32(3, 6)), c("k", i64([3]))], 13, {"axis": 0, "largest": 0}, 2),
    "ArgMax-keepdims": ("ArgMax", [x(f32(3, 6))], 13, {"axis": 1}),
    "ArgMin-no-keepdims": ("ArgMin", [x(f32(3, 6))], 13, {"axis": 0, "keepdims": 0}),
    # elementwise
    "Add-broadcast": ("Add", [x(f32(2, 3)), c("b", f32(3))], 13, {}),
    "Sub": ("Sub", [x(f32(2, 3)), x(f32(2, 1), "y")], 13, {}),
    "Mul": ("Mul", [x(f32(2, 3)), c("b", np.float32(3))], 13, {}),
    "Div": ("Div", [x(f32(2, 3)), c("b", pos(2, 3))], 13, {}),
    "Div-int-truncates": ("Div", [x(i64([-7, 7, -8, 9])), c("b", i64([2, -2, 3, 4]))], 13, {}),
    "Pow": ("Pow", [x(pos(2, 3)), c("b", np.float32(1.5))], 13, {}),
    "Sum-3": ("Sum", [x(f32(2, 3)), x(f32(3), "y"), c("z", f32(2, 1))], 13, {}),
    "Max-3": ("Max", [x(f32(2, 3)), x(f32(3), "y"), c("z", f32(2, 1))], 13, {}),
    "Min-2": ("Min", [x(f32(2, 3)), x(f32(2, 3), "y")], 13, {}),
    "Mean-2": ("Mean", [x(f32(2, 3)), x(f32(2, 3), "y")], 13, {}),
    "Equal-int": ("Equal", [x(i64([1, 2, 3])), c("b", i64([1, 0, 3]))], 13, {}),
    "Less": ("Less", [x(f32(2, 3)), c("b", np.float32(0.1))], 13, {}),
    "Greater": ("Greater", [x(f32(2, 3)), x(f32(2, 3), "y")], 13, {}),
    "And": ("And", [x(f32(5) > 0), x(f32(5) > 0, "y")], 13, {}),
    "Or": ("Or", [x(f32(5) > 0), x(f32(5) > 0, "y")], 13, {}),
    "Not": ("Not", [x(f32(5) > 0)], 13, {}),
    "Relu": ("Relu", [x(f32(3, 4))], 14, {}),
    "Sigmoid": ("Sigmoid", [x(f32(3, 4))], 13, {}),
    "Tanh": ("Tanh", [x(f32(3, 4))], 13, {}),
    "Erf": ("Erf", [x(f32(3, 4))], 13, {}),
    "Exp": ("Exp", [x(f32(3, 4))], 13, {}),
    "Log": ("Log", [x(pos(3, 4))], 13, {}),
    "Sqrt": ("Sqrt", [x(pos(3, 4))], 13, {}),
    "Neg": ("Neg", [x(f32(3, 4))], 13, {}),
    "Abs": ("Abs", [x(f32(3, 4))], 13, {}),
    "Floor": ("Floor", [x(f32(3, 4) * 3)], 13, {}),
    "Ceil": ("Ceil", [x(f32(3, 4) * 3)], 13, {}),
    "Softplus": ("Softplus", [x(f32(3, 4) * 4)], 13, {}),
    "HardSigmoid": ("HardSigmoid", [x(f32(3, 4) * 4)], 13, {"alpha": 0.3, "beta": 0.4}),
    "HardSwish": ("HardSwish", [x(f32(3, 4) * 4)], 14, {}),
    "LeakyRelu": ("LeakyRelu", [x(f32(3, 4))], 13, {"alpha": 0.2}),
    "PRelu-channel": ("PRelu", [x(IMG), c("slope", f32(4, 1, 1))], 13, {}),
    "Gelu-20-erf": ("Gelu", [x(f32(3, 4) * 3)], 20, {}),
    "Gelu-20-tanh": ("Gelu", [x(f32(3, 4) * 3)], 20, {"approximate": "tanh"}),
    "Reciprocal": ("Reciprocal", [x(pos(3, 4))], 13, {}),
    "Einsum-matmul": ("Einsum", [x(f32(2, 3), "a"), x(f32(3, 4), "b")], 12, {"equation": "ij,jk->ik"}),
    "Einsum-batch-implicit": ("Einsum", [x(f32(5, 2, 3), "a"), x(f32(5, 3, 4), "b")], 12, {"equation": "bij,bjk"}),
    "Einsum-ellipsis-broadcast": ("Einsum", [x(f32(2, 1, 3, 4), "a"), x(f32(1, 5, 4, 2), "b")], 12,
                                  {"equation": "...ij,...jk->...ik"}),
    "Einsum-attention": ("Einsum", [x(f32(2, 4, 8, 16), "q"), x(f32(2, 4, 8, 16), "k")], 12,
                         {"equation": "bhid, bhjd -> bhij"}),
    "Einsum-trace": ("Einsum", [x(f32(4, 4), "a")], 12, {"equation": "ii->"}),
    "Einsum-transpose": ("Einsum", [x(f32(2, 3, 4), "a")], 12, {"equation": "abc->cab"}),
    "Einsum-three-inputs": ("Einsum", [x(f32(2, 3), "a"), x(f32(3, 4), "b"), x(f32(4, 5), "c")], 12,
                            {"equation": "ij,jk,kl->il"}),
    # unary math, bitwise ops, activations built from other ops
    **{op: (op, [x(unit(3, 4) * 2 if op == "Round" else unit(3, 4))], 13, {}) for op in ("Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh",
                                                          "Atanh", "Softsign", "Round")},
    "Acosh": ("Acosh", [x(pos(3, 4) + 1)], 13, {}),
    "IsNaN": ("IsNaN", [x(np.asarray([1.0, np.nan, np.inf, -np.inf], np.float32))], 13, {}),
    "IsInf-positive-only": ("IsInf", [x(np.asarray([1.0, np.nan, np.inf, -np.inf], np.float32))], 13,
                            {"detect_negative": 0}),
    "Mod-int-floor": ("Mod", [x(i64([-7, 7, -8, 9])), c("b", i64([2, -3, 3, -4]))], 13, {}),
    "Mod-fmod": ("Mod", [x(f32(2, 3) * 5), c("b", pos(2, 3))], 13, {"fmod": 1}),
    "BitShift-left": ("BitShift", [x(np.asarray([1, 7, 200], np.uint8)), c("s", np.asarray([1, 2, 1], np.uint8))],
                      13, {"direction": "LEFT"}),
    "BitShift-right": ("BitShift", [x(np.asarray([16, 7, 65535], np.uint32)), c("s", np.uint32(2))], 13,
                       {"direction": "RIGHT"}),
    "BitwiseAnd": ("BitwiseAnd", [x(i64([5, -3, 12])), c("b", i64([3, 6, -1]))], 18, {}),
    "BitwiseOr": ("BitwiseOr", [x(np.asarray([5, 3], np.int32)), c("b", np.asarray([2, 9], np.int32))], 18, {}),
    "BitwiseXor": ("BitwiseXor", [x(np.asarray([5, 255], np.uint8)), c("b", np.asarray([3, 15], np.uint8))], 18, {}),
    "BitwiseNot": ("BitwiseNot", [x(np.asarray([0, 5, -7], np.int16))], 18, {}),
    "Selu": ("Selu", [x(f32(3, 4) * 3)], 13, {"alpha": 1.5, "gamma": 2.0}),
    "Celu": ("Celu", [x(f32(3, 4) * 3)], 13, {"alpha": 0.7}),
    "ThresholdedRelu": ("ThresholdedRelu", [x(f32(3, 4) * 3)], 13, {"alpha": 0.5}),
    "Shrink": ("Shrink", [x(f32(3, 4) * 3)], 13, {"lambd": 0.8, "bias": 0.3}),
    "Dropout-mask": ("Dropout", [x(f32(3, 4))], 13, {}, 2),
    # reductions
    "ReduceSumSquare-18": ("ReduceSumSquare", [x(f32(2, 3, 4)), c("axes", i64([1]))], 18, {}),
    "ReduceLogSum-13": ("ReduceLogSum", [x(pos(2, 3, 4))], 13, {"axes": [0, 2], "keepdims": 0}),
    "ReduceLogSumExp-18": ("ReduceLogSumExp", [x(f32(2, 3, 4) * 20), c("axes", i64([-1]))], 18, {"keepdims": 0}),
    "ReduceMean-18-runtime-axes": ("ReduceMean", [x(f32(2, 3, 4)), x(i64([0, 2]), "axes")], 18, {"keepdims": 0}),
    "ReduceMax-18-runtime-empty-axes": ("ReduceMax", [x(f32(2, 3, 4)), x(np.zeros(0, np.int64), "axes")], 18, {}),
    "ReduceSum-13-runtime-noop": ("ReduceSum", [x(f32(2, 3)), x(np.zeros(0, np.int64), "axes")], 13,
                                  {"noop_with_empty_axes": 1}),
    "ArgMax-select-last": ("ArgMax", [x(np.asarray([[1, 3, 3, 0], [2, 2, 1, 2]], np.float32))], 13,
                           {"axis": 1, "select_last_index": 1}),
    "ArgMin-select-last-no-keepdims": ("ArgMin", [x(np.asarray([[1, 0], [0, 2], [0, 0]], np.float32))], 13,
                                       {"axis": 0, "keepdims": 0, "select_last_index": 1}),
    "CumSum-exclusive-reverse": ("CumSum", [x(f32(3, 4)), c("axis", np.int64(1))], 14, {"exclusive": 1, "reverse": 1}),
    # indexing and movement
    "GatherND-batch": ("GatherND", [x(f32(2, 3, 4)), c("i", i64([[[1, 0]], [[2, 3]]]))], 13, {"batch_dims": 1}),
    "ScatterElements-add": ("ScatterElements", [x(f32(3, 4)), c("i", i64([[1, 1], [0, 2]])), c("u", f32(2, 2))], 18,
                            {"axis": 1, "reduction": "add"}),
    "ScatterND": ("ScatterND", [x(f32(4, 3)), c("i", i64([[2], [0]])), c("u", f32(2, 3))], 13, {}),
    "ScatterND-18-mul-repeated": ("ScatterND", [x(f32(4, 3)), c("i", i64([[2], [0], [2]])), c("u", f32(3, 3))], 18,
                                  {"reduction": "mul"}),
    "ScatterND-18-max": ("ScatterND", [x(f32(4, 3)), c("i", i64([[1, 2], [3, 0]])), c("u", f32(2))], 18,
                         {"reduction": "max"}),
    "NonZero": ("NonZero", [x(np.asarray([[1, 0, 2], [0, 0, 3]], np.float32))], 13, {}),
    "ReverseSequence": ("ReverseSequence", [x(f32(4, 3, 2)), c("lens", i64([1, 4, 2]))], 13,
                        {"batch_axis": 1, "time_axis": 0}),
    "OneHot-negative-and-outside": ("OneHot", [x(i64([[0, -1], [5, 2]])), c("d", np.float32(4)),
                                               c("v", np.asarray([-1, 3], np.float32))], 11, {"axis": 1}),
    "EyeLike-k": ("EyeLike", [x(f32(3, 5))], 13, {"k": 1}),
    "EyeLike-int-dtype": ("EyeLike", [x(f32(4, 3))], 13, {"k": -1, "dtype": 7}),
    "Trilu-upper-k": ("Trilu", [x(f32(2, 4, 5)), c("k", np.int64(1))], 14, {}),
    "Trilu-lower": ("Trilu", [x(f32(5, 3))], 14, {"upper": 0}),
    "Compress-axis": ("Compress", [x(f32(3, 4)), c("cond", np.asarray([True, False, True]))], 13, {"axis": 0}),
    "Compress-flat": ("Compress", [x(f32(2, 3)), c("cond", np.asarray([0, 1, 1, 0, 1], bool))], 13, {}),
    # normalizations
    "LayerNormalization-3-outputs": ("LayerNormalization", [x(f32(2, 3, 4)), c("s", f32(3, 4)), c("b", f32(3, 4))],
                                     17, {"axis": 1}, 3),
    "GroupNormalization-21": ("GroupNormalization", [x(IMG), c("s", f32(4)), c("b", f32(4))], 21, {"num_groups": 2}),
    "GroupNormalization-18": ("GroupNormalization", [x(IMG), c("s", f32(2)), c("b", f32(2))], 18, {"num_groups": 2}),
    "LRN": ("LRN", [x(IMG)], 13, {"size": 3, "alpha": 0.01, "beta": 0.6, "bias": 2.0}),
    "MeanVarianceNormalization": ("MeanVarianceNormalization", [x(IMG)], 13, {}),
    "LpNormalization-p1": ("LpNormalization", [x(f32(3, 4))], 13, {"axis": 0, "p": 1}),
    "LpNormalization-p2": ("LpNormalization", [x(f32(3, 4))], 13, {}),
    "Hardmax-13": ("Hardmax", [x(f32(2, 3, 4))], 13, {"axis": 1}),
    "RMSNormalization-23": ("RMSNormalization", [x(f32(2, 3, 4)), c("s", f32(4))], 23, {"epsilon": 1e-3}),
    "RMSNormalization-23-axis1": ("RMSNormalization", [x(f32(2, 3, 4)), c("s", f32(3, 4))], 23, {"axis": 1}),
    # attention (opset 23): heads from 3-D inputs, grouped queries, causal, masks, past key/value
    "Attention-3d-gqa-causal": ("Attention", [x(f32(2, 5, 16), "q"), x(f32(2, 5, 8), "k"), x(f32(2, 5, 8), "v")],
                                23, {"q_num_heads": 4, "kv_num_heads": 2, "is_causal": 1}),
    "Attention-4d-bool-mask-scale": ("Attention", [x(f32(1, 2, 3, 4), "q"), x(f32(1, 2, 6, 4), "k"),
                                                   x(f32(1, 2, 6, 5), "v"), c("m", f32(3, 6) > -0.5)],
                                     23, {"scale": 0.3}),
    "Attention-4d-past-float-mask-softcap": (
        "Attention", [x(f32(1, 2, 3, 4), "q"), x(f32(1, 2, 3, 4), "k"), x(f32(1, 2, 3, 4), "v"), c("m", f32(3, 5)),
                      x(f32(1, 2, 2, 4), "pk"), x(f32(1, 2, 2, 4), "pv")], 23, {"softcap": 2.0, "is_causal": 1}, 3),
    "Attention-qk-output-softmax": ("Attention", [x(f32(1, 2, 3, 4), "q"), x(f32(1, 2, 3, 4), "k"),
                                                  x(f32(1, 2, 3, 4), "v")], 23, {"qk_matmul_output_mode": 3}, 4),
    "LpPool-p3-pads": ("LpPool", [x(IMG)], 18, {"kernel_shape": [3, 2], "p": 3, "pads": [1, 0, 1, 1],
                                                 "strides": [2, 1]}),
    "HannWindow": ("HannWindow", [c("n", np.int64(10))], 17, {}),
    "HammingWindow-symmetric": ("HammingWindow", [c("n", np.int32(7))], 17, {"periodic": 0}),
    "BlackmanWindow-f64": ("BlackmanWindow", [c("n", np.int64(9))], 17, {"output_datatype": 11}),
    "Pow-f32-i64": ("Pow", [x(f32(2, 3)), c("e", i64([2, 3, 1]))], 15, {}),
    "Pow-i32-f32": ("Pow", [x(np.asarray([1, 2, 5], np.int32)), c("e", np.asarray([2.0, 0.5, 1.5], np.float32))],
                    15, {}),
    "Pad-18-runtime-pads-axes": ("Pad", [x(f32(2, 3, 4)), x(i64([1, 2, 0, 1]), "pads"), NONE, x(i64([-1, 0]), "axes")],
                                 18, {}),
    "CenterCropPad-crop-and-pad": ("CenterCropPad", [x(f32(5, 4, 3)), c("s", i64([2, 7]))], 18, {"axes": [0, -2]}),
    "CenterCropPad-runtime-shape": ("CenterCropPad", [x(f32(3, 6)), x(i64([6, 3]), "s")], 18, {}),
    "ReduceMax-bool": ("ReduceMax", [x(f32(3, 4) > 0.5), c("axes", i64([1]))], 20, {}),
    "ReduceMin-bool": ("ReduceMin", [x(f32(3, 4) > -0.5)], 20, {"keepdims": 0}),
    # integer arithmetic
    "QLinearMatMul-u8": ("QLinearMatMul", [x(RNG.integers(0, 255, (2, 3, 4)).astype(np.uint8), "a"),
                                           c("as", np.float32(0.02)), c("az", np.uint8(120)),
                                           c("b", RNG.integers(0, 255, (4, 5)).astype(np.uint8)),
                                           c("bs", np.float32(0.01)), c("bz", np.uint8(130)),
                                           c("ys", np.float32(0.05)), c("yz", np.uint8(128))], 13, {}),
    "QLinearMatMul-i8-per-column": ("QLinearMatMul", [x(RNG.integers(-128, 127, (3, 4)).astype(np.int8), "a"),
                                                      c("as", np.float32(0.03)), c("az", np.int8(-3)),
                                                      c("b", RNG.integers(-128, 127, (4, 2)).astype(np.int8)),
                                                      c("bs", np.asarray([0.01, 0.02], np.float32)),
                                                      c("bz", np.asarray([0, 0], np.int8)),
                                                      c("ys", np.float32(0.2)), c("yz", np.int8(5))], 13, {}),
    "MatMulInteger": ("MatMulInteger", [x(RNG.integers(0, 255, (3, 4)).astype(np.uint8), "a"),
                                        c("b", RNG.integers(-128, 127, (4, 2)).astype(np.int8)),
                                        c("az", np.uint8(17)), c("bz", np.int8(-2))], 13, {}),
    "ConvInteger-pads": ("ConvInteger", [x(RNG.integers(0, 255, (1, 2, 5, 5)).astype(np.uint8)),
                                         c("w", RNG.integers(0, 255, (3, 2, 3, 3)).astype(np.uint8)),
                                         c("xz", np.uint8(100)), c("wz", np.uint8(120))], 13, {"pads": [1, 1, 1, 1]}),
    "DynamicQuantizeLinear": ("DynamicQuantizeLinear", [x(f32(3, 4))], 13, {}, 3),
    "ConvInteger-groups": ("ConvInteger", [
        x(RNG.integers(0, 255, (1, 4, 6, 5)).astype(np.uint8)), c("w", RNG.integers(0, 255, (6, 2, 3, 2)).astype(np.uint8)),
        c("xz", np.uint8(90)), c("wz", np.uint8(131))], 13,
        {"group": 2, "strides": [2, 1], "pads": [1, 0, 1, 1]}),
    "QLinearConv-u8-bias": ("QLinearConv", [
        x(RNG.integers(0, 255, (2, 3, 6, 6)).astype(np.uint8)), c("xs", np.float32(0.02)), c("xz", np.uint8(120)),
        c("w", RNG.integers(0, 255, (4, 3, 3, 3)).astype(np.uint8)), c("ws", np.float32(0.01)), c("wz", np.uint8(125)),
        c("ys", np.float32(0.1)), c("yz", np.uint8(128)), c("b", RNG.integers(-500, 500, 4).astype(np.int32))], 13,
        {"pads": [1, 1, 1, 1]}),
    "QLinearConv-i8-per-channel-groups": ("QLinearConv", [
        x(RNG.integers(-128, 127, (1, 4, 7, 5)).astype(np.int8)), c("xs", np.float32(0.03)), c("xz", np.int8(-4)),
        c("w", RNG.integers(-127, 127, (6, 2, 3, 3)).astype(np.int8)), c("ws", pos(6) / 50),
        c("wz", np.zeros(6, np.int8)), c("ys", np.float32(0.3)), c("yz", np.int8(3))], 13,
        {"group": 2, "strides": [1, 2], "dilations": [2, 1]}),
    "QLinearConv-depthwise-runtime-scale": ("QLinearConv", [
        x(RNG.integers(0, 255, (1, 3, 5, 5)).astype(np.uint8)), x(np.float32(0.05), "xs"), c("xz", np.uint8(128)),
        c("w", RNG.integers(0, 255, (3, 1, 3, 3)).astype(np.uint8)), c("ws", np.float32(0.02)), c("wz", np.uint8(127)),
        c("ys", np.float32(0.2)), c("yz", np.uint8(100))], 13, {"group": 3, "auto_pad": "SAME_UPPER"}),
    "RotaryEmbedding-3d-positions": ("RotaryEmbedding", [x(f32(2, 3, 16)), c("cos", f32(8, 4)), c("sin", f32(8, 4)),
                                                         c("pos", i64([[0, 1, 2], [5, 6, 7]]))], 23,
                                     {"num_heads": 2}),
    "RotaryEmbedding-4d-interleaved-partial": ("RotaryEmbedding", [x(f32(1, 2, 3, 8)), c("cos", f32(1, 3, 2)),
                                                                   c("sin", f32(1, 3, 2))], 23,
                                               {"interleaved": 1, "rotary_embedding_dim": 4}),
    **{f"GridSample-{mode}-{padding}": ("GridSample", [x(IMG), c("g", RNG.uniform(-1.4, 1.4, (2, 3, 5, 2)).astype(np.float32))],
                                        20, {"mode": mode, "padding_mode": padding, "align_corners": corners})
       for mode, padding, corners in (("linear", "zeros", 0), ("cubic", "border", 1), ("cubic", "border", 0),
                                      ("nearest", "reflection", 0), ("linear", "reflection", 1))},
    "GridSample-16-bicubic": ("GridSample", [x(IMG), c("g", RNG.uniform(-1.2, 1.2, (2, 2, 2, 2)).astype(np.float32))],
                              16, {"mode": "bicubic"}),
    **{f"RoiAlign-{opset}-{mode or 'default'}-{ratio}": (
        "RoiAlign", [x(IMG), c("rois", np.asarray([[0.5, 1, 6.5, 5], [2, 0, 3, 1.5], [-1, 2, 8, 9]], np.float32)),
                     c("batch", i64([1, 0, 1]))], opset,
        {"output_height": 3, "output_width": 2, "sampling_ratio": ratio, "spatial_scale": 0.8,
         **({"coordinate_transformation_mode": mode} if mode else {})})
        for opset, mode, ratio in [(10, None, 0), (10, None, 2), (16, None, 0), (16, "output_half_pixel", 2),
                                   (16, "half_pixel", 3)]},
    **{f"DeformConv-{name}": ("DeformConv", [x(f32(2, 4, 6, 7)), c("w", f32(6, 4 // group, 3, 3)),
                                             x(RNG.normal(0, 1.5, (2, 2 * offset_group * 9, 6, 3)).astype(np.float32),
                                               "offset")] + extra, 19,
                              {"group": group, "offset_group": offset_group, "pads": [1, 0, 1, 0],
                               "strides": [1, 2], "kernel_shape": [3, 3]})
       for name, group, offset_group, extra in [
           ("plain", 1, 1, []), ("groups", 2, 1, [c("b", f32(6))]), ("offset-groups", 1, 2, [c("b", f32(6))]),
           ("mask", 2, 4, [NONE, x(RNG.uniform(0, 1, (2, 36, 6, 3)).astype(np.float32), "mask")])]},
    "MaxPool-column-major-indices": ("MaxPool", [x(IMG)], 12, {"kernel_shape": [2, 3], "strides": [2, 1],
                                                              "pads": [1, 0, 0, 1], "storage_order": 1}, 2),
    "MaxPool-column-major-indices-3d": ("MaxPool", [x(f32(1, 2, 4, 5, 3))], 12,
                                        {"kernel_shape": [2, 2, 2], "storage_order": 1}, 2),
    "DequantizeLinear-blocked-axis1": ("DequantizeLinear", [
        x(RNG.integers(-128, 128, (4, 7)).astype(np.int8)), c("s", pos(4, 3)),
        c("zp", RNG.integers(-5, 5, (4, 3)).astype(np.int8))], 21, {"axis": 1, "block_size": 3}),
    "DequantizeLinear-blocked-runtime-scale": ("DequantizeLinear", [
        x(RNG.integers(0, 256, (5, 3)).astype(np.uint8)), x(pos(3, 3), "s")], 21, {"axis": 0, "block_size": 2}),
    "QuantizeLinear-blocked-axis0": ("QuantizeLinear", [
        x(f32(5, 4) * 3), c("s", pos(3, 4) / 10), c("zp", RNG.integers(100, 150, (3, 4)).astype(np.uint8))], 21,
        {"axis": 0, "block_size": 2}),
    "QuantizeLinear-blocked-runtime-int16": ("QuantizeLinear", [x(f32(2, 6) * 3), x(pos(2, 2) / 10, "s")], 21,
                                             {"axis": -1, "block_size": 4, "output_dtype": TensorProto.INT16}),
    **{f"GridSample-volume-{mode}-{padding}-{corners}": (
        "GridSample", [x(f32(2, 3, 4, 5, 6)), x(RNG.uniform(-1.3, 1.3, (2, 3, 2, 4, 3)).astype(np.float32), "g")], 20,
        {"mode": mode, "padding_mode": padding, "align_corners": corners})
       for mode in ("linear", "nearest") for padding in ("zeros", "border") for corners in (0, 1)},
    "Pad-wrap": ("Pad", [x(f32(2, 3, 4)), c("p", i64([0, 2, 1, 1, 3, 2]))], 19, {"mode": "wrap"}),
    "Pad-wrap-crop-runtime-pads": ("Pad", [x(f32(3, 5)), x(i64([1, -2, 0, 1]), "p")], 19, {"mode": "wrap"}),
    "Pad-wrap-axes": ("Pad", [x(f32(2, 3, 4)), c("p", i64([2, 1])), NONE, c("axes", i64([-1]))], 19,
                      {"mode": "wrap"}),
    "NonMaxSuppression-corners": ("NonMaxSuppression", [
        x(np.concatenate([RNG.uniform(0, 6, (2, 10, 2)), RNG.uniform(4, 10, (2, 10, 2))], -1).astype(np.float32)),
        x(RNG.uniform(0, 1, (2, 3, 10)).astype(np.float32), "scores"), c("limit", i64([3])),
        c("iou", np.asarray([0.4], np.float32)), c("floor", np.asarray([0.3], np.float32))], 11, {}),
    "NonMaxSuppression-centers-no-threshold": ("NonMaxSuppression", [
        x(np.concatenate([RNG.uniform(0, 10, (1, 8, 2)), RNG.uniform(1, 5, (1, 8, 2))], -1).astype(np.float32)),
        x(RNG.uniform(0, 1, (1, 2, 8)).astype(np.float32), "scores"), c("limit", i64([5]))], 11,
        {"center_point_box": 1}),
    "Unique-sorted": ("Unique", [x(np.asarray([2, 1, 1, 3, 4, 3], np.float32))], 11, {}, 4),
    "Unique-unsorted-axis": ("Unique", [x(np.asarray([[1, 0, 0], [1, 0, 0], [2, 3, 4]], np.int64))], 11,
                             {"sorted": 0, "axis": 0}, 4),
    # recurrent layers: ONNX gate order, separate biases, states [dirs, batch, hidden]
    "LSTM-bidirectional-lengths": ("LSTM", [x(f32(4, 2, 3)), c("w", f32(2, 20, 3) * 0.5), c("r", f32(2, 20, 5) * 0.5),
                                            c("b", f32(2, 40) * 0.5), c("lens", np.asarray([4, 2], np.int32)),
                                            x(f32(2, 2, 5), "h0"), x(f32(2, 2, 5), "c0")], 14,
                                   {"hidden_size": 5, "direction": "bidirectional"}, 3),
    "LSTM-no-states-clip": ("LSTM", [x(f32(2, 3, 4)), c("w", f32(1, 8, 4)), c("r", f32(1, 8, 2))], 14,
                            {"hidden_size": 2, "clip": 0.5}, 3),
    "LSTM-peepholes-bidirectional-lengths": ("LSTM", [
        x(f32(4, 2, 3)), c("w", f32(2, 20, 3) * 0.5), c("r", f32(2, 20, 5) * 0.5), c("b", f32(2, 40) * 0.5),
        c("lens", np.asarray([4, 2], np.int32)), x(f32(2, 2, 5), "h0"), x(f32(2, 2, 5), "c0"), c("p", f32(2, 15))], 14,
        {"hidden_size": 5, "direction": "bidirectional", "activations": ["Sigmoid", "Tanh", "Tanh",
                                                                          "Sigmoid", "Relu", "Tanh"]}, 3),
    "LSTM-peepholes-reverse-clip-no-bias": ("LSTM", [
        x(f32(3, 2, 4)), c("w", f32(1, 8, 4)), c("r", f32(1, 8, 2)), NONE, NONE, NONE, NONE, c("p", f32(1, 6))], 14,
        {"hidden_size": 2, "direction": "reverse", "clip": 0.7}, 3),
    "LSTM-peepholes-input-forget": ("LSTM", [
        x(f32(3, 2, 4)), c("w", f32(1, 12, 4)), c("r", f32(1, 12, 3)), c("b", f32(1, 24)), NONE,
        x(f32(1, 2, 3), "h0"), NONE, c("p", f32(1, 9))], 14, {"hidden_size": 3, "input_forget": 1}, 3),
    "GRU-linear-before-reset-reverse": ("GRU", [x(f32(3, 2, 4)), c("w", f32(1, 9, 4)), c("r", f32(1, 9, 3)),
                                                c("b", f32(1, 18))], 14,
                                        {"hidden_size": 3, "linear_before_reset": 1, "direction": "reverse"}, 2),
    "GRU-lengths": ("GRU", [x(f32(3, 2, 4)), c("w", f32(1, 9, 4)), c("r", f32(1, 9, 3)), c("b", f32(1, 18)),
                            c("lens", np.asarray([1, 3], np.int32))], 14, {"hidden_size": 3}, 2),
    "RNN-relu": ("RNN", [x(f32(3, 2, 4)), c("w", f32(1, 3, 4) * 0.5), c("r", f32(1, 3, 3) * 0.5)], 14,
                 {"hidden_size": 3, "activations": ["Relu"]}, 2),
    "AffineGrid-2d": ("AffineGrid", [x(f32(2, 2, 3)), c("size", i64([2, 3, 4, 5]))], 20, {}),
    "AffineGrid-3d-align-corners": ("AffineGrid", [x(f32(1, 3, 4)), c("size", i64([1, 1, 2, 3, 4]))], 20,
                                    {"align_corners": 1}),
    "BatchNormalization-training": ("BatchNormalization", [x(IMG), c("s", pos(4)), c("b", f32(4)), c("m", f32(4)),
                                                           c("v", pos(4))], 15, {"training_mode": 1, "momentum": 0.8},
                                    3),
    "AveragePool-dilations-ceil-include-pad": ("AveragePool", [x(f32(1, 2, 7, 8))], 19,
                                               {"kernel_shape": [3, 2], "dilations": [2, 3], "strides": [2, 2],
                                                "pads": [1, 0, 1, 1], "ceil_mode": 1, "count_include_pad": 1}),
    "AveragePool-dilations-exclude-pad": ("AveragePool", [x(f32(1, 2, 6, 6))], 19,
                                          {"kernel_shape": [2, 2], "dilations": [2, 2], "pads": [1, 1, 1, 1]}),
    "AveragePool-ceil-last-window-in-pad": ("AveragePool", [x(f32(1, 1, 5, 5))], 19,
                                            {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1],
                                             "ceil_mode": 1}),
    "MaxPool-ceil-last-window-in-pad": ("MaxPool", [x(f32(1, 1, 5, 5))], 12,
                                        {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1],
                                         "ceil_mode": 1}),
    "LpPool-dilations": ("LpPool", [x(IMG)], 18, {"kernel_shape": [2, 2], "dilations": [2, 1], "p": 2}),
    "Col2Im-strides-pads": ("Col2Im", [x(f32(2, 12, 4)), c("image", i64([4, 5])), c("block", i64([2, 3]))], 18,
                            {"strides": [2, 2], "pads": [0, 1, 1, 0]}),
    "Col2Im-dilations": ("Col2Im", [x(f32(1, 4, 9)), c("image", i64([5, 5])), c("block", i64([2, 2]))], 18,
                         {"dilations": [2, 2]}),
    "LpNormalization-zero-norm": ("LpNormalization", [x(np.asarray([[0, 3], [0, 4]], np.float32))], 13, {"axis": 0}),
    "ConvTranspose-same-upper": ("ConvTranspose", [x(f32(1, 2, 3, 3)), c("w", f32(2, 3, 3, 3))], 13,
                                 {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    "ConvTranspose-same-lower-dilated": ("ConvTranspose", [x(f32(1, 2, 4, 3)), c("w", f32(2, 1, 2, 3))], 13,
                                         {"auto_pad": "SAME_LOWER", "strides": [3, 2], "dilations": [2, 1]}),
    # losses
    "NegativeLogLikelihoodLoss-weight-ignore": (
        "NegativeLogLikelihoodLoss", [x(f32(3, 5, 2)), c("t", i64([[0, 4], [2, -1], [-1, 1]])), c("w", pos(5))], 13,
        {"ignore_index": -1}),
    "NegativeLogLikelihoodLoss-sum": ("NegativeLogLikelihoodLoss", [x(f32(4, 3)), c("t", i64([2, 0, 1, 1]))], 13,
                                      {"reduction": "sum"}),
    "SoftmaxCrossEntropyLoss-none-log-prob": ("SoftmaxCrossEntropyLoss", [x(f32(4, 3)), c("t", i64([2, 0, 1, 1]))],
                                              13, {"reduction": "none"}, 2),
    "SoftmaxCrossEntropyLoss-mean-weight": ("SoftmaxCrossEntropyLoss", [x(f32(4, 3)), c("t", i64([2, 0, 1, 1])),
                                                                         c("w", pos(3))], 13, {}),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_op_matches_onnxruntime(case, tmp_path):
    op_type, inputs, opset, attrs, *outputs = CASES[case]
    model, feeds = single_node_model(op_type, inputs, opset=opset, outputs=outputs[0] if outputs else 1, **attrs)
    check_against_ort(model, feeds, tmp_path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data(),
       opset=st.sampled_from([11, 12, 13]), log=st.booleans())
def test_softmax_axis_semantics_by_opset(tmp_path, shape, data, opset, log):
    """Before opset 13 Softmax normalises over all dims from ``axis`` on; from 13 over ``axis`` only."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    model, feeds = single_node_model("LogSoftmax" if log else "Softmax", [x(f32(*shape) * 3)], opset=opset, axis=axis)
    check_against_ort(model, feeds, tmp_path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data(),
       opset=st.sampled_from([11, 13, 18]), keepdims=st.integers(0, 1))
def test_reduce_axes_attribute_or_input(tmp_path, shape, data, opset, keepdims):
    """ReduceSum takes axes as an input from opset 13, ReduceMean from 18; both as attributes before."""
    axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=len(shape),
                              unique_by=lambda a: a % len(shape)))
    for op_type, since in (("ReduceSum", 13), ("ReduceMean", 18)):
        if opset >= since:
            model, feeds = single_node_model(op_type, [x(f32(*shape)), c("axes", i64(axes))], opset=opset,
                                             keepdims=keepdims)
        else:
            model, feeds = single_node_model(op_type, [x(f32(*shape))], opset=opset, axes=axes, keepdims=keepdims)
        check_against_ort(model, feeds, tmp_path)


def test_roi_align_max_mode_is_refused_naming_the_node(tmp_path):
    """ONNX's max pools the largest weighted neighbour, OpenVINO's ROIAlign the largest sample."""
    model, _ = single_node_model("RoiAlign", [x(IMG), c("rois", np.asarray([[0, 0, 4, 4]], np.float32)),
                                              c("batch", i64([0]))], opset=16, mode="max")
    onnx.save(model, str(tmp_path / "m.onnx"))
    with pytest.raises(ValidationError, match="roialign_node.*mode 'max'"):
        lpir.read_model(tmp_path / "m.onnx")


@pytest.mark.parametrize("saturate", [1, 0])
@pytest.mark.parametrize("to", ["FLOAT8E4M3FN", "FLOAT8E5M2"])
@pytest.mark.parametrize("like", [False, True])
def test_casts_to_float8_saturate_as_onnxruntime(to, saturate, like, tmp_path):
    """Values beyond the float8 range, and infinities, become its largest finite value unless
    saturate=0 (then NaN for e4m3fn, inf for e5m2); read back as float32 to compare."""
    code = getattr(TensorProto, to)
    values = np.asarray([[0.3, -2.5, 300, 460, 1000, -1e6], [57000, 70000, np.inf, -np.inf, 1e-3, 0]], np.float32)
    cast = (helper.make_node("CastLike", ["x", "like"], ["f8"], saturate=saturate) if like else
            helper.make_node("Cast", ["x"], ["f8"], to=code, saturate=saturate))
    back = helper.make_node("Cast", ["f8"], ["y"], to=TensorProto.FLOAT)
    initializers = [helper.make_tensor("like", code, [1], [1.0])] if like else []
    graph = helper.make_graph([cast, back], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6])], initializers)
    path = tmp_path / "cast.onnx"
    onnx.save(make_model(graph, 21), str(path))
    expected = ort_run(path, [values])[0]
    np.testing.assert_array_equal(lpir_run(path, [values])[0], expected)


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
@pytest.mark.parametrize("blocksize", [2, 3])
def test_space_to_depth_modes_of_opset_28_match_onnx_reference(mode, blocksize, tmp_path):
    """ONNX Runtime has no SpaceToDepth-28 yet: ONNX's reference evaluator is the oracle."""
    from onnx.reference import ReferenceEvaluator
    data = f32(2, 3, 6, 12)
    node = helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=blocksize, mode=mode)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(data.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 28)])
    path = tmp_path / "s2d.onnx"
    onnx.save(model, str(path))
    np.testing.assert_array_equal(lpir_run(path, [data])[0], ReferenceEvaluator(model).run(None, {"x": data})[0])


def _pool_unpool_model(kernel, strides, pads, output_shape):
    """MaxPool's values and indices fed to MaxUnpool, as a network inverting a pooling does."""
    window = {"kernel_shape": kernel, "strides": strides, "pads": pads}
    nodes = [helper.make_node("MaxPool", ["x"], ["v", "i"], **window),
             helper.make_node("MaxUnpool", ["v", "i"] + (["shape"] if output_shape else []), ["y"], **window)]
    initializers = [numpy_helper.from_array(np.asarray(output_shape, np.int64), "shape")] if output_shape else []
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 7])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializers)
    return make_model(graph, 11)


@pytest.mark.parametrize("kernel, strides, pads, output_shape", [
    ([2, 2], [2, 2], [0, 0, 0, 0], [2, 3, 8, 7]),  # odd width: the last column is not pooled
    ([2, 1], [2, 1], [0, 0, 0, 0], None),
    ([3, 2], [2, 1], [1, 0, 0, 0], [2, 3, 8, 7]),
])
def test_max_unpool_matches_onnxruntime(kernel, strides, pads, output_shape, tmp_path):
    """Values return to where MaxPool found them in its input (indices relative to output_shape)."""
    path = tmp_path / "unpool.onnx"
    onnx.save(_pool_unpool_model(kernel, strides, pads, output_shape), str(path))
    data = [f32(2, 3, 8, 7)]
    result = lpir_run(path, data)
    assert_close(result, ort_run(path, data))
    kept = result[0] != 0
    np.testing.assert_array_equal(result[0][kept], data[0][kept])


def test_resize_keeping_aspect_ratio_refuses_lengths_interpolate_would_round_down(tmp_path):
    """not_smaller on 7 x 9 to 2 x 4: scale 4/9 makes 7 rows 3.11 → 3 either way, but 2 x 5 makes
    scale 5/9, 7 rows 3.89: ONNX rounds to 4, Interpolate's scales mode down to 3."""
    model, _ = single_node_model("Resize", [x(IMG), NONE, NONE, c("sz", i64([2, 5]))], opset=18, axes=[2, 3],
                                 keep_aspect_ratio_policy="not_smaller")
    onnx.save(model, str(tmp_path / "m.onnx"))
    with pytest.raises(ValidationError, match=r"gives lengths \[4, 5\].*round to \[3, 5\]"):
        lpir.read_model(tmp_path / "m.onnx")


@pytest.mark.parametrize("image, block, attrs", [
    ([4, 5, 3], [2, 2, 1], {}),
    ([5, 4, 6], [2, 3, 2], {"strides": [2, 1, 2], "dilations": [1, 1, 2], "pads": [1, 0, 1, 0, 1, 1]}),
    ([9], [3], {"strides": [2], "pads": [2, 1]}),
])
@pytest.mark.parametrize("shapes_at_run_time", [False, True])
def test_col2im_over_other_than_two_dimensions_matches_onnx_reference(image, block, attrs, shapes_at_run_time,
                                                                      tmp_path):
    """ONNX Runtime folds 2-D images only: ONNX's reference evaluator is the oracle."""
    from onnx.reference import ReferenceEvaluator
    rank = len(image)
    strides, dilations = attrs.get("strides", [1] * rank), attrs.get("dilations", [1] * rank)
    pads = attrs.get("pads", [0] * 2 * rank)
    blocks = [(n + pads[i] + pads[i + rank] - d * (k - 1) - 1) // s + 1
              for i, (n, k, s, d) in enumerate(zip(image, block, strides, dilations))]
    data = f32(2, 3 * int(np.prod(block)), int(np.prod(blocks)))
    def shape_input(value, name):
        return x(value, name) if shapes_at_run_time else c(name, value)
    model, feeds = single_node_model("Col2Im", [x(data), shape_input(i64(image), "image"),
                                                shape_input(i64(block), "block")], opset=18, **attrs)
    path = tmp_path / "col2im.onnx"
    onnx.save(model, str(path))
    names = ["x", "image", "block"][:len(feeds)]
    expected = ReferenceEvaluator(model).run(None, dict(zip(names, feeds)))[0]
    assert expected.shape == (2, 3, *image)
    np.testing.assert_allclose(lpir_run(path, feeds)[0], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("saturate", [1, 0])
@pytest.mark.parametrize("to", ["FLOAT8E4M3FN", "FLOAT8E5M2"])
def test_quantize_linear_to_float8_matches_onnxruntime(to, saturate, tmp_path):
    """x / scale rounded to float8 (per channel here), beyond its range saturated unless
    saturate=0 (then NaN for e4m3fn, inf for e5m2); read back as float32 to compare."""
    code = getattr(TensorProto, to)
    values = (np.random.default_rng(7).standard_normal((2, 3, 4)) * [[[1], [300], [30000]]]).astype(np.float32)
    quantize = helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["q"], axis=1, saturate=saturate)
    back = helper.make_node("Cast", ["q"], ["y"], to=TensorProto.FLOAT)
    initializers = [numpy_helper.from_array(np.float32([0.5, 0.25, 0.125]), "scale"),
                    helper.make_tensor("zero", code, [3], [0.0, 0.0, 0.0])]
    graph = helper.make_graph([quantize, back], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 4])], initializers)
    path = tmp_path / "q8.onnx"
    model = make_model(graph, 21)
    onnx.save(model, str(path))
    if saturate:
        expected = ort_run(path, [values])[0]
    else:  # ONNX Runtime gives NaN, not inf, for e5m2 overflows that round to 65536: ONNX's reference
        from onnx.reference import ReferenceEvaluator
        expected = ReferenceEvaluator(model).run(None, {"x": values})[0]
    np.testing.assert_array_equal(lpir_run(path, [values])[0], expected)


def test_batch_first_lstm_with_peepholes_matches_onnx_reference(tmp_path):
    """layout=1 (ONNX Runtime runs time-major layouts only): ONNX's reference evaluator is the oracle."""
    from onnx.reference import ReferenceEvaluator
    model, feeds = single_node_model("LSTM", [x(f32(2, 3, 4)), c("w", f32(1, 12, 4)), c("r", f32(1, 12, 3)),
                                              c("b", f32(1, 24)), NONE, x(f32(2, 1, 3), "h0"), x(f32(2, 1, 3), "c0"),
                                              c("p", f32(1, 9))], opset=14, outputs=3, hidden_size=3, layout=1)
    path = tmp_path / "lstm.onnx"
    onnx.save(model, str(path))
    expected = ReferenceEvaluator(model).run(None, dict(zip(["x", "h0", "c0"], feeds)))
    assert_close(lpir_run(path, feeds), expected)


def test_unrolled_lstm_saves_as_ir_that_openvino_runs(tmp_path):
    """The peephole LSTM's arithmetic, written as IR, runs in OpenVINO as in lpir."""
    import openvino as ov
    from ovmodels import F32_HINT
    model, feeds = single_node_model("LSTM", [x(f32(3, 2, 4)), c("w", f32(2, 12, 4)), c("r", f32(2, 12, 3)),
                                              c("b", f32(2, 24)), c("lens", np.asarray([3, 1], np.int32)), NONE, NONE,
                                              c("p", f32(2, 9))], opset=14, outputs=3, hidden_size=3,
                                     direction="bidirectional")
    onnx.save(model, str(tmp_path / "lstm.onnx"))
    lpir.save_model(lpir.read_model(tmp_path / "lstm.onnx"), tmp_path / "lstm.xml")
    expected = list(ov.Core().compile_model(str(tmp_path / "lstm.xml"), "CPU", F32_HINT)(feeds).values())
    assert_close(lpir_run(tmp_path / "lstm.xml", feeds), expected)
    assert_close(lpir_run(tmp_path / "lstm.onnx", feeds), ort_run(tmp_path / "lstm.onnx", feeds))
