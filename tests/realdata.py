"""Real inputs for the real models: photos and a scanned page from scikit-image, token ids."""

from __future__ import annotations

import numpy as np
from skimage import data


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of an HxWxC float image (numpy only)."""
    h, w = image.shape[:2]
    ys = np.clip((np.arange(height) + 0.5) * h / height - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width) + 0.5) * w / width - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = image[y0][:, x0] * (1 - fx) + image[y0][:, x1] * fx
    bottom = image[y1][:, x0] * (1 - fx) + image[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def _rgb(image: np.ndarray) -> np.ndarray:
    image = image.astype(np.float32) / 255.0
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def photo_batch(height: int, width: int, names=("chelsea", "coffee", "astronaut"), *,
                mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)) -> np.ndarray:
    """Real photos resized to NCHW, normalised like ImageNet models expect."""
    images = [(resize(_rgb(getattr(data, n)()), height, width) - mean) / std for n in names]
    return np.stack(images).transpose(0, 3, 1, 2).astype(np.float32)


def text_lines(height: int = 48, width: int = 192, count: int = 4) -> np.ndarray:
    """Crops of text lines from scikit-image's scanned page, normalised as PP-OCR does."""
    page = _rgb(data.page())
    rows = np.linspace(10, page.shape[0] - 40, count).astype(int)
    crops = [resize(page[r:r + 30, 20:340], height, width) for r in rows]
    return ((np.stack(crops) - 0.5) / 0.5).transpose(0, 3, 1, 2).astype(np.float32)


def token_batch(batch: int = 2, seq: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Token ids in BERT's vocabulary with [CLS]/[SEP] and a padded attention mask."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, 30522, size=(batch, seq)).astype(np.int64)
    ids[:, 0], ids[:, -1] = 101, 102
    mask = np.ones((batch, seq), np.int64)
    mask[1:, seq - 4:] = 0
    ids[mask == 0] = 0
    return ids, mask


def inputs_for(name: str) -> list[np.ndarray]:
    """Inputs of real data for each real model of lpir.zoo."""
    if name == "ppocr_det":
        return [photo_batch(96, 128, ("page", "coffee"))]
    if name == "ppocr_rec":
        return [text_lines(48, 160, 2)]
    if name == "ppocr_cls":
        return [text_lines(48, 192, 4)]
    if name == "minilm":
        return list(token_batch())
    raise KeyError(name)
