"""The ONNX signal ops DFT and STFT imported by lpir, against ONNX Runtime: every DFT form
(real or complex, forward or inverse, one-sided, with a length, the axis as attribute or input),
STFT with and without a window or frame length; and the IR lpir writes for them, run by OpenVINO."""

from __future__ import annotations

import numpy as np
import onnx
import openvino as ov
import pytest
from onnx_check import check_against_ort, single_node_model

import lpir
from ovmodels import F32_HINT

RNG = np.random.default_rng(0)
REAL = RNG.standard_normal((2, 9, 6, 1)).astype(np.float32)
COMPLEX = RNG.standard_normal((2, 9, 6, 2)).astype(np.float32)
HALF = RNG.standard_normal((2, 5, 6, 2)).astype(np.float32)
ONNX_DFT = {
    "real-axis1": (REAL, None, 1, {}),
    "complex-axis2-opset19": (COMPLEX, None, 2, {}),
    "complex-inverse-length12": (COMPLEX, 12, 1, {"inverse": 1}),
    "real-onesided-length4": (REAL, 4, 1, {"onesided": 1}),
    "real-onesided-padded": (REAL, 14, -2, {"onesided": 1}),
    "real-inverse-negative-axis": (REAL, None, -3, {"inverse": 1}),
    "irfft": (HALF, None, 1, {"onesided": 1, "inverse": 1}),
    "irfft-length9": (HALF, 9, 1, {"onesided": 1, "inverse": 1}),
}


# before opset 20 the axis is an attribute counted from the front only
DFT_FORMS = [(case, opset) for case in ONNX_DFT for opset in (17, 20) if opset == 20 or ONNX_DFT[case][2] >= 0]


@pytest.mark.parametrize("case, opset", DFT_FORMS)
def test_onnx_dft_matches_onnxruntime(case, opset, tmp_path):
    data, length, axis, attrs = ONNX_DFT[case]
    inputs = [("x", data, False), ("n", np.asarray(length, dtype=np.int64), True) if length else ("", None, True)]
    if opset >= 20:
        inputs.append(("axis", np.asarray(axis, dtype=np.int64), False))
    else:
        attrs = {**attrs, "axis": axis}
    model, feeds = single_node_model("DFT", inputs, opset=opset, **attrs)
    check_against_ort(model, feeds, tmp_path)


@pytest.mark.parametrize("window, length", [(True, None), (False, 16), (True, 16)])
def test_onnx_stft_matches_onnxruntime(window, length, tmp_path):
    signal = RNG.standard_normal((2, 100, 1)).astype(np.float32)
    inputs = [("signal", signal, False), ("step", np.asarray(6, dtype=np.int64), True),
              ("window", np.hanning(16).astype(np.float32), False) if window else ("", None, True)]
    if length:
        inputs.append(("length", np.asarray(length, dtype=np.int64), True))
    model, feeds = single_node_model("STFT", inputs, opset=17)
    check_against_ort(model, feeds, tmp_path)


def test_imported_dft_saves_as_ir_that_openvino_runs(tmp_path):
    """The IR writer spells the transforms so OpenVINO reads them; lpir reads its own copy back."""
    model, feeds = single_node_model("DFT", [("x", REAL, False)], opset=17, axis=2, onesided=1)
    onnx_path, xml = tmp_path / "dft.onnx", tmp_path / "dft.xml"
    onnx.save(model, str(onnx_path))
    lpir.save_model(lpir.read_model(onnx_path), xml)
    expected = ov.Core().compile_model(str(xml), "CPU", F32_HINT)(feeds)[0]
    np.testing.assert_allclose(lpir.compile_model(lpir.read_model(xml))(feeds)[0], expected, rtol=1e-5, atol=1e-4)
