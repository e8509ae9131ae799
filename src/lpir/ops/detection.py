"""NonMaxSuppression-9: for each batch and class, boxes above ``score_threshold`` are taken in
order of score (ties: the lower index first) and kept unless their intersection over union with
a box kept before reaches ``iou_threshold`` (>=, as OpenVINO compares; ONNX suppresses above
it), at most ``max_output_boxes_per_class`` per class. Boxes are corners [y1, x1, y2, x2] in
either order, or centres [xc, yc, w, h]; overlaps are computed in float64, so that an overlap
equal to the threshold in exact arithmetic compares as equal.

The outputs hold exactly the selected boxes (as OpenVINO's CPU plugin returns them):
[batch, class, box] indices, [batch, class, score] scores, and their count. With
``sort_result_descending`` they are ordered by score across batches and classes, else by batch,
then class, then selection order. Soft suppression (``soft_nms_sigma`` > 0) is not implemented.
"""

from __future__ import annotations

import numpy as np

from lpir.errors import EvaluationError
from lpir.ir import types
from lpir.ir.shape import DYNAMIC, Dim
from lpir.ops.registry import Attr, InferContext, Op, register


def _corners(boxes: np.ndarray, encoding: str) -> np.ndarray:
    """[..., 4] boxes as [y_min, x_min, y_max, x_max], in float64."""
    boxes = boxes.astype(np.float64)
    if encoding == "center":
        xc, yc, w, h = np.moveaxis(boxes, -1, 0)
        half = boxes.dtype.type(2)
        return np.stack([yc - h / half, xc - w / half, yc + h / half, xc + w / half], axis=-1)
    y1, x1, y2, x2 = np.moveaxis(boxes, -1, 0)
    return np.stack([np.minimum(y1, y2), np.minimum(x1, x2), np.maximum(y1, y2), np.maximum(x1, x2)], axis=-1)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over union of one [4] corner box with [K, 4] others (0 for empty boxes)."""
    top, left = np.maximum(box[0], others[:, 0]), np.maximum(box[1], others[:, 1])
    bottom, right = np.minimum(box[2], others[:, 2]), np.minimum(box[3], others[:, 3])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((inter > 0) & (area > 0) & (areas > 0) & (union > 0), inter / union, 0.0)


def _scalar(value, default):
    if value is None:
        return default
    flat = np.asarray(value).reshape(-1)
    return flat[0] if flat.size else default


@register("NonMaxSuppression", opset=9)
class NonMaxSuppression(Op):
    attrs = {"box_encoding": Attr("str", default="corner"), "sort_result_descending": Attr("bool", default=True),
             "output_type": Attr("etype", default=types.i64)}

    def infer(self, ctx: InferContext):
        if ctx.attrs["box_encoding"] not in ("corner", "center"):
            raise ctx.fail(f"box_encoding={ctx.attrs['box_encoding']!r} is not corner or center")
        index_type = types.parse_type(ctx.attrs["output_type"]) if isinstance(ctx.attrs["output_type"], str) \
            else ctx.attrs["output_type"]
        if index_type not in (types.i32, types.i64):
            raise ctx.fail(f"output_type {index_type} is not i32 or i64")
        boxes, scores = ctx.shape(0), ctx.shape(1)
        if boxes is not None and (len(boxes) != 3 or boxes[2] != 4 and isinstance(boxes[2], int)):
            raise ctx.fail(f"boxes must be [batches, boxes, 4], got shape {list(boxes)}")
        if scores is not None and len(scores) != 3:
            raise ctx.fail(f"scores must be [batches, classes, boxes], got shape {list(scores)}")
        count = DYNAMIC
        if scores is not None and all(isinstance(d, int) for d in scores):
            count = Dim(0, scores[0] * scores[1] * scores[2])
        return [(index_type, (count, 3)), (ctx.etype(1), (count, 3)), (index_type, (1,))]

    def evaluate(self, boxes, scores, max_output_boxes_per_class=None, iou_threshold=None, score_threshold=None,
                 soft_nms_sigma=None, *, box_encoding="corner", sort_result_descending=True, output_type=types.i64):
        if float(_scalar(soft_nms_sigma, 0.0)) != 0.0:
            raise EvaluationError("NonMaxSuppression: soft suppression (soft_nms_sigma > 0) is not supported")
        limit = max(int(_scalar(max_output_boxes_per_class, 0)), 0)
        corners = _corners(np.asarray(boxes), box_encoding)
        iou_limit = float(_scalar(iou_threshold, 0.0))
        score_floor = float(_scalar(score_threshold, 0.0))
        scores = np.asarray(scores)
        selected: list[tuple[int, int, int, float]] = []
        for batch in range(scores.shape[0]):
            for cls in range(scores.shape[1]):
                class_scores = scores[batch, cls].astype(np.float64)
                candidates = np.flatnonzero(class_scores > score_floor)
                order = candidates[np.argsort(-class_scores[candidates], kind="stable")]
                kept: list[int] = []
                for index in order:
                    if len(kept) >= limit:
                        break
                    if kept and np.any(_iou(corners[batch, index], corners[batch, kept]) >= iou_limit):
                        continue
                    kept.append(int(index))
                    selected.append((batch, cls, int(index), float(scores[batch, cls, index])))
        if sort_result_descending:
            selected.sort(key=lambda s: -s[3])  # stable: equal scores keep batch, class order
        dtype = (types.parse_type(output_type) if isinstance(output_type, str) else output_type).dtype
        indices = np.asarray([s[:3] for s in selected], dtype=dtype).reshape(-1, 3)
        chosen = np.asarray([[s[0], s[1], s[3]] for s in selected], dtype=scores.dtype).reshape(-1, 3)
        return indices, chosen, np.asarray([len(selected)], dtype=dtype)
