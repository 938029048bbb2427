"""Reading images as single text lines: the recogniser alone, no detection (crops, training validation).

``LineReader`` is the recognition half of :class:`dva_ocr.ocr.OcrEngine` (angle classifier when enabled,
CTC recognition, word-space recovery); the engine runs its detected crops through it and exposes it as
``engine.lines`` (``engine.read_lines(images)``). Built on any ``Session`` (``LineReader.from_session``),
it reads through the same code with another runtime, e.g. a PyTorch model during training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dva_ocr.ocr.classifier import AngleClassifier
from dva_ocr.ocr.recognition import RecResult, TextRecognizer
from dva_ocr.ocr.runtime import Session
from dva_ocr.ocr.spec import ClsParams, RecParams
from dva_ocr.ocr.words import recover_spaces


@dataclass(frozen=True)
class LineReading:
    """What one image says when read as one text line."""

    text: str  # with word spaces recovered (when the reader does that)
    raw_text: str  # as decoded by the recogniser
    confidence: float  # mean character probability, 4 decimals (0.0 when nothing was read)
    char_confidences: tuple[float, ...] = field(default=(), repr=False)  # one per raw_text character


EMPTY_READING = LineReading("", "", 0.0)


class LineReader:
    """Recogniser-only reading of BGR line crops or RGB images.

    classifier: the 0/180 degree angle classifier; crops it finds upside down are turned before they are
    read. word_spacing: put back the spaces the recogniser dropped (``text``; ``raw_text`` keeps the
    decoded string). Crops are never turned by 90 degrees, even when tall: a single letter is taller
    than wide.
    """

    def __init__(
        self,
        recognizer: TextRecognizer,
        classifier: AngleClassifier | None = None,
        *,
        word_spacing: bool = True,
    ) -> None:
        self.recognizer = recognizer
        self.classifier = classifier
        self.word_spacing = word_spacing

    @classmethod
    def from_session(
        cls,
        session: Session,
        params: RecParams | None = None,
        *,
        word_spacing: bool = True,
        cls_session: Session | None = None,
        cls_params: ClsParams | None = None,
    ) -> LineReader:
        """A reader over a recogniser ``session`` (and optionally an angle classifier's)."""
        classifier = AngleClassifier(cls_session, cls_params or ClsParams()) if cls_session else None
        return cls(TextRecognizer(session, params or RecParams()), classifier, word_spacing=word_spacing)

    def recognise(self, crops: Sequence[np.ndarray]) -> list[RecResult]:
        """The recogniser's results for BGR crops, upside-down ones turned first (with a classifier)."""
        if not crops:
            return []
        crops = list(crops)
        if self.classifier is not None:
            crops = self.classifier.rotate(crops)
        return self.recognizer.recognise(crops)

    def text_of(self, rec: RecResult) -> str:
        """``rec``'s text, with word spaces recovered when the reader does that."""
        if self.word_spacing and rec.text:
            return recover_spaces(rec.text, rec.char_positions, rec.space_probs)
        return rec.text

    def read_bgr(self, crops: Sequence[np.ndarray]) -> list[LineReading]:
        """Each BGR uint8 crop read as one line; an empty crop (no pixels) gives an empty reading."""
        readable = [i for i, c in enumerate(crops) if c.ndim == 3 and c.shape[0] > 0 and c.shape[1] > 0]
        out = [EMPTY_READING] * len(crops)
        for i, rec in zip(readable, self.recognise([crops[i] for i in readable]), strict=True):
            out[i] = LineReading(
                self.text_of(rec), rec.text, round(float(rec.confidence), 4), rec.char_confidences
            )
        return out

    def read(self, rgb_images: Sequence[np.ndarray]) -> list[LineReading]:
        """Each RGB (or RGBA) uint8 image read as one line; an empty image gives an empty reading."""
        return self.read_bgr(
            [np.ascontiguousarray(im[:, :, 2::-1]) if im.ndim == 3 else im for im in rgb_images]
        )
