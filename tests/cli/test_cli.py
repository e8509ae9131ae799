"""The ``lpir`` command driven as a user drives it: ``python -m lpir ...`` in a subprocess.

Effects are checked through the API and against OpenVINO / ONNX Runtime, plus exit codes and
one-line errors on bad input.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import ovmodels
import pytest

import lpir
from lpir.analysis import inspect_model
from lpir.compression.fp16 import DECOMPRESSION


def lpir_cli(*args, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "lpir", *map(str, args)], capture_output=True, text=True, timeout=600,
                          check=False)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def assert_user_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 or lines[0].startswith("usage:"), proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr


@pytest.mark.parametrize("command", ["inspect", "convert", "run", "sparsify", "compare", "demo"])
def test_every_subcommand_has_help_with_an_example(command):
    out = lpir_cli(command, "--help").stdout
    assert "example:" in out and f"lpir {command}" in out


# -- inspect -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["fq_conv", "int8_weights", "u4_group", "i4_group"])
def test_inspect_json_is_the_api_report(quantized_ir, name):
    path = quantized_ir(name)
    printed = json.loads(lpir_cli("inspect", path, "--json").stdout)
    expected = json.loads(json.dumps(inspect_model(lpir.read_model(path)).to_dict()))
    assert printed == expected
    assert printed["schema_version"] == 1


def test_inspect_table_names_the_low_precision_picture(quantized_ir):
    out = lpir_cli("inspect", quantized_ir("fq_conv")).stdout
    assert "FakeQuantize (4)" in out
    assert "layers: 2 of 2 run in low precision" in out
    assert "weight sparsity" in out
    assert "in integer mode (lpir run --integer; OpenVINO's CPU rules): 2 of 2 layers run in integers" in out
    out = lpir_cli("inspect", quantized_ir("u4_group"), "--no-sparsity").stdout
    assert "group 16" in out and "weight sparsity" not in out


# -- convert -------------------------------------------------------------------------------
def const_types(xml: str) -> Counter:
    return Counter((n.tensor.etype.name, n.tensor.shape) for n in lpir.read_model(xml).nodes() if n.type == "Const")


def test_convert_compress_to_fp16_runs_in_openvino(real_ir, tmp_path):
    source = real_ir("ppocr_det")
    out = tmp_path / "det16.xml"
    lpir_cli("convert", source, "-o", out, "--compress-to-fp16")
    model = lpir.read_model(out)
    converts = [n for n in model.nodes() if n.type == "Convert" and n.inputs[0].source.node.type == "Const"
                and n.inputs[0].source.etype.name == "f16"]
    assert converts and all(DECOMPRESSION in n.rt_info for n in converts)
    kept = [n for n in model.nodes() if n.type == "Const" and n.tensor.etype.name == "f32" and n.tensor.size > 1]
    assert kept and all(port.node.type == "Interpolate" for n in kept for port in n.outputs[0].consumers)
    # every constant, single-element ones included, is stored as OpenVINO's own f16 conversion stores it
    assert const_types(str(out)) == const_types(real_ir("ppocr_det", True))
    x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    expected, = ovmodels.run(source, [x])
    actual, = ovmodels.run(out, [x])
    np.testing.assert_allclose(actual, expected, atol=2e-2)
    assert out.with_suffix(".bin").stat().st_size < 0.55 * Path(source).with_suffix(".bin").stat().st_size


def test_compress_to_fp16_keeps_quantized_models_and_the_input_model(quantized_ir, tmp_path):
    model = lpir.read_model(quantized_ir("int8_weights"))
    before = Counter(n.type for n in model.nodes())
    out = tmp_path / "q16.xml"
    lpir.save_model(model, out, compress_to_fp16=True)
    assert Counter(n.type for n in model.nodes()) == before
    assert const_types(str(out)) == const_types(quantized_ir("int8_weights"))


def test_convert_onnx_to_ir_matches_onnxruntime(real_onnx, tmp_path):
    import onnxruntime as ort
    out = tmp_path / "cls.xml"
    lpir_cli("convert", real_onnx["ppocr_cls"], "-o", out)
    x = np.random.default_rng(1).random((2, 3, 48, 192), dtype=np.float32)
    expected = ort.InferenceSession(str(real_onnx["ppocr_cls"])).run(None, {"x": x})[0]
    actual, = ovmodels.run(out, [x])
    np.testing.assert_allclose(actual, expected, atol=1e-4)


def test_convert_quantized_ir_to_onnx_runs_in_onnxruntime(quantized_ir, tmp_path):
    import onnxruntime as ort
    out = tmp_path / "fq_conv.onnx"
    proc = lpir_cli("convert", quantized_ir("fq_conv"), "-o", out)
    assert "ONNX opset 13" in proc.stdout and "2 QuantizeLinear" in proc.stdout
    x = np.random.default_rng(4).random((1, 3, 16, 16), dtype=np.float32)
    actual = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    expected = lpir.compile_model(quantized_ir("fq_conv"))([x])[0]
    np.testing.assert_allclose(actual, expected, atol=1e-2 * float(np.ptp(expected)))


def test_convert_to_onnx_names_a_fake_quantize_without_qdq_form(real_ir, tmp_path):
    """Symmetric activation ranges with 256 levels put 0.0 between two points of the grid."""
    import openvino as ov
    import realdata
    model = ovmodels.insert_fake_quantize(ov.Core().read_model(real_ir("ppocr_cls")), [realdata.text_lines(48, 192, 2)])
    source = ovmodels.save(model, tmp_path / "sym.xml")
    proc = lpir_cli("convert", source, "-o", tmp_path / "sym.onnx", check=False)
    assert_user_error(proc, "FakeQuantize", "is not an integer", "float_fallback")
    assert not (tmp_path / "sym.onnx").exists()
    lpir_cli("convert", source, "-o", tmp_path / "sym.onnx", "--float-fallback")
    import onnxruntime as ort
    x = realdata.text_lines(48, 192, 2)
    actual = ort.InferenceSession(str(tmp_path / "sym.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    expected = lpir.compile_model(lpir.read_model(source))([x])[0]
    assert np.array_equal(actual.argmax(1), expected.argmax(1))


# -- run -----------------------------------------------------------------------------------
def test_run_with_input_file_matches_openvino(quantized_ir, tmp_path):
    path = quantized_ir("u4_group")
    x = np.random.default_rng(2).normal(size=(3, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    proc = lpir_cli("run", path, "--input", f"input={tmp_path / 'x.npy'}", "--output", tmp_path / "out.npz")
    saved = np.load(tmp_path / "out.npz")
    [name] = saved.files
    np.testing.assert_array_equal(saved[name], lpir.compile_model(path)({"input": x})[0])
    expected, = ovmodels.run(path, [x])  # OpenVINO dequantizes the f16 scales in f16: 1e-3 apart
    np.testing.assert_allclose(saved[name], expected, rtol=1e-2, atol=3e-3)
    assert f"{name}: float32 [3,12]" in proc.stdout and "top-5" in proc.stdout
    value = saved[name]
    assert f"max {value.max():.6g}" in proc.stdout


def test_run_random_dynamic_shape(real_ir, tmp_path):
    path = real_ir("ppocr_cls")
    proc = lpir_cli("run", path, "--random", "--seed", "3", "--shape", "x=2,3,48,192", "--output", tmp_path / "o.npz")
    [value] = np.load(tmp_path / "o.npz").values()
    assert value.shape == (2, 2)
    np.testing.assert_allclose(value.sum(axis=1), 1.0, rtol=1e-5)  # softmax probabilities
    assert "top-2" in proc.stdout


def test_run_random_dynamic_shape_without_shape_uses_one_and_says_so(real_onnx, tmp_path):
    """MiniLM's inputs are [batch, sequence], both dynamic: 1 each, said on the output."""
    proc = lpir_cli("run", real_onnx["minilm"], "--random", "--output", tmp_path / "o.npz")
    assert "input 'input_ids' [?,?]: dynamic dimensions set to 1, shape [1,1]" in proc.stdout
    outputs = np.load(tmp_path / "o.npz")
    assert all(value.shape[:2] in ((1, 1), (1, 384)) for value in outputs.values())


def test_run_random_shape_overrides_dynamic_dimensions(real_onnx, tmp_path):
    proc = lpir_cli("run", real_onnx["minilm"], "--random", "--shape", "input_ids=2,7", "--shape",
                    "attention_mask=2,7", "--output", tmp_path / "o.npz")
    assert "dynamic dimensions set to 1" not in proc.stdout
    assert any(value.shape[:2] == (2, 7) for value in np.load(tmp_path / "o.npz").values())


# -- errors --------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    assert_user_error(lpir_cli("inspect", tmp_path / "absent.xml", check=False), "absent.xml")


def test_malformed_xml(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<net version='11'><layers><layer")
    assert_user_error(lpir_cli("inspect", bad, check=False), "malformed XML")


def test_unknown_op_fails_to_run_but_inspects(quantized_ir, tmp_path):
    source = Path(quantized_ir("u4_group"))
    text = source.read_text().replace('type="MatMul"', 'type="NoSuchOp"')
    xml = tmp_path / "unknown.xml"
    xml.write_text(text)
    (tmp_path / "unknown.bin").write_bytes(source.with_suffix(".bin").read_bytes())
    assert_user_error(lpir_cli("run", xml, "--random", check=False), "NoSuchOp")
    assert "NoSuchOp" in lpir_cli("inspect", xml).stdout


def test_bad_flag_and_missing_inputs(quantized_ir):
    assert_user_error(lpir_cli("inspect", quantized_ir("fq_conv"), "--no-such-flag", check=False), "--no-such-flag")
    assert_user_error(lpir_cli("run", quantized_ir("fq_conv"), check=False), "--random")
    assert_user_error(lpir_cli("run", quantized_ir("fq_conv"), "--input", "oops", check=False), "NAME=VALUE")


def test_debug_shows_the_traceback(tmp_path):
    proc = lpir_cli("inspect", tmp_path / "absent.xml", "--debug", check=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


# -- demo ----------------------------------------------------------------------------------
def test_demo_classifies_upright_and_turned_text(tmp_path):
    proc = lpir_cli("demo", "--workdir", tmp_path)
    assert "accuracy: 14/14 (100%)" in proc.stdout
    assert "14/14 crops get the same prediction as before" in proc.stdout  # after int8 compression
    assert (tmp_path / "ppocr_cls.xml").exists() and (tmp_path / "ppocr_cls_int8.xml").exists()
    assert "layers compared on 14 crops; top-1 agreement" in proc.stdout  # the last step: INT8 against float
    html = (tmp_path / "compare.html").read_text()
    assert str(tmp_path / "compare.html") in proc.stdout and "<svg" in html and "<script" not in html


def test_demo_predictions_agree_with_onnxruntime(tmp_path):
    import onnxruntime as ort

    from lpir.demo import LABELS, MODEL_PATH, run_demo
    state = run_demo(tmp_path, say=lambda line: None)
    probabilities = ort.InferenceSession(str(MODEL_PATH)).run(None, {"x": state.batch})[0]
    assert [LABELS[i] for i in probabilities.argmax(axis=1)] == state.expected == state.predicted
    assert state.expected.count("0") == state.expected.count("180") >= 5


@pytest.mark.parametrize("args, fragment", [
    (["--random", "--shape", "input=-1,64"], "dimensions must be at least 1"),
    (["--input", "input={dir}/empty.npy"], "cannot load"),
    (["--input", "input={dir}/two.npz"], "holds several arrays"),
    (["--random", "--output", "{dir}/missing/out.npz"], "cannot write"),
    (["--random", "--top", "0"], "not a positive integer"),
])
def test_run_bad_arguments_are_one_line_errors(quantized_ir, tmp_path, args, fragment):
    (tmp_path / "empty.npy").write_bytes(b"")
    np.savez(tmp_path / "two.npz", a=np.zeros(1), b=np.ones(1))
    proc = lpir_cli("run", quantized_ir("u4_group"), *[a.format(dir=tmp_path) for a in args], check=False)
    assert_user_error(proc, fragment)


# -- integer and sparse runs, sparsify ------------------------------------------------------
def test_run_integer_prints_the_plan_and_matches_the_api(quantized_ir, tmp_path):
    path = quantized_ir("fq_conv")
    x = np.random.default_rng(4).random((1, 3, 16, 16), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    proc = lpir_cli("run", path, "--integer", "--input", f"input={tmp_path / 'x.npy'}", "--output", tmp_path / "o.npz")
    assert "2 of 2 layers run in integers" in proc.stdout and "u8 | i8" in proc.stdout
    saved = np.load(tmp_path / "o.npz")
    np.testing.assert_array_equal(saved[saved.files[0]], lpir.compile_model(path, integer=True)([x])[0])


def test_run_exact_prints_the_plan_and_equals_integer_mode(quantized_ir, tmp_path):
    path = quantized_ir("fq_conv")
    x = np.random.default_rng(5).random((1, 3, 16, 16), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    proc = lpir_cli("run", path, "--exact", "--input", f"input={tmp_path / 'x.npy'}", "--output", tmp_path / "o.npz")
    assert "2 of 2 layers run exactly" in proc.stdout and "exact" in proc.stdout.splitlines()[3]
    saved = np.load(tmp_path / "o.npz")
    np.testing.assert_array_equal(saved[saved.files[0]], lpir.compile_model(path, exact=True)([x])[0])
    proc = lpir_cli("run", path, "--exact", "--integer", "--random", check=False)
    assert_user_error(proc, "--integer and --exact", "choose one")


@pytest.mark.parametrize("arithmetic, listed", [
    ("openvino-cpu", ["openvino-cpu arithmetic: 5 node(s)", "not rounded; the sum on the skip's codes", "post-op formula",
                      "read by a fused residual sum"]),
    ("onnxruntime", ["onnxruntime arithmetic:", "accumulator's grid", "as ONNX's QuantizeLinear"]),
])
def test_run_with_an_arithmetic_lists_its_departures(tmp_path, arithmetic, listed):
    path = ovmodels.save(ovmodels.residual_block(), tmp_path / "block.xml")
    x = np.random.default_rng(6).random((1, 8, 12, 12), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    proc = lpir_cli("run", path, "--integer", "--arithmetic", arithmetic, "--input", f"x={tmp_path / 'x.npy'}",
                    "--output", tmp_path / "o.npz")
    assert all(text in proc.stdout for text in listed), proc.stdout
    saved = np.load(tmp_path / "o.npz")
    expected = lpir.compile_model(path, integer=True, arithmetic=arithmetic)([x])[0]
    np.testing.assert_array_equal(saved[saved.files[0]], expected)
    if arithmetic == "openvino-cpu":  # the onnxruntime rules here move no code of this input
        assert np.abs(expected - lpir.compile_model(path, integer=True)([x])[0]).max() > 0
    proc = lpir_cli("run", path, "--arithmetic", arithmetic, "--random", check=False)
    assert_user_error(proc, "integer=True or exact=True")


def test_run_integer_on_a_float_model_warns_and_runs(real_ir):
    proc = lpir_cli("run", real_ir("ppocr_cls"), "--integer", "--random", "--shape", "x=1,3,48,192")
    assert "no FakeQuantize" in proc.stderr and "0 of " in proc.stdout


def test_sparsify_then_run_sparse(real_ir, tmp_path):
    import realdata
    ids, mask = realdata.token_batch(3, 16)
    np.savez(tmp_path / "data.npz", input_ids=ids, attention_mask=mask)
    out = tmp_path / "sparse.xml"
    proc = lpir_cli("sparsify", real_ir("minilm"), "-o", out, "--sparsity", "0.9", "--data", tmp_path / "data.npz")
    assert "3 samples" in proc.stdout
    model = lpir.read_model(out)
    assert lpir.inspect_model(model).to_dict()["sparsity"]["overall"] > 0.85
    np.save(tmp_path / "ids.npy", ids[:1])
    np.save(tmp_path / "mask.npy", mask[:1])
    proc = lpir_cli("run", out, "--sparse-rate", "0.85", "--input", f"input_ids={tmp_path / 'ids.npy'}",
                    "--input", f"attention_mask={tmp_path / 'mask.npy'}")
    assert proc.stdout.count("sparse 90%") == 18


@pytest.mark.parametrize("args, fragment", [
    (["--sparsity", "1"], "must be in [0, 1)"),
    (["--pattern", "2:5"], "divisible by 5"),
    (["--pattern", "two"], "N:M"),
    (["--data", "{dir}/missing.npz"], "cannot load"),
])
def test_sparsify_bad_arguments_are_one_line_errors(real_ir, tmp_path, args, fragment):
    proc = lpir_cli("sparsify", real_ir("minilm"), "-o", tmp_path / "s.xml", *[a.format(dir=tmp_path) for a in args],
                    check=False)
    assert_user_error(proc, fragment)
    assert not (tmp_path / "s.xml").exists()


def test_run_bad_sparse_rate(quantized_ir):
    assert_user_error(lpir_cli("run", quantized_ir("fq_conv"), "--random", "--sparse-rate", "2", check=False),
                      "sparse_weights_rate")


def test_convert_tensor_iterator_ir_to_onnx_runs_as_openvino_does(tmp_path):
    """An IR with a TensorIterator (a recurrence read backwards in parts of 2) becomes one ONNX
    Loop that ONNX Runtime runs as OpenVINO's CPU plugin runs the IR."""
    import bodymodels
    import onnx
    import onnxruntime as ort
    model = bodymodels.tensor_iterator_model()
    source = ovmodels.save(model, tmp_path / "ti.xml")
    out = tmp_path / "ti.onnx"
    proc = lpir_cli("convert", source, "-o", out)
    assert "ONNX opset 13" in proc.stdout
    assert [n.op_type for n in onnx.load(str(out)).graph.node][0] == "Loop"
    inputs = bodymodels.inputs_for(model)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    actual = session.run(None, {i.name: v for i, v in zip(session.get_inputs(), inputs)})
    for got, expected in zip(actual, ovmodels.run(source, inputs)):
        np.testing.assert_allclose(got, expected, atol=1e-5 * float(np.ptp(expected)))
