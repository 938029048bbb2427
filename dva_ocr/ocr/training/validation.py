"""Validation: scoring a recogniser on labelled lines through the production path (``LineReader``).

``TorchSession`` lets the PyTorch model stand in for an onnxruntime session, so validation during
training reads lines with the same code as ``OcrEngine.read_lines`` and measures what the exported ONNX
model will do in the OCR engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dva_ocr.ocr.distance import edit_distance  # one Levenshtein for the project
from dva_ocr.ocr.lines import LineReader
from dva_ocr.ocr.runtime import Session
from dva_ocr.ocr.spec import RecParams
from dva_ocr.ocr.training.crnn import Crnn
from dva_ocr.ocr.training.data import Sample


class TorchSession:
    """A ``Session`` running a :class:`Crnn` (softmax output, the ONNX contract's metadata)."""

    def __init__(self, model: Crnn) -> None:
        self.model = model
        self._meta = {"character": "\n".join(model.config.charset), "rec_height": str(model.config.height)}

    @property
    def input_name(self) -> str:
        return "x"

    @property
    def metadata(self) -> dict[str, str]:
        return self._meta

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                return [self.model.probabilities(torch.from_numpy(inputs["x"])).numpy()]
        finally:
            self.model.train(was_training)


@dataclass(frozen=True)
class Score:
    lines: int
    exact: float  # share of lines read exactly
    chars: float  # 1 - character error rate (edit distance / reference length), floored at 0

    def as_dict(self) -> dict[str, float]:
        return {"lines": self.lines, "exact": round(self.exact, 4), "chars": round(self.chars, 4)}


def score(texts: Sequence[str], truths: Sequence[str]) -> Score:
    if len(texts) != len(truths):
        raise ValueError(f"{len(texts)} results for {len(truths)} lines")
    exact = sum(t == g for t, g in zip(texts, truths, strict=True))
    errors = sum(edit_distance(t, g) for t, g in zip(texts, truths, strict=True))
    total = max(1, sum(len(g) for g in truths))
    n = max(1, len(truths))
    return Score(len(truths), exact / n, max(0.0, 1.0 - errors / total))


def recognise(session: Session, height: int, images: Sequence[np.ndarray], batch_size: int = 64) -> list[str]:
    """The decoded text of each BGR line image (no word-space recovery: the model's own output)."""
    reader = LineReader.from_session(
        session, RecParams(height=height, batch_size=batch_size), word_spacing=False
    )
    return [r.text for r in reader.read_bgr(list(images))]


def validate_model(model: Crnn, samples: Sequence[Sample], batch_size: int = 64) -> Score:
    """``model``'s score on held-out labelled lines, read as the exported model would be."""
    texts = recognise(TorchSession(model), model.config.height, [s.image for s in samples], batch_size)
    return score(texts, [s.text for s in samples])
