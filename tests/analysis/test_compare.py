"""compare_models: streamed per-layer metrics checked against the same metrics computed at once
with numpy from every activation, on PP-OCR's classifier and its NNCF INT8 version."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

import lpir
import realdata


def sqnr(reference: np.ndarray, candidate: np.ndarray) -> float:
    r, c = reference.astype(np.float64).ravel(), candidate.astype(np.float64).ravel()
    return 10 * math.log10(np.sum(r * r) / np.sum((c - r) ** 2))


def samples(count: int = 3) -> list[list[np.ndarray]]:
    lines = realdata.text_lines(48, 192, 2 * count)
    return [[lines[2 * i:2 * i + 2]] for i in range(count)]


def activations(model: lpir.Model, names: list[str], data) -> dict[str, np.ndarray]:
    """Every sample's value of each named layer, concatenated (what the report must not store)."""
    compiled = lpir.compile_model(model)
    seen: dict[str, list[np.ndarray]] = {n: [] for n in names}
    taps = compiled.tap(names, lambda out, value: seen[out.node.name].append(np.array(value)))
    for sample in data:
        compiled(sample, taps=taps)
    return {n: np.concatenate([v.ravel() for v in values]) for n, values in seen.items()}


@pytest.fixture(scope="module")
def report_and_models(real_ir, nncf_cls):
    reference, candidate = lpir.read_model(real_ir("ppocr_cls")), lpir.read_model(nncf_cls)
    return lpir.compare_models(reference, candidate, samples()), reference, candidate


def test_streamed_metrics_equal_metrics_over_all_activations(report_and_models):
    report, reference, candidate = report_and_models
    assert report.samples == 3 and len(report.layers) > 100
    picked = [report.layers[5], report.worst(1)[0], report.layers[-1]]
    names = [layer.name for layer in picked]
    ref, cand = activations(reference, names, samples()), activations(candidate, names, samples())
    for layer in picked:
        r, c = ref[layer.name], cand[layer.name]
        assert layer.stats.sqnr_db == pytest.approx(sqnr(r, c), rel=1e-9)
        cosine = float(r.astype(np.float64) @ c / np.linalg.norm(r.astype(np.float64)) / np.linalg.norm(c.astype(np.float64)))
        assert layer.stats.cosine == pytest.approx(cosine, rel=1e-9)
        span = float(r.max() - r.min())
        assert layer.stats.to_dict()["max_abs_error_of_range"] == pytest.approx(np.abs(c.astype(np.float64) - r).max() / span)


def test_outputs_and_clipping_against_direct_runs(report_and_models):
    report, reference, candidate = report_and_models
    data = samples()
    ref_out = np.concatenate([lpir.compile_model(reference)(s)[0] for s in data])
    cand_out = np.concatenate([lpir.compile_model(candidate)(s)[0] for s in data])
    [output] = report.outputs
    assert output["top1_agreement"] == pytest.approx(np.mean(ref_out.argmax(1) == cand_out.argmax(1)))
    assert output["sqnr_db"] == pytest.approx(sqnr(ref_out, cand_out), rel=1e-9)
    clipped = [q for layer in report.layers for q in layer.quantized_inputs]
    assert clipped, "the INT8 model's layers read FakeQuantize outputs"
    fq = candidate.node(clipped[0].name)
    [values] = activations(candidate, [fq.inputs[0].source.node.name], data).values()
    low, high = clipped[0].input_range
    assert clipped[0].to_dict()["clipped_share"] == pytest.approx(np.mean((values < low) | (values > high)))
    assert clipped[0].to_dict()["values_seen"] == pytest.approx([values.min(), values.max()])
    histogram = clipped[0].to_dict()["histogram"]
    expected, _ = np.histogram(values.astype(np.float64), bins=len(histogram["counts"]), range=histogram["range"])
    assert histogram["counts"] == expected.tolist()
    assert histogram["below"] + sum(histogram["counts"]) + histogram["above"] == values.size


def test_first_jump_and_ranking(report_and_models):
    report = report_and_models[0]
    order = [layer.stats.sqnr_db for layer in report.worst()]
    assert order == sorted(order)
    names = [layer.name for layer in report.layers]
    assert report.jump in names
    before = [layer.stats.sqnr_db for layer in report.layers[:names.index(report.jump)]]
    jump = report.layers[names.index(report.jump)].stats.sqnr_db
    assert all(jump < min(s, 150.0) - 6.0 for s in before)


def test_a_model_against_itself_has_no_error(real_ir):
    model = lpir.read_model(real_ir("ppocr_cls"))
    report = lpir.compare_models(model, model, samples(1))
    assert all(math.isinf(layer.stats.sqnr_db) and layer.stats.cosine == pytest.approx(1.0) for layer in report.layers)
    assert report.jump is None and report.outputs[0]["top1_agreement"] == 1.0


def test_layers_that_do_not_match_are_reported(real_ir, real_onnx):
    """The ONNX import names layers after ONNX nodes, OpenVINO's converter after its own: few match."""
    report = lpir.compare_models(real_ir("ppocr_cls"), real_onnx["ppocr_cls"], samples(1))
    assert report.only_in_reference and report.only_in_candidate
    with pytest.raises(lpir.ValidationError, match="not in both models"):
        lpir.compare_models(real_ir("ppocr_cls"), real_onnx["ppocr_cls"], samples(1), layers=["no such layer"])


def test_a_sample_the_candidate_cannot_run_names_it(real_ir, quantized_ir):
    with pytest.raises(lpir.LpirError, match="the candidate model cannot run this sample"):
        lpir.compare_models(real_ir("ppocr_cls"), quantized_ir("fq_conv"), samples(1))


def test_cli_json_is_the_api_report(real_ir, nncf_cls, tmp_path):
    data = samples(2)
    for i, sample in enumerate(data):
        np.savez(tmp_path / f"s{i}.npz", x=sample[0])
    proc = subprocess.run([sys.executable, "-m", "lpir", "compare", real_ir("ppocr_cls"), str(nncf_cls),
                           "--data", str(tmp_path), "--json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    expected = json.loads(json.dumps(lpir.compare_models(real_ir("ppocr_cls"), nncf_cls, data).to_dict()))
    # Equal up to the float summation order of BLAS, which depends on its thread count (one
    # process against another).
    assert json.loads(proc.stdout) == _approx(expected)
    table = subprocess.run([sys.executable, "-m", "lpir", "compare", real_ir("ppocr_cls"), str(nncf_cls),
                            "--data", str(tmp_path / "s0.npz"), "--top", "3"], capture_output=True, text=True,
                           timeout=600)
    assert table.returncode == 0 and "worst 3 layers" in table.stdout and "top-1 agreement" in table.stdout


def _approx(value):
    """``value`` (parsed JSON) with every float compared to a relative 1e-6."""
    if isinstance(value, dict):
        return {key: _approx(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_approx(v) for v in value]
    return pytest.approx(value, rel=1e-6, abs=1e-12) if isinstance(value, float) else value


class _Cells(HTMLParser):
    """The data-value cells of each table row and the plotted SQNR points of an HTML report."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.points: list[tuple[str, str, bool]] = []
        self.histograms: dict[str, list[int]] = {}
        self.external: list[str] = []
        self._table = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "link", "img", "iframe"):
            self.external.append(tag)
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("id"), [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag == "td" and "data-value" in attrs:
            self._table[-1].append(attrs["data-value"])
        elif tag == "svg" and "data-fq" in attrs:
            self.histograms[attrs["data-fq"]] = []
            self._histogram = self.histograms[attrs["data-fq"]]
        elif tag == "rect":
            self._histogram.append(int(attrs["data-count"]))
        elif tag == "circle":
            self.points.append((attrs["data-layer"], attrs["data-sqnr"], attrs.get("data-jump") == "true"))

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None


def test_html_report_is_self_contained_and_holds_the_json_figures(real_ir, nncf_cls, tmp_path):
    np.savez(tmp_path / "sample.npz", x=samples(1)[0][0])
    html = tmp_path / "report.html"
    proc = subprocess.run([sys.executable, "-m", "lpir", "compare", real_ir("ppocr_cls"), str(nncf_cls), "--data",
                           str(tmp_path / "sample.npz"), "--json", "--html", str(html), "--top", "5"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    parser = _Cells()
    parser.feed(html.read_text())
    assert not parser.external and "http" not in html.read_text().replace("http://www.w3.org/2000/svg", "")
    [output_row] = [row for row in parser.tables["outputs"] if row]
    assert float(output_row[0]) == report["outputs"][0]["sqnr_db"]
    assert float(output_row[3]) == report["outputs"][0]["top1_agreement"]
    worst = sorted(report["layers"], key=lambda layer: float(layer["sqnr_db"]))[:5]
    rows = [row for row in parser.tables["layers"] if row]
    assert [float(row[0]) for row in rows] == [float(layer["sqnr_db"]) for layer in worst]
    assert [float(row[2]) for row in rows] == [layer["max_abs_error_of_range"] for layer in worst]
    assert [name for name, _, _ in parser.points] == [layer["name"] for layer in report["layers"]]
    assert [name for name, _, jump in parser.points if jump] == [report["first_jump"]]
    shown = {q["name"]: q["histogram"]["counts"] for layer in worst for q in layer["quantized_inputs"]}
    assert shown and parser.histograms == shown
