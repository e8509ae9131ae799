"""``lpir demo``: lpir's main job end to end on a real model and real data, with no arguments.

The model is PaddleOCR's text-direction classifier (bundled, see ``lpir/data/NOTICE.md``); the
data are text-line crops of a real scanned page (scikit-image's ``data.page()``), upright and
turned 180°. The demo imports the ONNX model, converts it to OpenVINO IR, runs the IR in lpir's
interpreter on the crops, shows the predictions, compresses the weights to int8 and checks the
predictions again, quantizes the model to INT8 on other crops of the page and compares float
and INT8, and inspects the INT8 model. Each step is a function
of the shared :class:`DemoState`, so new steps (quantize, compare) slot in.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lpir.errors import LpirError
from lpir.progress import Progress, no_progress

MODEL_PATH = Path(__file__).parent / "data" / "ppocr_cls.onnx"
LABELS = ("0", "180")
HEIGHT, WIDTH = 48, 192


Say = Callable[[str], None]

@dataclass
class Console:
    """Where steps report: a line printer and a progress-bar wrapper."""

    say: Say = print
    progress: Progress = no_progress


@dataclass
class DemoState:
    """What the steps pass on to each other."""

    workdir: Path
    onnx_path: Path = MODEL_PATH
    model: object = None
    ir_path: Path | None = None
    crops: list[np.ndarray] = field(default_factory=list)
    batch: np.ndarray | None = None
    expected: list[str] = field(default_factory=list)
    predicted: list[str] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    int8_path: Path | None = None
    int8_predicted: list[str] = field(default_factory=list)
    kept: bool = False  # the workdir outlives the demo

    @property
    def accuracy(self) -> float:
        hits = sum(e == p for e, p in zip(self.expected, self.predicted))
        return hits / len(self.expected) if self.expected else 0.0


# -- data ----------------------------------------------------------------------------------
def text_line_crops() -> list[np.ndarray]:
    """Grey crops of the text lines of scikit-image's scanned page, one per line, as a detector gives them."""
    try:
        from skimage import data, morphology
    except ImportError as exc:
        raise LpirError("the demo needs scikit-image: pip install -e '.[demo]'") from exc
    page = data.page().astype(np.float32)
    background = morphology.closing(page, np.ones((15, 15), dtype=bool))
    ink = page < 0.75 * background  # robust to the page's uneven lighting
    crops = []
    for top, bottom in _runs(ink.mean(axis=1) >= 0.1, min_length=8):
        top, bottom = max(0, top - 3), min(page.shape[0], bottom + 3)
        columns = np.flatnonzero(ink[top:bottom].any(axis=0))
        crops.append(page[top:bottom, columns[0]:columns[-1] + 1])
    return crops


def _runs(mask: np.ndarray, min_length: int) -> list[tuple[int, int]]:
    """(start, stop) of the runs of True in a 1-D mask that are at least ``min_length`` long."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[0::2], edges[1::2]) if b - a >= min_length]


def preprocess(crop: np.ndarray) -> np.ndarray:
    """PaddleOCR's classifier input: height 48, width ≤ 192 keeping the aspect, [-1, 1], zero padded."""
    from skimage.transform import resize
    height, width = crop.shape
    new_width = min(WIDTH, math.ceil(HEIGHT * width / height))
    resized = resize(crop, (HEIGHT, new_width), preserve_range=True, anti_aliasing=True).astype(np.float32)
    image = np.zeros((3, HEIGHT, WIDTH), np.float32)
    image[:, :, :new_width] = (resized / 255.0 - 0.5) / 0.5
    return image


# -- steps ---------------------------------------------------------------------------------
def step_import(state: DemoState, console: Console) -> None:
    say = console.say
    import lpir
    started = time.perf_counter()
    state.model = lpir.read_model(state.onnx_path)
    nodes = len(state.model.nodes())
    say(f"read {state.onnx_path.name} ({state.onnx_path.stat().st_size:,} bytes): {nodes} nodes "
        f"in {time.perf_counter() - started:.2f} s")


def step_convert(state: DemoState, console: Console) -> None:
    say = console.say
    import lpir
    state.ir_path = state.workdir / "ppocr_cls.xml"
    lpir.save_model(state.model, state.ir_path, compress_to_fp16=True)
    size = state.ir_path.with_suffix(".bin").stat().st_size
    say(f"wrote {state.ir_path} (+ .bin, {size:,} bytes: weights stored as f16)")
    state.model = lpir.read_model(state.ir_path)


def step_data(state: DemoState, console: Console) -> None:
    say = console.say
    upright = text_line_crops()
    state.crops = upright + [np.rot90(c, 2) for c in upright]
    state.expected = ["0"] * len(upright) + ["180"] * len(upright)
    state.batch = np.stack([preprocess(c) for c in state.crops])
    say(f"{len(upright)} text lines cropped from the scan skimage.data.page(), each also turned 180°: "
        f"batch {list(state.batch.shape)}")


def step_run(state: DemoState, console: Console) -> None:
    say = console.say
    import lpir
    from lpir.progress import run_with_progress
    compiled = lpir.compile_model(state.model)
    started = time.perf_counter()
    probabilities = run_with_progress(compiled, {"x": state.batch}, console.progress)[0]
    elapsed = time.perf_counter() - started
    best = np.argmax(probabilities, axis=1)
    state.predicted = [LABELS[i] for i in best]
    state.confidence = [float(probabilities[row, i]) for row, i in enumerate(best)]
    say(f"ran the IR in lpir's interpreter: {len(best)} crops in {elapsed:.2f} s")
    say(_prediction_table(state))
    say(f"accuracy: {sum(e == p for e, p in zip(state.expected, state.predicted))}/{len(best)} "
        f"({100 * state.accuracy:.0f}%)")


def calibration_crops(crops: list[np.ndarray]) -> np.ndarray:
    """Calibration inputs: the left and right halves of each crop (parts of the lines, not the
    lines the accuracy is measured on)."""
    halves = [half for crop in crops for half in (crop[:, :crop.shape[1] // 2], crop[:, crop.shape[1] // 2:])]
    return np.stack([preprocess(h) for h in halves])


def step_quantize(state: DemoState, console: Console) -> None:
    say = console.say
    import lpir
    from lpir.analysis.report import table
    calibration = calibration_crops(state.crops)
    started = time.perf_counter()
    quantized = lpir.quantize(state.model, [c[None] for c in calibration], subset_size=len(calibration),
                              progress=console.progress)
    state.int8_path = state.workdir / "ppocr_cls_quantized.xml"
    lpir.save_model(quantized, state.int8_path)
    say(f"quantized to INT8 on {len(calibration)} half-line crops in {time.perf_counter() - started:.1f} s "
        f"(NNCF's placement, ranges of least error; weights stored as int8): {state.int8_path.name}")
    probabilities = lpir.compile_model(lpir.read_model(state.int8_path))({"x": state.batch})[0]
    state.int8_predicted = [LABELS[i] for i in np.argmax(probabilities, axis=1)]
    rows = []
    for label, path, predicted in (("float", state.ir_path, state.predicted), ("INT8", state.int8_path, state.int8_predicted)):
        hits = sum(e == p for e, p in zip(state.expected, predicted))
        rows.append((label, f"{hits}/{len(predicted)}", f"{path.with_suffix('.bin').stat().st_size:,}"))
    say(table(["model", "accuracy", "weights (bytes)"], rows, limit=None))


def step_compare(state: DemoState, console: Console) -> None:
    """Where the INT8 model departs from the float one, layer by layer, on real crops."""
    say = console.say
    import lpir
    from lpir.analysis.compare_html import write_html
    from lpir.analysis.report import table
    samples = [{"x": state.batch[i:i + 1]} for i in range(len(state.batch))]
    report = lpir.compare_models(lpir.read_model(state.ir_path), lpir.read_model(state.int8_path), samples,
                                 progress=console.progress)
    agreement = report.outputs[0].get("top1_agreement")
    say(f"{len(report.layers)} layers compared on {report.samples} crops"
        + (f"; top-1 agreement {agreement:.0%}" if agreement is not None else ""))
    rows = [(layer.name, layer.op_type, layer.stats.to_dict()["sqnr_db"], layer.stats.cosine)
            for layer in report.worst(5)]
    say(table(["worst layers", "op", "SQNR dB", "cosine"], rows, limit=None))
    html = state.workdir / "compare.html"
    write_html(report, html, title="PP-OCR classifier: INT8 against float")
    say(f"HTML report (SQNR along the graph, clipping at each FakeQuantize): {html}"
        + ("" if state.kept else " (a temporary folder: lpir demo --workdir DIR keeps it)"))


def _prediction_table(state: DemoState) -> str:
    from lpir.analysis.report import table
    rows = [(i, f"{c.shape[1]}x{c.shape[0]}", e, p, f"{conf:.3f}", "ok" if e == p else "WRONG")
            for i, (c, e, p, conf) in enumerate(zip(state.crops, state.expected, state.predicted, state.confidence))]
    return table(["crop", "size", "truth", "predicted", "confidence", ""], rows, limit=None)


def step_compress(state: DemoState, console: Console) -> None:
    """Weights to int8 (NNCF's int8_asym bytes), then the same crops through the smaller IR."""
    say = console.say
    import lpir
    path = state.workdir / "ppocr_cls_int8.xml"
    lpir.save_model(lpir.compress_weights(state.model, mode="int8_asym"), path)
    before, after = state.ir_path.with_suffix(".bin").stat().st_size, path.with_suffix(".bin").stat().st_size
    probabilities = lpir.compile_model(lpir.read_model(path))({"x": state.batch})[0]
    same = sum(LABELS[i] == p for i, p in zip(np.argmax(probabilities, axis=1), state.predicted))
    say(f"wrote {path.name}: weights {before:,} → {after:,} bytes (int8, scale and zero point per channel); "
        f"{same}/{len(state.predicted)} crops get the same prediction as before")


def step_inspect(state: DemoState, console: Console) -> None:
    say = console.say
    from lpir import inspect_model
    from lpir.analysis.inspect import overall_sparsity
    from lpir.analysis.report import table
    report = inspect_model(state.int8_path or state.model)
    top_ops = sorted(report.op_counts.items(), key=lambda kv: -kv[1])[:6]
    say(f"{report.parameters:,} parameters; constants: "
        + ", ".join(f"{t} {c['bytes']:,} B" for t, c in report.constants.items()))
    say("most frequent ops: " + ", ".join(f"{name} {count}" for name, count in top_ops))
    low = [layer for layer in report.layers if layer.mode == "low-precision"]
    say(f"{len(low)} of {len(report.layers)} convolution/matmul layers of the INT8 model run in low precision:")
    say(table(["layer", "type", "inputs"], [(layer.name, layer.type, ", ".join(layer.inputs)) for layer in low], limit=8))
    say(f"weight sparsity: {100 * overall_sparsity(report.sparsity):.2f}% "
        f"exact zeros over {len(report.sparsity)} layers")
    name = (state.int8_path or state.ir_path).name
    say(f"full report: lpir inspect {name} (lpir demo --workdir DIR keeps the IRs)")


STEPS: list[tuple[str, Callable]] = [
    ("import the ONNX model", step_import),
    ("convert to OpenVINO IR", step_convert),
    ("prepare real data", step_data),
    ("run in lpir", step_run),
    ("compress the weights to int8", step_compress),
    ("quantize to INT8", step_quantize),
    ("inspect the INT8 IR", step_inspect),
    ("compare INT8 with float, layer by layer", step_compare),
]


def run_demo(workdir: str | Path | None = None, *, progress: Progress = no_progress, say: Say = print) -> DemoState:
    """Run every step; the converted IR is kept in ``workdir`` (a temporary folder if None)."""
    console = Console(say, progress)
    with tempfile.TemporaryDirectory(prefix="lpir-demo-") as scratch:
        folder = Path(workdir) if workdir is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        state = DemoState(workdir=folder, kept=workdir is not None)
        for number, (title, step) in enumerate(STEPS, 1):
            say(f"\n[{number}/{len(STEPS)}] {title}")
            step(state, console)
        return state

