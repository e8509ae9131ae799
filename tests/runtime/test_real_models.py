"""lpir's interpreter against OpenVINO on real models, in every form a user meets them.

Float and weight-compressed models are compared with OpenVINO's CPU plugin in f32 (their
arithmetic is the same up to summation order): within 1e-4 of each output's dynamic range,
and exactly for integer outputs. FakeQuantize models are compared with OpenVINO emulating
FakeQuantize in float (LP_TRANSFORMS_MODE=NO), because with low-precision transformations the
CPU plugin runs integer kernels whose results differ by design (see test_fake_quantized_*).
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest

import lpir
import ovmodels
import realdata
from conftest import REAL_MODELS

TOLERANCE = 1e-4


def assert_close(actual: list[np.ndarray], expected: list[np.ndarray], tolerance: float = TOLERANCE) -> None:
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a.shape == e.shape, f"output {i}: shape {a.shape} != {e.shape}"
        if e.dtype.kind in "iub":
            np.testing.assert_array_equal(a, e, err_msg=f"output {i}")
            continue
        span = float(e.max() - e.min()) or 1.0
        error = float(np.abs(a.astype(np.float64) - e).max())
        assert error <= tolerance * span, f"output {i}: max error {error:.3g} > {tolerance} × range {span:.3g}"


@pytest.fixture(scope="module")
def compressed_ir(tmp_path_factory, real_onnx):
    folder = tmp_path_factory.mktemp("compressed")

    def get(name: str, mode: str) -> str:
        model = ovmodels.compress_weights(ov.convert_model(str(real_onnx[name])), mode)
        return ovmodels.save(model, folder / f"{name}_{mode}.xml")

    return get


def check_against_openvino(xml_path: str, inputs: list[np.ndarray]) -> None:
    compiled = lpir.compile_model(lpir.read_model(xml_path))
    assert_close(compiled(inputs), ovmodels.run(xml_path, inputs))


@pytest.mark.parametrize("f16", [False, True], ids=["fp32", "f16"])
@pytest.mark.parametrize("name", REAL_MODELS)
def test_float_model_matches_openvino(real_ir, name, f16):
    check_against_openvino(real_ir(name, f16), realdata.inputs_for(name))


@pytest.mark.parametrize("mode", ["int8_asym", "int4_sym", "int4_asym"])
@pytest.mark.parametrize("name", REAL_MODELS)
def test_weight_compressed_model_matches_openvino(compressed_ir, name, mode):
    check_against_openvino(compressed_ir(name, mode), realdata.inputs_for(name))


CALIBRATION_SEEDS = range(3)


def _fake_quantized(name: str, real_onnx, folder) -> str:
    model = ov.convert_model(str(real_onnx[name]))
    inputs = realdata.inputs_for(name)
    calibration = [inputs] + ([list(realdata.token_batch(seed=s)) for s in CALIBRATION_SEEDS] if name == "minilm" else [])
    return ovmodels.save(ovmodels.insert_fake_quantize(model, calibration), folder / f"{name}_fq.xml")


# Measured on this suite's inputs (max and mean error relative to the output range):
# ppocr_cls ~1e-6 / 1e-7, ppocr_rec and ppocr_det and minilm below 1e-3 / 1e-5.
@pytest.mark.parametrize("name", REAL_MODELS)
def test_fake_quantized_model_matches_float_emulation(name, real_onnx, tmp_path):
    xml = _fake_quantized(name, real_onnx, tmp_path)
    inputs = realdata.inputs_for(name)
    actual = lpir.compile_model(lpir.read_model(xml))(inputs)
    expected = ovmodels.run(xml, inputs, ovmodels.FQ_EMULATED)
    for a, e in zip(actual, expected):
        if e.dtype.kind in "iub":
            np.testing.assert_array_equal(a, e)
            continue
        span = float(e.max() - e.min()) or 1.0
        error = np.abs(a.astype(np.float64) - e) / span
        assert error.max() <= 1e-2 and error.mean() <= 1e-3, (error.max(), error.mean())
    if name == "ppocr_cls":
        assert (actual[0].argmax(-1) == expected[0].argmax(-1)).all()
