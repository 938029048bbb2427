"""DBNet text detection: preprocessing, batched inference, and box post-processing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import pyclipper

from dva_ocr.ocr.runtime import Session
from dva_ocr.ocr.spec import DetParams


@dataclass(frozen=True)
class Detection:
    quad: np.ndarray  # (4, 2) float32, clockwise from top-left, image pixel coordinates
    score: float


@dataclass(frozen=True)
class DetGeometry:
    """How an image maps onto the network input: resized to (h, w), zero-padded to (pad_h, pad_w)."""

    src_h: int
    src_w: int
    h: int
    w: int
    pad_h: int
    pad_w: int


def geometry(src_h: int, src_w: int, p: DetParams) -> DetGeometry:
    """Scale down to ``max_side`` (or up to ``min_side``), keep aspect, pad each side to a multiple of 32."""
    scale = min(1.0, p.max_side / max(src_h, src_w))
    if min(src_h, src_w) * scale < p.min_side:
        scale = min(p.min_side / min(src_h, src_w), p.max_side / max(src_h, src_w))
    h, w = max(1, round(src_h * scale)), max(1, round(src_w * scale))
    pad = max(32, p.pad_to)
    return DetGeometry(src_h, src_w, h, w, -(-h // pad) * pad, -(-w // pad) * pad)


def normalise_into(out: np.ndarray, img: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> None:
    """Write uint8 HxWx3 ``img`` as (x/255 - mean) / std into the 3 x H x W float32 view ``out``."""
    h, w = img.shape[:2]
    for c in range(3):
        plane = out[c, :h, :w]
        np.multiply(img[:, :, c], np.float32(1.0 / (255.0 * std[c])), out=plane, casting="unsafe")
        plane -= np.float32(mean[c] / std[c])


def preprocess(
    images: Sequence[np.ndarray], g: DetGeometry | Sequence[DetGeometry], p: DetParams
) -> np.ndarray:
    """BGR images of one padded size (one geometry, or one each) -> N x 3 x pad_h x pad_w, padding zero
    (mid-grey after normalisation)."""
    geoms = [g] * len(images) if isinstance(g, DetGeometry) else list(g)
    batch = np.zeros((len(images), 3, geoms[0].pad_h, geoms[0].pad_w), np.float32)
    for i, (img, gi) in enumerate(zip(images, geoms, strict=True)):
        if (gi.h, gi.w) != img.shape[:2]:
            img = cv2.resize(img, (gi.w, gi.h), interpolation=cv2.INTER_LINEAR)
        normalise_into(batch[i], img, p.mean, p.std)
    return batch


def order_clockwise(pts: np.ndarray) -> np.ndarray:
    """Order 4 points clockwise on screen (y down), starting from the top-left one."""
    pts = np.asarray(pts, np.float32).reshape(4, 2)
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(angles)]  # increasing angle = clockwise when y points down
    start = int(np.argmin(pts[:, 0] + pts[:, 1]))
    return np.roll(pts, -start, axis=0)


def _min_box(contour: np.ndarray) -> tuple[np.ndarray, float]:
    rect = cv2.minAreaRect(contour)
    return order_clockwise(cv2.boxPoints(rect)), min(rect[1])


def _box_score(prob: np.ndarray, box: np.ndarray) -> float:
    h, w = prob.shape
    x0 = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [(box - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def _area_and_perimeter(box: np.ndarray) -> tuple[float, float]:
    """Of a closed polygon given by its corners (shoelace formula; what shapely's Polygon gives, without
    importing shapely on the OCR path)."""
    pts = np.asarray(box, np.float64).reshape(-1, 2)
    nxt = np.roll(pts, -1, axis=0)
    area = abs(float(np.sum(pts[:, 0] * nxt[:, 1] - nxt[:, 0] * pts[:, 1]))) / 2.0
    return area, float(np.sum(np.hypot(*(nxt - pts).T)))


def _unclip(box: np.ndarray, ratio: float) -> np.ndarray | None:
    area, length = _area_and_perimeter(box)
    if length == 0:
        return None
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(box.round().astype(np.int64).tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    out = offset.Execute(area * ratio / length)
    if len(out) != 1:
        return None
    return np.asarray(out[0], np.float32).reshape(-1, 1, 2)


def postprocess(prob: np.ndarray, g: DetGeometry, p: DetParams) -> list[Detection]:
    """Probability map (pad_h x pad_w) -> boxes in source-image pixels, in reading order."""
    prob = prob[: g.h, : g.w]
    mask = (prob > p.thresh).astype(np.uint8)
    if p.use_dilation:
        mask = np.asarray(cv2.dilate(mask, np.ones((2, 2), np.uint8)), dtype=np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    sx, sy = g.src_w / g.w, g.src_h / g.h
    out: list[Detection] = []
    for contour in contours[: p.max_candidates]:
        box, short = _min_box(contour)
        if short < p.min_size:
            continue
        score = _box_score(prob, box)
        if score < p.box_thresh:
            continue
        grown = _unclip(box, p.unclip_ratio)
        if grown is None:
            continue
        box, short = _min_box(grown)
        if short < p.min_size + 2:
            continue
        box[:, 0] = np.clip(box[:, 0] * sx, 0, g.src_w - 1)
        box[:, 1] = np.clip(box[:, 1] * sy, 0, g.src_h - 1)
        if np.linalg.norm(box[0] - box[1]) <= 3 or np.linalg.norm(box[0] - box[3]) <= 3:
            continue
        out.append(Detection(box, score))
    return reading_order(out)


def reading_order(dets: list[Detection], line_tol: float = 0.5) -> list[Detection]:
    """Top to bottom, then left to right for boxes whose tops lie within ``line_tol`` of a box height."""
    dets = sorted(dets, key=lambda d: (d.quad[0, 1], d.quad[0, 0]))
    out: list[Detection] = []
    for d in dets:
        i = len(out)
        tol = line_tol * float(np.linalg.norm(d.quad[0] - d.quad[3]))
        while (
            i > 0 and abs(out[i - 1].quad[0, 1] - d.quad[0, 1]) < tol and out[i - 1].quad[0, 0] > d.quad[0, 0]
        ):
            i -= 1
        out.insert(i, d)
    return out


class TextDetector:
    def __init__(self, session: Session, params: DetParams) -> None:
        self.session = session
        self.params = params

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        return self.detect_batch([image_bgr])[0]

    def detect_batch(self, images_bgr: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detect text in many BGR images; images of one padded size share network runs (each is padded
        to that size alone too, so its boxes do not depend on its batch)."""
        results: list[list[Detection]] = [[] for _ in images_bgr]
        geoms = [geometry(img.shape[0], img.shape[1], self.params) for img in images_bgr]
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, g in enumerate(geoms):
            groups[(g.pad_h, g.pad_w)].append(i)
        size = max(1, self.params.batch_size)
        for idxs in groups.values():
            for start in range(0, len(idxs), size):
                chunk = idxs[start : start + size]
                x = preprocess([images_bgr[i] for i in chunk], [geoms[i] for i in chunk], self.params)
                probs = self.session.run({self.session.input_name: x})[0]
                for i, prob in zip(chunk, probs, strict=True):
                    results[i] = postprocess(prob[0], geoms[i], self.params)
        return results
