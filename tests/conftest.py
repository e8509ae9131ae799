"""Shared fixtures: real models from PyPI packages, converted once per session by OpenVINO."""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# CI explores the same examples on every run, so a submission never fails on a newly drawn
# example; runs elsewhere draw new examples and find new cases.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# OpenVINO's converter sends telemetry from a worker thread through multiprocessing, which forks
# by default; a fork while the main thread is inside a multithreaded OpenBLAS product stops
# OpenBLAS's workers under it and the product then waits forever (reproduced: a thread forking in
# a loop hangs a loop of 256x256 float32 products within seconds). With forkserver (Python 3.14's
# default on Linux) children are forked from a server process instead of this one.
if "forkserver" in multiprocessing.get_all_start_methods():
    multiprocessing.set_start_method("forkserver", force=True)

sys.path.insert(0, str(Path(__file__).parent))

import ovmodels  # noqa: E402

from lpir import zoo  # noqa: E402

REAL_MODELS = ["ppocr_det", "ppocr_rec", "ppocr_cls", "minilm"]


@pytest.fixture(scope="session")
def real_onnx() -> dict[str, Path]:
    """Every real ONNX model by short name."""
    return zoo.all_models()


@pytest.fixture(scope="session")
def real_ir(tmp_path_factory, real_onnx):
    """``real_ir(name, f16=False)`` → path of the IR that OpenVINO's converter writes for it."""
    import openvino as ov

    folder = tmp_path_factory.mktemp("real_ir")
    cache: dict[tuple[str, bool], str] = {}

    def get(name: str, f16: bool = False) -> str:
        key = (name, f16)
        if key not in cache:
            model = ov.convert_model(str(real_onnx[name]))
            cache[key] = ovmodels.save(model, folder / f"{name}{'_f16' if f16 else ''}.xml", compress_to_fp16=f16)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def quantized_ir(tmp_path_factory):
    """``quantized_ir(name)`` → path of a quantized IR built with OpenVINO's opset API."""
    folder = tmp_path_factory.mktemp("quantized_ir")
    models = ovmodels.quantized_models()
    cache: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in cache:
            cache[name] = ovmodels.save(models[name], folder / f"{name}.xml")
        return cache[name]

    return get


def calibration_samples(name: str) -> list[list]:
    """Small real calibration sets, one sample per item: the inputs of ``realdata.inputs_for``
    split along the batch (MiniLM: two batches of token ids)."""
    import realdata

    if name == "minilm":
        return [[ids[i:i + 1], mask[i:i + 1]] for seed in range(2) for ids, mask in [realdata.token_batch(seed=seed)]
                for i in range(len(ids))]
    batch = realdata.inputs_for(name)[0]
    return [[batch[i:i + 1]] for i in range(len(batch))]


@pytest.fixture(scope="session")
def lpir_int8(real_ir, tmp_path_factory):
    """``lpir_int8(name, overflow_fix="first_layer")`` → path of the real model quantized to INT8 by
    ``lpir.quantize`` with NNCF's ranges (the model NNCF gives, on which the integer-mode figures
    were measured) on :func:`calibration_samples` (MiniLM as a transformer), saved in compressed
    form. Tests that compare codes with OpenVINO's CPU take ``ovmodels.PORTABLE_OVERFLOW_FIX``."""
    import lpir
    from lpir.quantization.ptq import NNCF_RANGES

    folder = tmp_path_factory.mktemp("lpir_int8")
    cache: dict[str, str] = {}

    def get(name: str, overflow_fix: str = "first_layer") -> str:
        key = f"{name}_{overflow_fix}"
        if key not in cache:
            data = calibration_samples(name)
            options = {"model_type": "transformer"} if name == "minilm" else {}
            quantized = lpir.quantize(lpir.read_model(real_ir(name)), data, subset_size=len(data),
                                      advanced={**NNCF_RANGES, "overflow_fix": overflow_fix}, **options)
            lpir.save_model(quantized, folder / f"{key}_int8.xml")
            cache[key] = str(folder / f"{key}_int8.xml")
        return cache[key]

    return get


def _nncf_cls(onnx_path: Path, folder: Path, overflow_fix: str) -> Path:
    import nncf
    import openvino as ov
    import realdata
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    lines = realdata.text_lines(48, 192, 8)
    dataset = nncf.Dataset([lines[i:i + 1] for i in range(len(lines))])
    advanced = AdvancedQuantizationParameters(overflow_fix=OverflowFix[overflow_fix.upper()])
    quantized = nncf.quantize(ov.convert_model(str(onnx_path)), dataset, subset_size=len(lines), advanced_parameters=advanced)
    return Path(ovmodels.save(quantized, folder / "cls_int8.xml"))


@pytest.fixture(scope="session")
def nncf_cls(real_onnx, tmp_path_factory) -> Path:
    """PP-OCR's direction classifier quantized to INT8 by NNCF on 8 real text lines (its IR as
    ``openvino.save_model`` writes it: FakeQuantize on activations, i8 weights compressed)."""
    return _nncf_cls(real_onnx["ppocr_cls"], tmp_path_factory.mktemp("nncf"), "first_layer")


@pytest.fixture(scope="session")
def nncf_cls_portable(real_onnx, tmp_path_factory) -> Path:
    """:func:`nncf_cls` with NNCF's overflow fix on every layer (7-bit weights, ``ovmodels.PORTABLE_OVERFLOW_FIX``)."""
    return _nncf_cls(real_onnx["ppocr_cls"], tmp_path_factory.mktemp("nncf_portable"), "enable")
