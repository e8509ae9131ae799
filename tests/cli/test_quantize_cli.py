"""``lpir quantize`` driven as a user drives it; effects checked through the API and OpenVINO."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lpir
import ovmodels
import realdata


def lpir_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lpir", *map(str, args)], capture_output=True, text=True,
                          timeout=600, check=False)


def assert_user_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 or lines[0].startswith("usage:"), proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


@pytest.fixture(scope="module")
def crops_npy(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "crops.npy"
    np.save(path, realdata.text_lines(48, 192, 4))
    return path


def test_quantize_from_npy_writes_an_int8_model_openvino_runs(real_ir, crops_npy, tmp_path):
    out = tmp_path / "cls_int8.xml"
    proc = lpir_cli("quantize", real_ir("ppocr_cls"), "-o", out, "--data", crops_npy, "--subset-size", 3)
    assert proc.returncode == 0, proc.stderr
    assert "54 of 54 layers quantized to INT8" in proc.stdout and "smaller" in proc.stdout
    model = lpir.read_model(out)
    assert model.rt_get("lpir", "quantization", "samples") == "3"
    report = lpir.inspect_model(model, sparsity=False)
    assert sum(layer.mode == "low-precision" for layer in report.layers) == 54
    batch = realdata.text_lines(48, 192, 4)
    expected = ovmodels.run(out, [batch])[0]
    assert np.array_equal(expected.argmax(axis=1), lpir.compile_model(model)(batch)[0].argmax(axis=1))
    float_bin = Path(real_ir("ppocr_cls")).with_suffix(".bin")
    assert out.with_suffix(".bin").stat().st_size * 3 < float_bin.stat().st_size


def test_quantize_from_npz_by_input_name_and_from_images(real_ir, tmp_path):
    npz = tmp_path / "samples.npz"
    np.savez(npz, x=realdata.text_lines(48, 192, 2))
    out = tmp_path / "a.xml"
    layer = next(n.name for n in lpir.read_model(real_ir("ppocr_cls")).nodes() if n.type == "Convolution")
    proc = lpir_cli("quantize", real_ir("ppocr_cls"), "-o", out, "--data", npz, "--ignore", layer)
    assert proc.returncode == 0, proc.stderr
    assert layer in proc.stdout and "ignored (--ignore)" in proc.stdout
    pil = pytest.importorskip("PIL.Image")
    folder = tmp_path / "images"
    folder.mkdir()
    for i, crop in enumerate(realdata.text_lines(48, 192, 2)):
        pil.fromarray(((crop.transpose(1, 2, 0) * 0.5 + 0.5) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    out = tmp_path / "b.xml"
    proc = lpir_cli("quantize", real_ir("ppocr_cls"), "-o", out, "--data", folder, "--size", "48x192",
                    "--mean", "127.5,127.5,127.5", "--scale", "127.5,127.5,127.5")
    assert proc.returncode == 0, proc.stderr
    assert lpir.read_model(out).rt_get("lpir", "quantization", "samples") == "2"


@pytest.mark.parametrize("data, extra, fragments", [
    ("empty", (), ("calibration dataset is empty",)),
    ("short", (), ("calibration sample 0", "input 'x' must have shape")),
    ("crops", ("--ignore", "no_such_layer"), ("no_such_layer",)),
    ("missing", (), ("no such file or folder",)),
    ("crops", ("--subset-size", "0"), ("--subset-size",)),
])
def test_bad_input_is_one_line_and_writes_nothing(real_ir, crops_npy, tmp_path, data, extra, fragments):
    files = {"empty": np.zeros((0, 3, 48, 192), np.float32), "short": np.zeros((2, 3, 48), np.float32)}
    path = {"crops": crops_npy, "missing": tmp_path / "none.npy"}.get(data)
    if path is None:
        path = tmp_path / f"{data}.npy"
        np.save(path, files[data])
    out = tmp_path / "out.xml"
    assert_user_error(lpir_cli("quantize", real_ir("ppocr_cls"), "-o", out, "--data", path, *extra), *fragments)
    assert not list(tmp_path.glob("out*"))


def test_help_has_an_example():
    out = lpir_cli("quantize", "--help").stdout
    assert "example:" in out and "lpir quantize" in out


def test_range_and_bias_correction_flags_are_the_api_options(real_ir, crops_npy, tmp_path):
    """--weights-range/--activations-range/--overflow-fix/--bias-correction give the model
    lpir.quantize gives with the same options (every FakeQuantize limit and weight byte equal),
    not the default one: NNCF's ranges, which the default (searched ranges) replaces, 7-bit
    weights everywhere and NNCF's layerwise correction."""
    out = tmp_path / "nncf_ranges.xml"
    proc = lpir_cli("quantize", real_ir("ppocr_cls"), "-o", out, "--data", crops_npy, "--subset-size", 3,
                    "--weights-range", "minmax", "--activations-range", "mean_minmax", "--overflow-fix", "enable",
                    "--bias-correction", "layerwise")
    assert proc.returncode == 0, proc.stderr
    samples = [realdata.text_lines(48, 192, 4)[i:i + 1] for i in range(3)]
    options = {"weights_range_estimator_params": "minmax", "activations_range_estimator_params": "mean_minmax",
               "overflow_fix": "enable"}
    api = tmp_path / "api.xml"
    lpir.save_model(lpir.quantize(lpir.read_model(real_ir("ppocr_cls")), samples, subset_size=3, advanced=options,
                                  fast_bias_correction=False), api)
    default = tmp_path / "default.xml"
    lpir.save_model(lpir.quantize(lpir.read_model(real_ir("ppocr_cls")), samples, subset_size=3), default)
    searched = tmp_path / "searched.xml"
    proc = lpir_cli("quantize", real_ir("ppocr_cls"), "-o", searched, "--data", crops_npy, "--subset-size", 3,
                    "--weights-range", "mse", "--activations-range", "histogram")
    assert proc.returncode == 0, proc.stderr

    def constants(path):
        return {node.name: node.tensor.numpy().tobytes() for node in lpir.read_model(path).nodes() if node.type == "Const"}

    assert constants(out) == constants(api) != constants(default)
    assert constants(searched) == constants(default)
