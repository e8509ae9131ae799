"""``lpir compress`` as a user runs it: the weights it writes (read back through the API), its
summary, and one-line errors with exit code 2 and no output file on bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import lpir
from lpir.cli import main
from lpir.ir import make_parameter, make_result
from lpir.ops import build

from compression.builders import mlp, set_weight_value


@pytest.fixture()
def model_xml(tmp_path):
    path = tmp_path / "mlp.xml"
    lpir.save_model(mlp((64, 32, 32, 16)), path)
    return path


def weight_types(path) -> dict[str, str]:
    model = lpir.read_model(path)
    return {n.name: n.tensor.etype.name for n in model.nodes() if n.type == "Const" and n.name in ("w0", "w1", "w2")}


def test_compress_writes_int4_weights_and_a_summary(model_xml, tmp_path):
    out = tmp_path / "out" / "int4.xml"
    proc = subprocess.run([sys.executable, "-m", "lpir", "compress", str(model_xml), "-o", str(out), "--mode",
                           "int4_sym", "--group-size", "16", "--ignore", "mm1"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert weight_types(out) == {"w0": "i4", "w1": "f32", "w2": "u8"}
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("compressed 2 weights in ")
    assert any(line.split()[:3] == ["int4_sym", "group", "16"] and line.split()[3] == "1" for line in lines)
    assert "x smaller" in lines[-1] and f"{model_xml.with_suffix('.bin').stat().st_size:,}" in lines[-1]


def test_every_flag_reaches_the_api(model_xml, tmp_path):
    out = tmp_path / "nf4.xml"
    assert main(["compress", str(model_xml), "-o", str(out), "--mode", "nf4", "--group-size", "-1", "--ratio", "0.9",
                 "--all-layers", "--backup-mode", "int8_sym"]) == 0
    expected = lpir.compress_weights(lpir.read_model(model_xml), mode="nf4", group_size=-1, ratio=0.9,
                                     all_layers=True, backup_mode="int8_sym")
    lpir.save_model(expected, tmp_path / "api.xml")
    assert weight_types(out) == weight_types(tmp_path / "api.xml")
    assert sorted(weight_types(out).values()) == ["i8", "nf4", "nf4"]
    assert (tmp_path / "nf4.bin").read_bytes() == (tmp_path / "api.bin").read_bytes()


def test_data_flags_reach_the_api(tmp_path):
    """--data (.npz by input name), --sensitivity-metric and --subset-size give what the API gives
    with the same samples."""
    path = tmp_path / "mlp.xml"
    lpir.save_model(mlp((64, 48, 32, 16), leading=(-1, 6)), path)
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((5, 6, 64)) * np.linspace(0.1, 9, 64)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x)
    for metric in ("mean_activation_magnitude", "hessian_input_activation"):
        out = tmp_path / f"{metric}.xml"
        assert main(["compress", str(path), "-o", str(out), "--mode", "int4_asym", "--group-size", "16",
                     "--ratio", "0.7", "--data", str(tmp_path / "data.npz"), "--sensitivity-metric", metric,
                     "--subset-size", "3"]) == 0
        expected = lpir.compress_weights(lpir.read_model(path), mode="int4_asym", group_size=16, ratio=0.7,
                                         dataset=lpir.Dataset([x[i:i + 1] for i in range(3)]),
                                         sensitivity_metric=metric)
        lpir.save_model(expected, tmp_path / "api.xml")
        assert weight_types(out) == weight_types(tmp_path / "api.xml")
        assert out.with_suffix(".bin").read_bytes() == (tmp_path / "api.bin").read_bytes()


@pytest.mark.parametrize("flags, message", [
    (["--mode", "int2"], "unknown weight compression mode 'int2'"),
    (["--mode", "int4_asym", "--group-size", "24"], "group size 24 does not divide"),
    (["--mode", "int4_asym", "--ratio", "1.5"], "ratio=1.5 is outside [0, 1]"),
    (["--mode", "int8_asym", "--group-size", "16"], "per output channel"),
    (["--ignore", "no_such_layer"], "'no_such_layer'"),
    (["--mode", "int4_asym", "--group-size-fallback", "skip"], "unknown group_size_fallback 'skip'"),
    (["--mode", "int4_asym", "--ratio", "0.5", "--data", "missing.npz"], "--data missing.npz: no such file"),
    (["--mode", "int4_asym", "--sensitivity-metric", "variance"], "unknown sensitivity_metric 'variance'"),
])
def test_bad_input_is_one_line_and_writes_nothing(model_xml, tmp_path, capsys, flags, message):
    out = tmp_path / "bad.xml"
    assert main(["compress", str(model_xml), "-o", str(out), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lpir compress: error: ") and message in err and "\n" not in err
    assert not out.exists() and not out.with_suffix(".bin").exists()


def test_group_size_fallback_flag(model_xml, tmp_path):
    out = tmp_path / "adjusted.xml"
    assert main(["compress", str(model_xml), "-o", str(out), "--mode", "int4_asym", "--group-size", "48",
                 "--group-size-fallback", "ignore"]) == 0
    assert weight_types(out) == {"w0": "f32", "w1": "f32", "w2": "u8"}  # 64 and 32 channels: not divisible


def test_nan_weights_fail_naming_the_layer_and_write_nothing(tmp_path, capsys):
    model = mlp()
    set_weight_value(model, "w0", (0, 0), np.inf)
    lpir.save_model(model, tmp_path / "inf.xml")
    assert main(["compress", str(tmp_path / "inf.xml"), "-o", str(tmp_path / "out" / "x.xml")]) == 2
    err = capsys.readouterr().err
    assert "weight 'w0'" in err and "'mm0'" in err and "NaN or infinite" in err
    assert not (tmp_path / "out" / "x.xml").exists() and not (tmp_path / "out" / "x.bin").exists()


def test_nothing_to_compress_and_already_compressed_are_warnings(tmp_path, capsys):
    x = make_parameter("f32", (2,), name="x")
    lpir.save_model(lpir.Model([x], [make_result(build("Relu", [x.output]).output)]), tmp_path / "relu.xml")
    assert main(["compress", str(tmp_path / "relu.xml"), "-o", str(tmp_path / "relu8.xml")]) == 0
    assert "warning: model" in capsys.readouterr().out and (tmp_path / "relu8.xml").exists()

    lpir.save_model(mlp(), tmp_path / "mlp.xml")
    assert main(["compress", str(tmp_path / "mlp.xml"), "-o", str(tmp_path / "once.xml")]) == 0
    capsys.readouterr()
    assert main(["compress", str(tmp_path / "once.xml"), "-o", str(tmp_path / "twice.xml"), "--mode", "int4_asym"]) == 0
    assert "2 compressed weights keep their compression" in capsys.readouterr().out
    assert weight_types(tmp_path / "twice.xml") == {"w0": "u8", "w1": "u8"}
