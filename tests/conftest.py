"""Shared fixtures: real models from PyPI packages, converted once per session by OpenVINO."""

from __future__ import annotations

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
