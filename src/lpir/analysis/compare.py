"""Where a model departs from its reference: per-layer error of two models over the same samples.

Both models run in lpir's interpreter on each sample; taps hand over the outputs of the layers
whose names both models have (NNCF and lpir keep a layer's name when they insert FakeQuantize or
decompression nodes around it). The reference's tapped values of one sample are held until the
candidate has produced the same layers, then folded into running sums: memory holds one
sample's activations, never the dataset's. For each FakeQuantize of the candidate the share of
its input values outside its input range (clipped) and the range of the values seen are kept
the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from lpir.errors import LpirError, ValidationError
from lpir.ir.graph import Model, Output

# A layer whose SQNR is this many dB below every earlier layer's is where the error jumps.
JUMP_DB = 6.0
SQNR_CAP = 150.0
HISTOGRAM_BINS = 64
_SKIPPED = ("Const", "Parameter", "Result", "FakeQuantize", "Convert")


@dataclass
class ErrorStats:
    """Running sums of one tensor pair: reference r, candidate c."""

    count: int = 0
    sum_r2: float = 0.0
    sum_c2: float = 0.0
    sum_rc: float = 0.0
    sum_e2: float = 0.0
    sum_abs_e: float = 0.0
    max_abs_e: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, reference: np.ndarray, candidate: np.ndarray) -> None:
        r = np.asarray(reference, np.float64).reshape(-1)
        c = np.asarray(candidate, np.float64).reshape(-1)
        e = c - r
        self.count += r.size
        self.sum_r2 += float(r @ r)
        self.sum_c2 += float(c @ c)
        self.sum_rc += float(r @ c)
        self.sum_e2 += float(e @ e)
        if r.size:
            abs_e = np.abs(e)
            self.sum_abs_e += float(abs_e.sum())
            self.max_abs_e = max(self.max_abs_e, float(abs_e.max()))
            self.low, self.high = min(self.low, float(r.min())), max(self.high, float(r.max()))

    @property
    def sqnr_db(self) -> float:
        """Signal (reference) to error power, in dB (inf when identical)."""
        if self.sum_e2 == 0:
            return math.inf
        return 10 * math.log10(self.sum_r2 / self.sum_e2) if self.sum_r2 > 0 else -math.inf

    @property
    def cosine(self) -> float:
        norm = math.sqrt(self.sum_r2 * self.sum_c2)
        return self.sum_rc / norm if norm > 0 else (1.0 if self.sum_e2 == 0 else 0.0)

    @property
    def span(self) -> float:
        return (self.high - self.low) if self.high > self.low else max(abs(self.high), 1.0)

    def to_dict(self) -> dict:
        return {"sqnr_db": _finite(self.sqnr_db), "cosine": self.cosine,
                "max_abs_error_of_range": self.max_abs_e / self.span,
                "mean_abs_error_of_range": self.sum_abs_e / max(self.count, 1) / self.span,
                "reference_range": [self.low, self.high], "elements": self.count}


def _finite(value: float) -> float | str:
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


@dataclass
class ClipStats:
    """What a FakeQuantize of the candidate saw: values outside its input range, values' range,
    and a histogram of the values over the range widened by half its width on each side (values
    further out are counted in ``below``/``above``)."""

    name: str
    input_range: tuple[float, float]
    levels: int = 256
    count: int = 0
    clipped: int = 0
    low: float = math.inf
    high: float = -math.inf
    counts: np.ndarray = field(default_factory=lambda: np.zeros(HISTOGRAM_BINS, np.int64))
    below: int = 0
    above: int = 0

    @property
    def edges(self) -> tuple[float, float]:
        lo, hi = self.input_range
        margin = (hi - lo) / 2 if hi > lo else 1.0
        return lo - margin, hi + margin

    def add(self, values: np.ndarray) -> None:
        lo, hi = self.input_range
        values = np.asarray(values, np.float64).reshape(-1)
        self.count += values.size
        self.clipped += int(np.count_nonzero((values < lo) | (values > hi)))
        if values.size:
            self.low, self.high = min(self.low, float(values.min())), max(self.high, float(values.max()))
        start, stop = self.edges
        self.counts += np.histogram(values, bins=HISTOGRAM_BINS, range=(start, stop))[0]
        self.below += int(np.count_nonzero(values < start))
        self.above += int(np.count_nonzero(values > stop))

    def to_dict(self) -> dict:
        return {"name": self.name, "levels": self.levels, "input_range": list(self.input_range),
                "values_seen": [self.low, self.high], "clipped_share": self.clipped / max(self.count, 1),
                "histogram": {"range": list(self.edges), "counts": self.counts.tolist(), "below": self.below,
                              "above": self.above}}


@dataclass
class LayerComparison:
    name: str
    op_type: str
    stats: ErrorStats
    quantized_inputs: list[ClipStats] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.op_type, **self.stats.to_dict(),
                "quantized_inputs": [q.to_dict() for q in self.quantized_inputs]}


@dataclass
class CompareReport:
    """Per-layer and per-output error of a candidate model against a reference."""

    samples: int
    outputs: list[dict]
    layers: list[LayerComparison]             # in the reference's graph order
    only_in_reference: list[str]
    only_in_candidate: list[str]
    jump: str | None                          # the first layer where the error jumps

    def worst(self, count: int | None = None) -> list[LayerComparison]:
        """Layers by SQNR, worst first."""
        ranked = sorted(self.layers, key=lambda layer: layer.stats.sqnr_db)
        return ranked if count is None else ranked[:count]

    def to_dict(self) -> dict:
        return {"schema_version": 1, "samples": self.samples, "outputs": self.outputs,
                "layers": [layer.to_dict() for layer in self.layers], "first_jump": self.jump,
                "only_in_reference": self.only_in_reference, "only_in_candidate": self.only_in_candidate}


def compare_models(reference: Model, candidate: Model, dataset: Iterable, *, layers: Iterable[str] | None = None,
                   progress: Callable[[Iterable], Iterable] | None = None) -> CompareReport:
    """Run both models on every sample of ``dataset`` (inputs as ``compiled(...)`` takes them) and
    compare the outputs of the layers both have by name (``layers`` narrows them)."""
    from lpir.runtime import compile_model
    ref_by_name, cand_by_name = _layer_outputs(reference), _layer_outputs(candidate)
    common = [name for name in ref_by_name if name in cand_by_name
              and _same_shape(ref_by_name[name], cand_by_name[name])]
    if layers is not None:
        wanted = list(layers)
        unknown = [name for name in wanted if name not in common]
        if unknown:
            raise ValidationError(f"layers not in both models (or of different shapes): {', '.join(unknown[:10])}")
        common = [name for name in common if name in set(wanted)]
    compiled_ref, compiled_cand = compile_model(reference), compile_model(candidate)
    stats = {name: ErrorStats() for name in common}
    clips = _clip_stats(candidate, cand_by_name, common)
    outputs = [ErrorStats() for _ in reference.outputs]
    agreement = [[0, 0] for _ in reference.outputs]
    held: dict[str, np.ndarray] = {}

    def on_reference(output: Output, value: np.ndarray) -> None:
        held[output.node.name] = np.array(value, copy=True)

    def on_candidate(output: Output, value: np.ndarray) -> None:
        name = output.node.name
        if name in held:
            stats[name].add(held.pop(name), value)
        for clip in clips.get(_key(output), ()):
            clip.add(np.asarray(value))

    ref_taps = compiled_ref.tap([ref_by_name[n] for n in common], on_reference)
    fq_inputs = [fq.inputs[0].source for fq in _fake_quantizes(candidate)]
    cand_taps = compiled_cand.tap([cand_by_name[n] for n in common] + fq_inputs, on_candidate)
    samples = 0
    for sample in (progress or (lambda x: x))(dataset):
        ref_out = _run(compiled_ref, sample, ref_taps, "reference")
        cand_out = _run(compiled_cand, sample, cand_taps, "candidate")
        held.clear()
        samples += 1
        for i, (r, c) in enumerate(zip(ref_out, cand_out)):
            if np.shape(r) != np.shape(c):
                raise ValidationError(f"output {i}: reference shape {np.shape(r)} differs from candidate {np.shape(c)}")
            outputs[i].add(r, c)
            if np.ndim(r) == 2 and np.shape(r)[1] > 1:
                agreement[i][0] += int(np.sum(np.argmax(r, 1) == np.argmax(c, 1)))
                agreement[i][1] += np.shape(r)[0]
    if samples == 0:
        raise ValidationError("the dataset holds no samples")
    compared = [LayerComparison(n, ref_by_name[n].node.type, stats[n], clips.get(("layer", n), [])) for n in common]
    return CompareReport(samples, _output_summaries(reference, outputs, agreement), compared,
                         [n for n in ref_by_name if n not in cand_by_name],
                         [n for n in cand_by_name if n not in ref_by_name], _first_jump(compared))


def _run(compiled, sample, taps, which: str):
    try:
        return compiled(sample, taps=taps)
    except LpirError as exc:
        raise type(exc)(f"the {which} model cannot run this sample: {exc}") from exc


def _layer_outputs(model: Model) -> dict[str, Output]:
    """Float outputs of single-output layers by node name, in graph order."""
    outputs = {}
    for node in model.nodes():
        if node.type in _SKIPPED or len(node.outputs) != 1:
            continue
        out = node.outputs[0]
        if out.etype.is_float and not _is_constant(node):
            outputs[node.name] = out
    return outputs


def _is_constant(node) -> bool:
    from lpir.ops import static_value
    return all(p.source.node.type == "Const" for p in node.inputs) or static_value(node.outputs[0]) is not None


def _same_shape(a: Output, b: Output) -> bool:
    return a.shape is None or b.shape is None or len(a.shape) == len(b.shape)


def _key(output: Output) -> tuple[int, int]:
    return (output.node.uid, output.index)


def _fake_quantizes(model: Model) -> list:
    from lpir.ops import static_value
    return [n for n in model.nodes() if n.type == "FakeQuantize" and static_value(n.inputs[0].source) is None
            and all(static_value(p.source) is not None for p in n.inputs[1:3])]


def _clip_stats(candidate: Model, by_name: dict[str, Output], common: list[str]) -> dict:
    """ClipStats per FakeQuantize input, found both by the tapped output and by the layer it feeds."""
    from lpir.ops import static_value
    result: dict = {}
    layer_of = {id(by_name[n].node): n for n in common}
    for fq in _fake_quantizes(candidate):
        low, high = (float(np.min(static_value(p.source))) for p in fq.inputs[1:3])
        clip = ClipStats(fq.name, (low, high), int(fq.attrs["levels"]))
        result.setdefault(_key(fq.inputs[0].source), []).append(clip)
        for consumer in fq.outputs[0].consumers:
            name = layer_of.get(id(consumer.node))
            if name is not None:
                result.setdefault(("layer", name), []).append(clip)
    return result


def _output_summaries(model: Model, stats: list[ErrorStats], agreement: list[list[int]]) -> list[dict]:
    summaries = []
    for out, s, (same, total) in zip(model.outputs, stats, agreement):
        entry = {"name": out.names[0] if out.names else out.node.name, **s.to_dict()}
        if total:
            entry["top1_agreement"] = same / total
        summaries.append(entry)
    return summaries


def _first_jump(layers: list[LayerComparison]) -> str | None:
    """The first layer (graph order) whose SQNR is JUMP_DB below every layer before it (an
    identical layer counts as SQNR_CAP dB)."""
    lowest = SQNR_CAP
    for layer in layers:
        sqnr = min(layer.stats.sqnr_db, SQNR_CAP)
        if sqnr < lowest - JUMP_DB:
            return layer.name
        lowest = min(lowest, sqnr)
    return None
