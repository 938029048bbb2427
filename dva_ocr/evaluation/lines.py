"""Reading whole images as single text lines: the recogniser alone, no detection (for crops)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dva_ocr.ocr import OcrEngine


@dataclass(frozen=True)
class LineReading:
    text: str  # word spaces recovered when the engine does that
    raw_text: str  # as decoded
    confidence: float


def read_lines(engine: OcrEngine, rgb_images: Sequence[np.ndarray]) -> list[LineReading]:
    """Each RGB image read as one text line by the engine's recogniser alone (no detection).

    Crops are not turned, even when tall: a single letter is taller than wide.
    """
    from dva_ocr.ocr.words import recover_spaces

    readable = [i for i, im in enumerate(rgb_images) if im.ndim == 3 and im.shape[0] > 0 and im.shape[1] > 0]
    bgr = [np.ascontiguousarray(rgb_images[i][:, :, 2::-1]) for i in readable]
    if engine.classifier is not None and bgr:  # use_angle_cls: upside-down crops are turned first
        bgr = engine.classifier.rotate(bgr)
    recs = engine.recognizer.recognise(bgr) if bgr else []
    out = [LineReading("", "", 0.0)] * len(rgb_images)
    for i, rec in zip(readable, recs, strict=True):
        text = rec.text
        if engine.word_spacing and text:
            text = recover_spaces(rec.text, rec.char_positions, rec.space_probs)
        out[i] = LineReading(text, rec.text, round(float(rec.confidence), 4))
    return out
