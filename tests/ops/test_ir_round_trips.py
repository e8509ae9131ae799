"""The ops added for the ONNX conformance suite written to IR by lpir, read by OpenVINO: each
model runs on OpenVINO's CPU plugin (f32) as in lpir, and lpir reads its own file back to the
same result, so that attribute names and values are spelled as OpenVINO reads them."""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest

import lpir
from lpir.ir import Model, make_constant, make_node, make_parameter, make_result
from lpir.ops import infer_node
from ovmodels import F32_HINT

RNG = np.random.default_rng(11)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def const(value):
    return ("const", np.asarray(value))


# op, version, inputs (arrays fed at run time, or ("const", value)), attributes
CASES = {
    "DFT": ("DFT", 7, [f32(2, 5, 6, 2), const(np.int64([1, 2])), const(np.int64([4, 6]))], {}),
    "IDFT": ("IDFT", 7, [f32(2, 5, 6, 2), const(np.int64([-1]))], {}),
    "RDFT": ("RDFT", 9, [f32(3, 8), const(np.int64([1]))], {}),
    "IRDFT": ("IRDFT", 9, [f32(3, 5, 2), const(np.int64([1])), const(np.int64([8]))], {}),
    "STFT": ("STFT", 15, [f32(2, 40), const(np.hanning(8).astype(np.float32)), const(np.int64(8)),
                          const(np.int64(3))], {"transpose_frames": True}),
    "ROIAlign": ("ROIAlign", 9, [f32(2, 3, 8, 8), const(np.float32([[0, 0, 5, 4], [1.5, 2, 7, 7.5]])),
                                 const(np.int64([1, 0]))],
                 {"pooled_h": 2, "pooled_w": 3, "sampling_ratio": 2, "spatial_scale": 0.75, "mode": "avg",
                  "aligned_mode": "half_pixel_for_nn"}),
    "DeformableConvolution": ("DeformableConvolution", 8,
                              [f32(1, 4, 6, 6), f32(1, 2 * 9 * 2, 4, 4), const(f32(3, 4, 3, 3)), f32(1, 18, 4, 4)],
                              {"strides": [1, 1], "pads_begin": [0, 0], "pads_end": [0, 0], "dilations": [1, 1],
                               "group": 1, "deformable_group": 2, "bilinear_interpolation_pad": True}),
    "RandomUniform": ("RandomUniform", 8, [const(np.int64([3, 4, 5])), np.float32(-1.5).reshape(()),
                                           np.float32(2.5).reshape(())],
                      {"output_type": "f32", "global_seed": 7, "op_seed": 3}),
    "Multinomial": ("Multinomial", 13, [np.abs(f32(3, 6)) + 0.1, const(np.int64([4]))],
                    {"convert_type": "i32", "with_replacement": False, "log_probs": False, "global_seed": 5,
                     "op_seed": 2}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_written_ir_runs_in_openvino_as_in_lpir(case, tmp_path):
    op_type, version, inputs, attrs = CASES[case]
    parameters, sources, feeds = [], [], []
    for value in inputs:
        if isinstance(value, tuple):
            sources.append(make_constant(value[1]).outputs[0])
        else:
            parameter = make_parameter("f32", value.shape)
            parameters.append(parameter)
            sources.append(parameter.outputs[0])
            feeds.append(value)
    node = make_node(op_type, sources, attrs, version=f"opset{version}")
    infer_node(node)
    xml = tmp_path / "model.xml"
    lpir.save_model(Model(parameters, [make_result(o) for o in node.outputs]), xml)
    expected = list(ov.Core().compile_model(str(xml), "CPU", F32_HINT)(feeds).values())
    with lpir.read_model(xml) as model:
        assert [n.version for n in model.nodes() if n.type == op_type] == [f"opset{version}"]
        ours = lpir.compile_model(model)(feeds)
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-4, atol=1e-4)
