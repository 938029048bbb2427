"""Optional 0/180-degree angle classifier for line crops (off by default: see MEASUREMENTS.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from dva_ocr.ocr.detection import normalise_into
from dva_ocr.ocr.runtime import Session
from dva_ocr.ocr.spec import ClsParams


class AngleClassifier:
    def __init__(self, session: Session, params: ClsParams) -> None:
        self.session = session
        self.params = params

    def upside_down(self, crops: Sequence[np.ndarray]) -> list[float]:
        """Probability that each crop is rotated 180 degrees."""
        p = self.params
        out = [0.0] * len(crops)
        for start in range(0, len(crops), p.batch_size):
            chunk = crops[start : start + p.batch_size]
            x = np.zeros((len(chunk), 3, p.height, p.width), np.float32)
            for j, crop in enumerate(chunk):
                h, w = crop.shape[:2]
                rw = min(p.width, max(1, math.ceil(p.height * w / max(1, h))))
                line = cv2.resize(crop, (rw, p.height), interpolation=cv2.INTER_LINEAR)
                normalise_into(x[j], line, p.mean, p.std)
            probs = self.session.run({self.session.input_name: x})[0]
            for j in range(len(chunk)):
                out[start + j] = float(probs[j, 1])
        return out

    def rotate(self, crops: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Turn crops the classifier is confident are upside down."""
        scores = self.upside_down(crops)
        return [
            np.ascontiguousarray(c[::-1, ::-1]) if s > self.params.thresh else c
            for c, s in zip(crops, scores, strict=True)
        ]
