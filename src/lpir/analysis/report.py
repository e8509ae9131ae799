"""Plain-text rendering of a :class:`~lpir.analysis.inspect.ModelReport` (what ``lpir inspect`` prints)."""

from __future__ import annotations

from collections.abc import Sequence

from lpir.analysis.inspect import ModelReport, overall_sparsity

MAX_ROWS = 40


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, limit: int | None = MAX_ROWS) -> str:
    """A left-aligned text table; beyond ``limit`` rows a last line says how many were left out."""
    shown = list(rows if limit is None else rows[:limit])
    cells = [[str(c) for c in headers]] + [[_cell(c) for c in row] for row in shown]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if limit is not None and len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more (use --json for all)")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "-"
    return str(value)


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def format_report(report: ModelReport) -> str:
    """The human view: one titled section per aspect, empty sections omitted."""
    constant_bytes = human_bytes(sum(c["bytes"] for c in report.constants.values()))
    headline = (f"model '{report.model}': {sum(report.op_counts.values())} nodes, "
                f"{report.parameters:,} parameters, {constant_bytes} of constants")
    sections = [headline]
    ports = [("input", p) for p in report.inputs] + [("output", p) for p in report.outputs]
    sections.append(table(["port", "name", "type", "shape"],
                          [(kind, p["name"], p["element_type"], f"[{p['shape']}]") for kind, p in ports], limit=None))
    ops = [(name, count) for name, count in sorted(report.op_counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    sections.append("ops\n" + table(["op", "count"], ops, limit=None))
    sections.append("constants by element type\n" + table(
        ["type", "tensors", "elements", "bytes"],
        [(t, c["count"], f"{c['elements']:,}", human_bytes(c["bytes"])) for t, c in report.constants.items()],
        limit=None))
    sections += _low_precision_sections(report)
    if report.sparsity is not None:
        rows = [(s.layer, s.op_type, f"{s.elements:,}", f"{s.zeros:,}", f"{100 * s.sparsity:.1f}%")
                for s in report.sparsity]
        sections.append(f"weight sparsity (exact zeros): {100 * overall_sparsity(report.sparsity):.2f}% overall\n"
                        + table(["layer", "op", "weights", "zeros", "sparsity"], rows))
    return "\n\n".join(sections)


def _range_text(limits: tuple[float, float] | None) -> str:
    return "computed" if limits is None else f"[{limits[0]:.4g}, {limits[1]:.4g}]"


def _low_precision_sections(report: ModelReport) -> list[str]:
    sections = []
    if report.fake_quantize:
        rows = [(fq.name, fq.levels, fq.applies_to, _granularity(fq.granularity, fq.channel_axis),
                 _range_text(fq.output_range), "signed" if fq.signed else "unsigned",
                 fq.precision or f"({fq.runtime_precision})", "yes" if fq.zero_point else "no")
                for fq in report.fake_quantize]
        sections.append(f"FakeQuantize ({len(rows)})\n" + table(
            ["name", "levels", "on", "granularity", "output range", "sign", "precision", "zero point"], rows))
    if report.compressed_weights:
        rows = [(w.name, w.element_type, "x".join(map(str, w.shape)),
                 f"group {w.group_size}" if w.granularity == "group" else w.granularity,
                 "yes" if w.zero_point else "no", w.scale_type) for w in report.compressed_weights]
        sections.append(f"compressed weights ({len(rows)})\n" + table(
            ["weight", "type", "shape", "granularity", "zero point", "scale"], rows))
    if report.layers:
        low = sum(layer.mode == "low-precision" for layer in report.layers)
        rows = [(layer.name, layer.type, layer.mode, " | ".join(layer.inputs), layer.reason) for layer in report.layers]
        sections.append(f"layers: {low} of {len(rows)} run in low precision\n" + table(
            ["layer", "op", "runs", "inputs", "why"], rows))
    return sections


def _granularity(kind: str, axis: int | None) -> str:
    return f"{kind} (axis {axis})" if axis is not None else kind
