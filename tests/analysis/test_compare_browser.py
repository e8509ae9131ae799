"""The comparison report opened in a real browser (headless Chromium driven by Playwright).

The HTML test next door parses the file; this one checks what a reader sees: the page loads
from disk with no other request, the SQNR plot and histograms are laid out as the figures say
(position follows value), the jump is marked, and the tables read the JSON's numbers.

Chromium comes from the system (Debian's ``chromium`` package; ``.ci/run`` installs it) or from
``LPIR_CHROMIUM``. Without one the test is skipped, except where ``LPIR_REQUIRE_BROWSER`` is set
(CI), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil

import pytest

import lpir
import realdata
from lpir.analysis.compare import SQNR_CAP
from lpir.analysis.compare_html import write_html

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]


def chromium() -> str:
    found = os.environ.get("LPIR_CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if found is None:
        if os.environ.get("LPIR_REQUIRE_BROWSER"):
            pytest.fail("no Chromium found (install Debian's chromium or set LPIR_CHROMIUM)")
        pytest.skip("no Chromium on this machine (install Debian's chromium or set LPIR_CHROMIUM)")
    return found


@pytest.fixture(scope="module")
def report(real_ir):
    """PP-OCR's classifier against its lpir INT8 version, on real text lines."""
    lines = realdata.text_lines(48, 192, 6)
    float_model = lpir.read_model(real_ir("ppocr_cls"))
    int8 = lpir.quantize(float_model, [lines[i:i + 1] for i in range(4)])
    return lpir.compare_models(float_model, int8, [[lines[4:6]]])


@pytest.fixture(scope="module")
def page(report, tmp_path_factory):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_html(report, path, top=5)
    requests, problems = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(path.as_uri(), wait_until="load")
            yield page, requests, problems
        finally:
            browser.close()


def test_the_report_loads_from_disk_alone(page):
    tab, requests, problems = page
    assert requests == [tab.url] and tab.url.startswith("file://")
    assert problems == []
    assert tab.title() == "lpir compare"


def test_the_sqnr_plot_places_every_layer_by_order_and_value(page, report):
    tab, _, _ = page
    plot = tab.locator("svg#sqnr").bounding_box()
    assert plot["width"] > 800 and plot["height"] > 200
    points = tab.eval_on_selector_all(
        "svg#sqnr circle",
        "cs => cs.map(c => { const b = c.getBoundingClientRect();"
        " return [c.dataset.layer, b.x + b.width / 2, b.y + b.height / 2, b.width, c.dataset.jump === 'true']; })")
    assert [name for name, *_ in points] == [layer.name for layer in report.layers]
    xs = [x for _, x, *_ in points]
    assert all(b > a for a, b in zip(xs, xs[1:]))
    assert all(plot["x"] <= x <= plot["x"] + plot["width"] and plot["y"] <= y <= plot["y"] + plot["height"]
               for _, x, y, _, _ in points)
    # Higher SQNR is drawn higher on the page: order by value equals order by height.
    finite = [(layer.stats.sqnr_db, y) for layer, (_, _, y, _, _) in zip(report.layers, points)
              if layer.stats.sqnr_db < SQNR_CAP]
    best, worst = max(finite), min(finite)
    assert best[1] < worst[1]
    assert report.jump is not None
    jumps = [(name, width) for name, _, _, width, jump in points if jump]
    assert [name for name, _ in jumps] == [report.jump]
    assert jumps[0][1] > max(width for *_, width, jump in points if not jump)


def test_histogram_bars_are_as_tall_as_their_counts(page, report):
    tab, _, _ = page
    histograms = tab.eval_on_selector_all(
        "svg.histogram",
        "ss => ss.map(s => [s.dataset.fq, Array.from(s.querySelectorAll('rect'),"
        " r => [Number(r.dataset.count), r.getBoundingClientRect().height])])")
    shown = {q.name: q.counts for layer in report.worst(5) for q in layer.quantized_inputs}
    assert histograms and {name for name, _ in histograms} == set(shown)
    for name, bars in histograms:
        assert [count for count, _ in bars] == [int(c) for c in shown[name]]
        peak_count, peak_height = max(bars)
        for count, height in bars:
            assert height == pytest.approx(peak_height * count / peak_count, abs=0.6)


def test_the_tables_read_the_report(page, report):
    tab, _, _ = page
    rows = tab.eval_on_selector_all(
        "table#layers tr[data-layer]",
        "rs => rs.map(r => [r.dataset.layer, r.className, Array.from(r.cells, c => c.innerText)])")
    worst = report.worst(5)
    assert [name for name, _, _ in rows] == [layer.name for layer in worst]
    for (name, css, cells), layer in zip(rows, worst):
        assert float(cells[2]) == pytest.approx(layer.stats.sqnr_db, rel=1e-3)
        assert float(cells[4]) == pytest.approx(layer.stats.to_dict()["max_abs_error_of_range"], rel=1e-3)
        assert (css == "jump") == (name == report.jump)
    output = tab.eval_on_selector_all("table#outputs td", "cs => cs.map(c => c.innerText)")
    assert output[0] == report.outputs[0]["name"]
    assert float(output[1]) == pytest.approx(report.outputs[0]["sqnr_db"], rel=1e-3)
