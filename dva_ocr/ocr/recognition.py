"""CTC text-line recognition: height-48 crops batched by aspect ratio, greedy decoding with positions."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from dva_ocr.ocr.detection import normalise_into
from dva_ocr.ocr.runtime import Session
from dva_ocr.ocr.spec import RecParams

BLANK = 0


@dataclass(frozen=True)
class RecResult:
    text: str
    confidence: float  # mean of the kept characters' probabilities (0.0 when empty)
    char_confidences: tuple[float, ...]
    char_positions: tuple[int, ...]  # CTC time step of each character (8 px of the 48-high crop)
    steps: int  # time steps covering the crop itself (padding excluded)
    space_probs: tuple[float, ...]  # per gap between consecutive characters: max P(space) inside it


EMPTY = RecResult("", 0.0, (), (), 0, ())


def charset_from_metadata(metadata: dict[str, str]) -> list[str]:
    """Class list of the PP-OCR recogniser: blank, the dictionary lines, then space."""
    if "character" not in metadata:
        raise ValueError("recognition model has no 'character' metadata (not a PP-OCR rec model?)")
    return ["", *metadata["character"].splitlines(), " "]


def ctc_decode(probs: np.ndarray, charset: Sequence[str], steps: int | None = None) -> RecResult:
    """Greedy CTC over one T x C probability matrix: collapse repeats, drop blanks."""
    if steps is not None:
        probs = probs[: max(1, steps)]
    idx = probs.argmax(axis=1)
    best = probs[np.arange(len(idx)), idx]
    keep = idx != BLANK
    keep[1:] &= idx[1:] != idx[:-1]
    pos = np.flatnonzero(keep)
    text = "".join(charset[i] for i in idx[pos])
    confs = best[pos].astype(float)
    space = len(charset) - 1
    gaps = tuple(
        float(probs[a + 1 : b, space].max(initial=0.0)) for a, b in zip(pos[:-1], pos[1:], strict=True)
    )
    return RecResult(
        text=text,
        confidence=float(confs.mean()) if len(confs) else 0.0,
        char_confidences=tuple(round(c, 4) for c in confs.tolist()),
        char_positions=tuple(int(p) for p in pos),
        steps=int(len(probs)),
        space_probs=gaps,
    )


def target_width(h: int, w: int, p: RecParams) -> int:
    return int(min(p.max_width, max(1, math.ceil(p.height * w / max(1, h)))))


class TextRecognizer:
    def __init__(self, session: Session, params: RecParams) -> None:
        self.session = session
        # A model that states its input height (metadata ``rec_height``, as export-rec writes) runs at it.
        height = int(session.metadata.get("rec_height", params.height))
        self.params = params if height == params.height else dataclasses.replace(params, height=height)
        self.charset = charset_from_metadata(session.metadata)

    def recognise(self, crops: Sequence[np.ndarray]) -> list[RecResult]:
        """Recognise BGR line crops.

        Each crop is resized to the model height and zero-padded on the right to its width rounded up
        to ``width_bucket``; crops with the same padded width share batches. A crop's result therefore
        does not depend on which other crops (or images) it was batched with.
        """
        p = self.params
        widths = [target_width(c.shape[0], c.shape[1], p) for c in crops]
        padded = [max(p.min_width, -(-w // p.width_bucket) * p.width_bucket) for w in widths]
        order = sorted(range(len(crops)), key=lambda i: (padded[i], widths[i]))
        batches: list[list[int]] = []
        for i in order:
            if batches and padded[batches[-1][0]] == padded[i] and len(batches[-1]) < p.batch_size:
                batches[-1].append(i)
            else:
                batches.append([i])
        results: list[RecResult] = [EMPTY] * len(crops)
        for chunk in batches:
            pad_w = padded[chunk[0]]
            x = np.zeros((len(chunk), 3, p.height, pad_w), np.float32)
            for j, i in enumerate(chunk):
                line = cv2.resize(crops[i], (widths[i], p.height), interpolation=cv2.INTER_LINEAR)
                normalise_into(x[j], line, p.mean, p.std)
            probs = self.session.run({self.session.input_name: x})[0]
            per_step = pad_w / probs.shape[1]
            for j, i in enumerate(chunk):
                results[i] = ctc_decode(probs[j], self.charset, math.ceil(widths[i] / per_step))
        return results
