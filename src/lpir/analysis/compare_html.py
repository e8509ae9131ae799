"""A comparison report as one self-contained HTML file: no script, no network, the plot inline SVG.

It shows the output metrics, SQNR of every compared layer along the graph order (the layer where
the error first jumps marked), the worst layers with the clipping at their quantized inputs, and
histograms of those inputs with the FakeQuantize range and the clipped tails.
Every figure is also an element a program can read: table cells carry ``data-value`` attributes
with the numbers of the JSON report, unrounded.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

from lpir.analysis.compare import SQNR_CAP, CompareReport
from lpir.errors import ValidationError

_WIDTH, _HEIGHT, _PAD = 900, 260, 40
_STYLE = """body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.jump{background:#fde2e2}svg{border:1px solid #ddd;background:#fafafa}"""


def write_html(report: CompareReport, path: Path, *, title: str = "lpir compare", top: int = 20) -> None:
    """Write :func:`render_html` to ``path`` atomically (no half-written report on failure)."""
    from lpir.io.atomic import TempFile
    temp = TempFile(path)
    try:
        with temp.open() as file:
            file.write(render_html(report, title=title, top=top).encode("utf-8"))
        temp.link()
        temp.commit()
    except OSError as exc:
        temp.discard()
        raise ValidationError(f"{path}: cannot write the report ({exc.strerror or exc})") from exc


def render_html(report: CompareReport, *, title: str = "lpir compare", top: int = 20) -> str:
    """The report as an HTML document (a string)."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>",
             f"<p id='summary'>{report.samples} sample(s), {len(report.layers)} layers compared, "
             f"{len(report.only_in_reference)} only in the reference, {len(report.only_in_candidate)} only in the "
             "candidate.</p>", "<h2>Outputs</h2>", _outputs_table(report), "<h2>SQNR by layer (graph order)</h2>",
             _sqnr_plot(report)]
    if report.jump:
        parts.append(f"<p id='jump'>The error first jumps at layer <b>{escape(report.jump)}</b>.</p>")
    parts += [f"<h2>Worst {min(top, len(report.layers))} layers</h2>", _layers_table(report, top),
              "<h2>Quantized inputs of the worst layers</h2>", _histograms(report, top), "</body></html>"]
    return "\n".join(parts)


def _cell(value, digits: str = ".4g") -> str:
    if value is None:
        return "<td>-</td>"
    if isinstance(value, str):
        return f"<td data-value='{escape(value)}'>{escape(value)}</td>"
    return f"<td data-value='{value!r}'>{format(value, digits)}</td>"


def _outputs_table(report: CompareReport) -> str:
    rows = ["<table id='outputs'><tr><th>output</th><th>SQNR dB</th><th>cosine</th><th>max err/range</th>"
            "<th>top-1 agreement</th></tr>"]
    for out in report.outputs:
        rows.append(f"<tr><td>{escape(out['name'])}</td>{_cell(out['sqnr_db'])}{_cell(out['cosine'])}"
                    f"{_cell(out['max_abs_error_of_range'])}{_cell(out.get('top1_agreement'))}</tr>")
    return "".join(rows) + "</table>"


def _layers_table(report: CompareReport, top: int) -> str:
    rows = ["<table id='layers'><tr><th>layer</th><th>op</th><th>SQNR dB</th><th>cosine</th><th>max err/range</th>"
            "<th>mean err/range</th><th>clipped at quantized inputs</th><th>input range / values seen</th></tr>"]
    for layer in report.worst(top):
        d = layer.stats.to_dict()
        quantized = [q.to_dict() for q in layer.quantized_inputs]
        clipped = ", ".join(f"{q['clipped_share']:.2%}" for q in quantized) or "-"
        ranges = "; ".join(f"[{q['input_range'][0]:.4g}, {q['input_range'][1]:.4g}] / "
                           f"[{q['values_seen'][0]:.4g}, {q['values_seen'][1]:.4g}]" for q in quantized) or "-"
        mark = " class='jump'" if layer.name == report.jump else ""
        rows.append(f"<tr{mark} data-layer='{escape(layer.name)}'><td>{escape(layer.name)}</td>"
                    f"<td>{escape(layer.op_type)}</td>{_cell(d['sqnr_db'])}{_cell(d['cosine'])}"
                    f"{_cell(d['max_abs_error_of_range'])}{_cell(d['mean_abs_error_of_range'])}"
                    f"<td>{clipped}</td><td>{escape(ranges)}</td></tr>")
    return "".join(rows) + "</table>"


def _histograms(report: CompareReport, top: int) -> str:
    """Per quantized input of the worst layers: the values seen, the FakeQuantize range (red lines)
    and the clipped tails (red bars outside it)."""
    parts = []
    for layer in report.worst(top):
        for clip in layer.quantized_inputs:
            parts.append(f"<h3>{escape(layer.name)} &larr; {escape(clip.name)}</h3>{_histogram_svg(clip)}")
    return "".join(parts) or "<p>No quantized inputs among these layers.</p>"


def _histogram_svg(clip) -> str:
    width, height, pad = 600, 160, 24
    counts = clip.counts
    start, stop = clip.edges
    low, high = clip.input_range
    peak = max(int(counts.max()), 1)
    bar = (width - 2 * pad) / len(counts)

    def x(value):
        return pad + (width - 2 * pad) * (value - start) / (stop - start)

    parts = [f"<svg class='histogram' data-fq='{escape(clip.name)}' data-below='{clip.below}' "
             f"data-above='{clip.above}' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'>"]
    for i, count in enumerate(counts):
        left = start + (stop - start) * i / len(counts)
        right = start + (stop - start) * (i + 1) / len(counts)
        colour = "#dc2626" if left < low or right > high else "#2563eb"
        h = (height - 2 * pad) * count / peak
        parts.append(f"<rect x='{pad + i * bar:.1f}' y='{height - pad - h:.1f}' width='{bar - 1:.1f}' "
                     f"height='{h:.1f}' fill='{colour}' data-count='{int(count)}'/>")
    for edge in (low, high):
        parts.append(f"<line x1='{x(edge):.1f}' x2='{x(edge):.1f}' y1='{pad / 2}' y2='{height - pad}' "
                     "stroke='#dc2626' stroke-dasharray='4 2'/>")
    parts.append(f"<text x='{pad}' y='{height - 6}' font-size='11'>[{low:.4g}, {high:.4g}], {clip.levels} levels; "
                 f"clipped {clip.clipped / max(clip.count, 1):.2%}; values seen [{clip.low:.4g}, {clip.high:.4g}]</text>")
    return "".join(parts) + "</svg>"


def _sqnr_plot(report: CompareReport) -> str:
    values = [min(layer.stats.sqnr_db, SQNR_CAP) for layer in report.layers]
    if not values:
        return "<p>No layer to plot.</p>"
    finite = [v for v in values if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    high = high if high > low else low + 1.0

    def x(i):
        return _PAD + (_WIDTH - 2 * _PAD) * (i / max(len(values) - 1, 1))

    def y(v):
        v = low if not math.isfinite(v) else v
        return _HEIGHT - _PAD - (_HEIGHT - 2 * _PAD) * (v - low) / (high - low)

    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    parts = [f"<svg id='sqnr' xmlns='http://www.w3.org/2000/svg' width='{_WIDTH}' height='{_HEIGHT}'>",
             f"<polyline fill='none' stroke='#2563eb' stroke-width='1.5' points='{points}'/>",
             f"<text x='4' y='{_PAD - 8}' font-size='11'>{high:.1f} dB</text>",
             f"<text x='4' y='{_HEIGHT - _PAD + 14}' font-size='11'>{low:.1f} dB</text>",
             f"<text x='{_WIDTH / 2 - 60:.0f}' y='{_HEIGHT - 8}' font-size='11'>layers in graph order</text>"]
    for i, layer in enumerate(report.layers):
        mark = " data-jump='true'" if layer.name == report.jump else ""
        colour = "#dc2626" if layer.name == report.jump else "#2563eb"
        radius = 4 if layer.name == report.jump else 1.5
        parts.append(f"<circle cx='{x(i):.1f}' cy='{y(values[i]):.1f}' r='{radius}' fill='{colour}'"
                     f" data-layer='{escape(layer.name)}' data-sqnr='{values[i]!r}'{mark}>"
                     f"<title>{escape(layer.name)}: {values[i]:.2f} dB</title></circle>")
    return "".join(parts) + "</svg>"
