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


_ALIGNED_OFFSETS = {"asymmetric": (0.0, 0.0), "half_pixel_for_nn": (0.0, -0.5), "half_pixel": (0.5, -0.5)}


def _roi_samples(start: float, size: float, bins: int, ratio: int, extent: int, dtype) -> tuple:
    """Along one axis of one region: for each (bin, sample) the low and high pixel, the weights
    of each (bilinear), and whether the sample lies within [-1, extent] (else it reads 0)."""
    step = dtype.type(size) / dtype.type(bins)
    count = ratio if ratio > 0 else int(np.ceil(step))
    spacing = step / dtype.type(max(count, 1))
    points = (dtype.type(start) + np.arange(bins, dtype=dtype)[:, None] * step
              + spacing * (np.arange(count, dtype=dtype)[None, :] + dtype.type(0.5)))
    inside = (points >= -1) & (points <= extent)
    points = np.maximum(points, 0)
    low = np.trunc(points).astype(np.int64)
    edge = low >= extent - 1
    low = np.where(edge, extent - 1, low)
    points = np.where(edge, low.astype(dtype), points)
    high = np.where(edge, low, low + 1)
    frac = points - low.astype(dtype)
    return low, high, (1 - frac) * inside, frac * inside, count


@register("ROIAlign", opset=3)
class ROIAlign(Op):
    """ROIAlign-3: each region [x1, y1, x2, y2] (scaled by ``spatial_scale``) of the feature map of
    its batch index is cut into pooled_h x pooled_w bins; each bin averages (or takes the maximum,
    at least 0) of sampling_ratio² bilinear samples at its sub-bin centres (sampling_ratio 0:
    ceil(bin size) per axis). Samples beyond one pixel outside the map read 0. Opset 9 adds
    ``aligned_mode``: asymmetric (regions at least 1 pixel), half_pixel_for_nn (coordinates
    shifted by -0.5 after scaling), half_pixel (by +0.5 before and -0.5 after)."""

    attrs = {"pooled_h": Attr("int"), "pooled_w": Attr("int"), "sampling_ratio": Attr("int"),
             "spatial_scale": Attr("float"), "mode": Attr("str")}

    def infer(self, ctx: InferContext):
        attrs = ctx.attrs
        if attrs["mode"] not in ("avg", "max"):
            raise ctx.fail(f"mode={attrs['mode']!r} is not one of avg, max")
        if attrs.get("aligned_mode", "asymmetric") not in _ALIGNED_OFFSETS:
            raise ctx.fail(f"aligned_mode={attrs['aligned_mode']!r} is not one of {', '.join(_ALIGNED_OFFSETS)}")
        if attrs["pooled_h"] < 1 or attrs["pooled_w"] < 1 or attrs["sampling_ratio"] < 0:
            raise ctx.fail("pooled_h and pooled_w must be positive and sampling_ratio not negative")
        if not (ctx.etype(0).is_float or ctx.etype(0) is types.dynamic):
            raise ctx.fail(f"data is {ctx.etype(0)}: it must be floating-point")
        data, rois, indices = ctx.shape(0), ctx.shape(1), ctx.shape(2)
        if data is not None and len(data) != 4:
            raise ctx.fail(f"data must be 4-D [N, C, H, W], got shape {list(data)}")
        if rois is not None and (len(rois) != 2 or isinstance(rois[1], int) and rois[1] != 4):
            raise ctx.fail(f"rois must be [NUM_ROIS, 4], got shape {list(rois)}")
        if indices is not None and len(indices) != 1:
            raise ctx.fail(f"batch_indices must be 1-D, got shape {list(indices)}")
        count = rois[0] if rois is not None else indices[0] if indices is not None else DYNAMIC
        channels = data[1] if data is not None else DYNAMIC
        return [(ctx.etype(0), (count, channels, attrs["pooled_h"], attrs["pooled_w"]))]

    def evaluate(self, data, rois, batch_indices, *, pooled_h, pooled_w, sampling_ratio, spatial_scale, mode,
                 aligned_mode="asymmetric"):
        data = np.asarray(data)
        compute = data.astype(np.float64 if data.dtype == np.float64 else np.float32)
        dtype = compute.dtype
        height, width = data.shape[2:]
        before, after = (dtype.type(v) for v in _ALIGNED_OFFSETS[aligned_mode])
        scale = dtype.type(spatial_scale)
        out = np.zeros((len(rois), data.shape[1], pooled_h, pooled_w), dtype=dtype)
        for r, (box, batch) in enumerate(zip(np.asarray(rois, dtype=dtype), np.asarray(batch_indices))):
            if not 0 <= batch < data.shape[0]:
                raise EvaluationError(f"ROIAlign: batch index {batch} of region {r} is outside [0, {data.shape[0]})")
            x1, y1, x2, y2 = (box + before) * scale + after
            roi_w, roi_h = x2 - x1, y2 - y1
            if aligned_mode == "asymmetric":
                roi_w, roi_h = max(roi_w, dtype.type(1)), max(roi_h, dtype.type(1))
            y_low, y_high, y_w_low, y_w_high, y_count = _roi_samples(y1, roi_h, pooled_h, sampling_ratio, height, dtype)
            x_low, x_high, x_w_low, x_w_high, x_count = _roi_samples(x1, roi_w, pooled_w, sampling_ratio, width, dtype)
            image = compute[batch]
            rows = [(y_low, y_w_low), (y_high, y_w_high)]
            cols = [(x_low, x_w_low), (x_high, x_w_high)]
            samples = 0  # [C, pooled_h, y_count, pooled_w, x_count]
            for row, row_weight in rows:
                for col, col_weight in cols:
                    weight = row_weight[:, :, None, None] * col_weight[None, None]
                    samples = samples + weight * image[:, row[:, :, None, None], col[None, None]]
            if y_count * x_count == 0:
                continue
            if mode == "avg":
                out[r] = np.sum(samples / dtype.type(y_count * x_count), axis=(2, 4))
            else:
                out[r] = np.maximum(np.max(samples, axis=(2, 4)), 0)
        return (out.astype(data.dtype, copy=False),)


@register("ROIAlign", opset=9)
class ROIAlign9(ROIAlign):
    attrs = {**ROIAlign.attrs, "aligned_mode": Attr("str", default="asymmetric")}
